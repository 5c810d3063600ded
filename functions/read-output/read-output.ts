import { MAX_OUTPUT_WAIT_SECONDS, OUTPUT_READ_MAX_BYTES } from '../../contract/http';
import { isTerminal, STREAMS, type StreamName, type TaskState } from '../../contract/task';
import { markOutputWatched, type OutputReadRow, selectOutputForRead } from '../shared/db/output';
import type { Deps } from '../shared/deps';
import { NotFoundError, ValidationError } from '../shared/errors';
import { type Event, queryParams, rejectUnknownParams, singleParam } from '../shared/http';
import { readChunks, readFinal } from '../shared/live-output';
import type { Log } from '../shared/logger';

export type ReadRequest = { stream: StreamName; offset: number; waitSeconds: number };

/** Validates GET /tasks/{id}/output's query: stream, offset and wait, each at most once. */
export function parseReadOutputRequest(event: Event): ReadRequest {
  const params = queryParams(event);
  rejectUnknownParams(params, ['stream', 'offset', 'wait']);
  const stream = singleParam(params, 'stream') ?? 'stdout';
  if (!(STREAMS as readonly string[]).includes(stream)) {
    throw new ValidationError(`stream must be ${STREAMS.join(' or ')} (got ${JSON.stringify(stream.slice(0, 30))}).`);
  }
  const offset = singleParam(params, 'offset') ?? '0';
  // Digits only: no sign, exponent, fraction or spaces; at most 2^53 - 1 so it stays exact.
  if (!/^\d{1,16}$/.test(offset) || !Number.isSafeInteger(Number(offset))) {
    throw new ValidationError(
      `offset must be a whole number of bytes, 0 or more: pass back X-Next-Offset (got ${JSON.stringify(offset.slice(0, 30))}).`,
    );
  }
  const wait = singleParam(params, 'wait') ?? '0';
  if (!/^\d{1,2}(\.\d{1,3})?$/.test(wait) || Number(wait) > MAX_OUTPUT_WAIT_SECONDS) {
    throw new ValidationError(
      `wait must be a number of seconds from 0 to ${MAX_OUTPUT_WAIT_SECONDS} (got ${JSON.stringify(wait.slice(0, 30))}).`,
    );
  }
  return { stream: stream as StreamName, offset: Number(offset), waitSeconds: Number(wait) };
}

export type OutputRead = {
  body: string;
  /** the offset to pass back to read on */
  nextOffset: number;
  state: TaskState;
  /** the task has ended and the body reaches the end of the stream */
  complete: boolean;
};

/** One look at the stream: what is there from `offset` now. */
function look(rows: OutputReadRow[], offset: number, limit: number): OutputRead {
  const first = rows[0] as OutputReadRow;
  const held = Number(first.held);
  const ended = isTerminal(first.state);
  if (first.final !== null) {
    const read = readFinal(first.final, held, offset, OUTPUT_READ_MAX_BYTES, limit);
    return { body: read.body, nextOffset: read.next, state: first.state, complete: ended && read.next >= read.end };
  }
  const chunks = rows.filter(
    (r): r is OutputReadRow & { start_offset: string; data: string } => r.start_offset !== null && r.data !== null,
  );
  const read = readChunks(chunks, offset, OUTPUT_READ_MAX_BYTES);
  return { body: read.body, nextOffset: read.next, state: first.state, complete: ended && read.next >= held };
}

type ReadDeps = Pick<Deps, 'db' | 'config' | 'outputSignal'> & { log: Log };

/**
 * Reads a stream from `offset`. With a wait, and nothing new on a task that has not ended, holds
 * until the output signal says the task has new output or ended, or the wait is over: each
 * wake-up costs one read, and only this task's notifications wake it.
 */
export async function readOutput(
  deps: ReadDeps,
  id: string,
  request: ReadRequest,
  waitMs: number,
  clientGone?: AbortSignal,
): Promise<OutputRead> {
  deps.log.appendKeys({ taskId: id });
  const deadline = performance.now() + waitMs;
  // Watching before the first look: a notification between the look and the wait is kept.
  const watch = waitMs > 0 ? deps.outputSignal.watch(id) : null;
  try {
    for (;;) {
      const rows = await selectOutputForRead(deps.db, id, request.stream, request.offset);
      if (rows.length === 0) throw new NotFoundError(`There is no task with id ${id}.`);
      const read = look(rows, request.offset, deps.config.outputLimitBytes);
      const left = deadline - performance.now();
      if (watch === null || read.body !== '' || isTerminal(read.state) || left <= 0 || clientGone?.aborted) return read;
      if (!(rows[0] as OutputReadRow).output_watched) {
        // The task's finish NOTIFYs only once it is marked: mark it, then look again, so a finish
        // that came between the look and the mark is seen by the next look.
        await markOutputWatched(deps.db, id);
        continue;
      }
      // false: the wait is over, the reader hung up, or the server is shutting down
      if (!(await watch.wait(left, clientGone))) return read;
    }
  } finally {
    watch?.end();
  }
}
