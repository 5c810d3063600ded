import { OUTPUT_BODY_LIMIT } from '../../contract/http';
import { type OutputAck, type OutputChunk, type OutputSend, STREAMS, type StreamName } from '../../contract/task';
import { leaseTokenOf, MISSING_LEASE_TOKEN } from '../shared/auth';
import { deleteOmittedOutput, insertOutputChunks, lockTaskForOutput, recordOutputSent, vacuumTaskOutput } from '../shared/db/output';
import { selectTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors';
import { type Event, isUuid, parseJsonObject, rejectQuery, rejectUnknownFields } from '../shared/http';
import { type ChunkRow, planAppend, storageLayout, toChunkRows } from '../shared/live-output';
import type { Log } from '../shared/logger';

export type SendInput = { send: OutputSend; leaseToken: string | null };

/** Validates a POST /tasks/{id}/output request. */
export function parseSendOutputRequest(event: Event): SendInput {
  rejectQuery(event);
  const body = parseJsonObject(event, OUTPUT_BODY_LIMIT);
  rejectUnknownFields(body, [...STREAMS]);
  const send: OutputSend = {};
  for (const stream of STREAMS) {
    if (!(stream in body)) continue;
    send[stream] = parseChunk(stream, body[stream]);
  }
  return { send, leaseToken: leaseTokenOf(event) };
}

function parseChunk(stream: StreamName, value: unknown): OutputChunk {
  const shape = `{"offset": <bytes of ${stream} before this text>, "data": "<the text>"}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`The field "${stream}" must be an object ${shape}.`);
  }
  const chunk = value as Record<string, unknown>;
  const unknown = Object.keys(chunk).filter((k) => k !== 'offset' && k !== 'data');
  if (unknown.length > 0) {
    throw new ValidationError(
      `Unknown field ${unknown.map((k) => JSON.stringify(`${stream}.${k.slice(0, 50)}`)).join(', ')}; "${stream}" takes offset and data.`,
    );
  }
  const { offset, data } = chunk;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new ValidationError(`The field "${stream}.offset" must be a whole number of bytes, 0 or more.`);
  }
  if (typeof data !== 'string') throw new ValidationError(`The field "${stream}.data" must be a string.`);
  // Offsets count the stored text, where NUL is U+FFFD (3 bytes): the agent replaces it, so a
  // NUL here would make the server's count and the agent's disagree.
  if (data.includes('\u0000')) {
    throw new ValidationError(`The field "${stream}.data" holds a NUL character; send the stored text (NUL replaced by U+FFFD).`);
  }
  return { offset, data };
}

type SendDeps = Pick<Deps, 'db' | 'now' | 'lease' | 'config'> & { log: Log };

/**
 * Bytes of chunks dropped from the rolling tail after which task_output is vacuumed: 8 MiB on
 * PGlite (which never vacuums by itself), 64 MiB on PostgreSQL (where autovacuum usually has).
 */
const VACUUM_AFTER_BYTES = { embedded: 8 * 1048576, postgres: 64 * 1048576 };
const droppedSinceVacuum = new WeakMap<object, number>();

/**
 * Appends what is new in a send to the task's live output, keeps each stream's storage to its
 * head and rolling tail, extends the lease and wakes held readers; answers how many bytes of
 * each stream the server holds (the agent continues from there). One short transaction.
 */
/** Vacuums task_output once enough chunks were dropped since the last time (a failure is only logged). */
async function vacuumNowAndThen(deps: SendDeps, dropped: number): Promise<void> {
  if (dropped <= 0) return;
  const total = (droppedSinceVacuum.get(deps.db) ?? 0) + dropped;
  if (total < VACUUM_AFTER_BYTES[deps.db.kind]) {
    droppedSinceVacuum.set(deps.db, total);
    return;
  }
  droppedSinceVacuum.set(deps.db, 0);
  await vacuumTaskOutput(deps.db).catch((error) => deps.log.info('vacuum of task_output failed', { error: (error as Error).message }));
}

export async function sendOutput(deps: SendDeps, id: string, agentId: string, input: SendInput): Promise<OutputAck> {
  deps.log.appendKeys({ taskId: id });
  const { leaseToken, send } = input;
  // A missing or malformed token cannot be the task's current one: it can only conflict.
  const ack =
    leaseToken !== null && isUuid(leaseToken)
      ? await deps.db.tx(async (q) => {
          const held = await lockTaskForOutput(q, { id, agentId, leaseToken });
          if (held === null) return null;
          const { headEnd, tailKeep } = storageLayout(deps.config.outputLimitBytes);
          const counts: Record<StreamName, number> = { stdout: Number(held.stdout_bytes), stderr: Number(held.stderr_bytes) };
          const rows: ChunkRow[] = [];
          const grown: StreamName[] = [];
          let dropped = 0;
          for (const stream of STREAMS) {
            const chunk = send[stream];
            const piece = chunk === undefined ? null : planAppend(counts[stream], chunk, headEnd);
            if (piece === null) continue;
            rows.push(...toChunkRows(stream, piece, headEnd));
            // Past the limit, every byte appended pushes as much out of the rolling tail.
            if (piece.end - tailKeep > headEnd) dropped += piece.end - Math.max(piece.start, headEnd + tailKeep);
            counts[stream] = piece.end;
            grown.push(stream);
          }
          await insertOutputChunks(q, id, rows);
          for (const stream of grown) {
            const tailStart = counts[stream] - tailKeep;
            if (tailStart > headEnd) await deleteOmittedOutput(q, id, stream, headEnd, tailStart);
          }
          const row = await recordOutputSent(q, {
            id,
            stdoutBytes: counts.stdout,
            stderrBytes: counts.stderr,
            leaseSeconds: deps.lease.leaseSeconds,
            now: deps.now(),
            notify: rows.length > 0,
          });
          const answer: OutputAck = {
            ...counts,
            cancelRequested: row.cancel_requested,
            leaseExpiresAt: new Date(row.lease_expires_at).toISOString(),
          };
          return { answer, dropped };
        })
      : null;
  if (ack !== null) {
    deps.log.debug('output received', { agentId, stdout: ack.answer.stdout, stderr: ack.answer.stderr });
    await vacuumNowAndThen(deps, ack.dropped);
    return ack.answer;
  }
  const current = await selectTask(deps.db, id);
  if (current === null) throw new NotFoundError(`There is no task with id ${id}.`);
  deps.log.info('output refused', { agentId, state: current.state, holder: current.agent_id });
  if (current.state !== 'running') throw new ConflictError(`The task is ${current.state}; stop running it.`);
  if (current.agent_id !== agentId) throw new ConflictError('The task is held by another agent; stop running it.');
  if (leaseToken === null) throw new ConflictError(MISSING_LEASE_TOKEN);
  throw new ConflictError("X-Lease-Token is not the task's current lease token; stop running it.");
}
