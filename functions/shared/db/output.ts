/**
 * The live-output statements (infra/migrations/0004_task_output.sql): chunks an agent sends
 * while its command runs, the counters on the task, and the reads of GET /tasks/{id}/output.
 * Same rules as db/tasks.ts: values as cast parameters, time passed in.
 */
import type { TaskState } from '../../../contract/task';
import type { Db, Queryable } from './db';
import { OUTPUT_CHANNEL } from './tasks';
export type OutputHolder = { id: string; agentId: string; leaseToken: string };

/**
 * Locks a running task held by this agent and lease token for an output send, and returns the
 * bytes it holds per stream; null when the task is not (or no longer) this attempt's. The lock
 * makes concurrent sends of one task (an agent's retry racing its first try) take turns, so
 * each sees the counters the other left.
 */
export async function lockTaskForOutput(q: Queryable, h: OutputHolder): Promise<{ stdout_bytes: string; stderr_bytes: string } | null> {
  const rows = await q.query<{ stdout_bytes: string; stderr_bytes: string }>(
    `select stdout_bytes, stderr_bytes from tasks
      where id = $1::uuid and state = 'running' and agent_id = $2::text and lease_token = $3::uuid
      for update`,
    [h.id, h.agentId, h.leaseToken],
  );
  return rows[0] ?? null;
}

export type OutputChunkRow = { stream: 'stdout' | 'stderr'; start_offset: string; data: string };

/** Inserts a send's new chunks (one statement for any number of them). */
export async function insertOutputChunks(q: Queryable, taskId: string, chunks: readonly OutputChunkRow[]): Promise<void> {
  if (chunks.length === 0) return;
  await q.query(
    `insert into task_output (task_id, stream, start_offset, data)
     select $1::uuid, c.stream, c.start_offset, c.data
       from unnest($2::text[], $3::bigint[], $4::text[]) as c(stream, start_offset, data)`,
    [taskId, chunks.map((c) => c.stream), chunks.map((c) => c.start_offset), chunks.map((c) => c.data)],
  );
}

/**
 * Deletes a stream's chunks that lie wholly between its head (chunks starting before `headEnd`)
 * and its rolling tail (chunks reaching past `tailStart`). The primary key's range on
 * start_offset serves it: it reads only the chunks it deletes, and the one straddling tailStart.
 */
export async function deleteOmittedOutput(q: Queryable, taskId: string, stream: string, headEnd: number, tailStart: number): Promise<void> {
  await q.query(
    `delete from task_output
      where task_id = $1::uuid and stream = $2::text
        and start_offset >= $3::bigint and start_offset < $4::bigint
        and start_offset + octet_length(data) <= $4::bigint`,
    [taskId, stream, headEnd, tailStart],
  );
}

export type OutputSent = {
  id: string;
  stdoutBytes: number;
  stderrBytes: number;
  leaseSeconds: number;
  now: Date;
  /** new output arrived: wake held readers */
  notify: boolean;
};

/** Records what a send left the server holding and extends the lease (a send counts as a heartbeat, for the agents table too). */
export async function recordOutputSent(q: Queryable, o: OutputSent): Promise<{ cancel_requested: boolean; lease_expires_at: Date }> {
  const rows = await q.query<{ cancel_requested: boolean; lease_expires_at: Date }>(
    `with sent as (
     update tasks
        set stdout_bytes = $2::bigint,
            stderr_bytes = $3::bigint,
            lease_expires_at = $4::timestamptz + make_interval(secs => $5::int)
      where id = $1::uuid
      returning agent_id, cancel_requested, lease_expires_at,
                case when $6::boolean then pg_notify('${OUTPUT_CHANNEL}', id::text) end is null as notified),
     seen as (
       update agents a set last_seen_at = greatest(a.last_seen_at, $4::timestamptz) from sent where a.id = sent.agent_id)
     select cancel_requested, lease_expires_at, notified from sent`,
    [o.id, o.stdoutBytes, o.stderrBytes, o.now, o.leaseSeconds, o.notify],
  );
  return rows[0] as { cancel_requested: boolean; lease_expires_at: Date };
}

/**
 * Marks a task as followed by a reader (once: a row already marked is not written again), so its
 * finish wakes held reads. Returns nothing; the reader looks again afterwards.
 */
export async function markOutputWatched(q: Queryable, taskId: string): Promise<void> {
  await q.query('update tasks set output_watched = true where id = $1::uuid and not output_watched', [taskId]);
}

/** A task's live output chunks, per stream in offset order (GET /tasks/{id} of a running task). */
export async function selectOutputChunks(q: Queryable, taskId: string): Promise<OutputChunkRow[]> {
  return q.query<OutputChunkRow>(
    `select stream, start_offset, data from task_output where task_id = $1::uuid order by stream, start_offset`,
    [taskId],
  );
}

/** What a read of one stream sees, in one snapshot: the task's state, its counters, the final text or the chunks. */
export type OutputReadRow = {
  state: TaskState;
  /** bytes held live (int8 as string) */
  held: string;
  /** the final stored text once a finish brought one; null while running (and for a task that ended without a finish) */
  final: string | null;
  output_truncated: boolean;
  output_watched: boolean;
  /** one chunk per row (null when there is none), from the one holding `offset` onwards */
  start_offset: string | null;
  data: string | null;
};

/**
 * Reads a stream for GET /tasks/{id}/output: the task's state and, in the same snapshot, either
 * its final text or the chunks from the one that holds `fromOffset` on (the primary key serves
 * both the max() probe and the range). No rows: no such task.
 */
export async function selectOutputForRead(
  q: Queryable,
  taskId: string,
  stream: 'stdout' | 'stderr',
  fromOffset: number,
): Promise<OutputReadRow[]> {
  return q.query<OutputReadRow>(
    `select t.state,
            case when $2::text = 'stdout' then t.stdout_bytes else t.stderr_bytes end as held,
            case when $2::text = 'stdout' then t.stdout else t.stderr end as final,
            t.output_truncated, t.output_watched,
            c.start_offset, c.data
       from tasks t
       left join lateral (
         select o.start_offset, o.data from task_output o
          where o.task_id = t.id and o.stream = $2::text
            and (case when $2::text = 'stdout' then t.stdout else t.stderr end) is null
            and o.start_offset >= coalesce((select max(p.start_offset) from task_output p
                                             where p.task_id = t.id and p.stream = $2::text and p.start_offset <= $3::bigint), 0)
          order by o.start_offset) c on true
      where t.id = $1::uuid
      order by c.start_offset`,
    [taskId, stream, fromOffset],
  );
}

/**
 * Vacuums task_output, so the space of deleted chunks is reused instead of growing the files.
 * PGlite runs no autovacuum at all (measured: 64 MB streamed through a task grew its data
 * directory by 129 MB; vacuumed every 3 MB, by nothing); on PostgreSQL autovacuum does it when
 * it runs, and this covers a server where it is off. skip_locked: a vacuum another server is
 * running is not waited for.
 */
export async function vacuumTaskOutput(db: Db): Promise<void> {
  await db.exec('vacuum (skip_locked) task_output');
}
