/**
 * Every SQL statement on the tasks table, one function each, named after what the statement
 * does. Lowercase SQL, values only as cast parameters, time passed in (never now() in SQL) so
 * tests can move the clock. Driver errors are translated by the Db (see db/errors.ts).
 */
import { LIST_COMMAND_MAX_CHARS } from '../../../contract/http';
import type { Task, TaskState } from '../../../contract/task';
import type { Db, Queryable } from './db';

/** A row of `tasks`, as the drivers return it (infra/migrations/0001_create_tasks.sql). */
export type TaskRow = {
  /** assigned by the server (crypto.randomUUID) */
  id: string;
  /** insertion order (int8 as string): pick and list walk it, and it breaks created_at ties */
  seq: string;
  /** the shell command, run with /bin/sh -c (list queries: its first LIST_COMMAND_MAX_CHARS characters) */
  command: string;
  /** list queries only: the command is longer than what they return */
  command_truncated?: boolean;
  state: TaskState;
  /** how long the agent lets the command run */
  timeout_seconds: number;
  /** the command's exit code; null until finished, or when it never exited normally */
  exit_code: number | null;
  /** captured output, capped head-and-tail per stream; absent in list queries */
  stdout?: string | null;
  stderr?: string | null;
  /** some output was cut (by the agent or by the server's cap) */
  output_truncated: boolean;
  /** bytes of live output the server holds per stream (int8 as string; 0 when none was sent) */
  stdout_bytes: string;
  stderr_bytes: string;
  /** a reader held a read of its output: its finish wakes readers */
  output_watched: boolean;
  /** why a task ended without a normal exit */
  error: string | null;
  /** the agent that picked it (X-Agent-Id) */
  agent_id: string | null;
  /** a fresh token per pick; heartbeat, output and finish must carry it */
  lease_token: string | null;
  /** when the running task is considered lost unless heartbeated */
  lease_expires_at: Date | null;
  /** the latest moment a running task may still run (timeout + grace, or the cancel deadline) */
  deadline_at: Date | null;
  /** a user asked to cancel while it ran */
  cancel_requested: boolean;
  /** how many times it was picked */
  attempts: number;
  /** how many attempts a lost agent may cost before the task fails */
  max_attempts: number;
  /** Idempotency-Key of the create request, and a hash of its body */
  idempotency_key: string | null;
  request_hash: string | null;
  /** a hash of the finish body that ended it, so a retried identical finish is recognised */
  finish_hash: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};

const iso = (d: Date | null): string | null => (d === null ? null : new Date(d).toISOString());

/** Maps a row to the task resource; list rows (no output columns) map without stdout/stderr. */
export function toTask(row: TaskRow): Task {
  const task: Task = {
    id: row.id,
    command: row.command,
    state: row.state,
    exitCode: row.exit_code,
    outputTruncated: row.output_truncated,
    error: row.error,
    timeoutSeconds: row.timeout_seconds,
    agentId: row.agent_id,
    cancelRequested: row.cancel_requested,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    createdAt: iso(row.created_at) as string,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
  if (row.command_truncated) task.commandTruncated = true;
  if (row.stdout !== undefined) {
    task.stdout = row.stdout ?? '';
    task.stderr = row.stderr ?? '';
  }
  return task;
}

export type NewTask = {
  id: string;
  command: string;
  timeoutSeconds: number;
  maxAttempts: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  now: Date;
};

/** The channel a NOTIFY is sent on whenever a task becomes queued (long-poll pick listens). */
export const QUEUED_CHANNEL = 'task_queued';
/** The channel a NOTIFY (payload: the task id) is sent on when a task has new output or ends (held output reads listen). */
export const OUTPUT_CHANNEL = 'task_output';

/**
 * Inserts a queued task and, in the same statement, notifies QUEUED_CHANNEL (delivered on
 * commit) so a held pick wakes at once; returns null when the idempotency key is taken.
 */
export async function insertTask(q: Queryable, t: NewTask): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with inserted as (
       insert into tasks (id, command, timeout_seconds, max_attempts, idempotency_key, request_hash, created_at)
       values ($1::uuid, $2::text, $3::int, $4::int, $5::text, $6::text, $7::timestamptz)
       on conflict (idempotency_key) do nothing
       returning *)
     select inserted.*, pg_notify('${QUEUED_CHANNEL}', '') is null as notified from inserted`,
    [t.id, t.command, t.timeoutSeconds, t.maxAttempts, t.idempotencyKey, t.requestHash, t.now],
    'te_insert_task',
  );
  return rows[0] ?? null;
}

export type Backlog = {
  /** finished tasks first (state succeeded, exit code 0, one line of stdout, held by one of ten agents) */
  succeeded: number;
  /** then queued tasks */
  queued: number;
  /** the first task's created_at; each next one a millisecond later */
  from: Date;
};

/**
 * Loads a backlog in one statement, for load tests (`npm run bench` builds its 1M-task table
 * with it): tasks that look as the API leaves them, oldest first. Not used by the API. It sends
 * no NOTIFY: nobody is picking while a backlog is loaded.
 */
export async function insertTaskBacklog(q: Queryable, b: Backlog): Promise<void> {
  await q.query(
    `insert into tasks (id, command, state, timeout_seconds, exit_code, stdout, stderr, output_truncated, error, agent_id,
                        attempts, max_attempts, finish_hash, created_at, started_at, finished_at)
     select gen_random_uuid(),
            'echo backlog ' || i,
            case when i <= $1::int then 'succeeded' else 'queued' end,
            3600,
            case when i <= $1::int then 0 end,
            case when i <= $1::int then 'backlog ' || i || chr(10) end,
            case when i <= $1::int then '' end,
            false,
            null,
            case when i <= $1::int then 'bench-backlog-' || (i % 10) end,
            case when i <= $1::int then 1 else 0 end,
            1,
            case when i <= $1::int then md5(i::text) end,
            $3::timestamptz + make_interval(secs => i / 1000.0),
            case when i <= $1::int then $3::timestamptz + make_interval(secs => i / 1000.0 + 0.002) end,
            case when i <= $1::int then $3::timestamptz + make_interval(secs => i / 1000.0 + 0.004) end
       from generate_series(1, $1::int + $2::int) as i`,
    [b.succeeded, b.queued, b.from],
  );
}

/** The task created with this Idempotency-Key, if any. */
export async function selectTaskByIdempotencyKey(q: Queryable, key: string): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>('select * from tasks where idempotency_key = $1::text', [key]);
  return rows[0] ?? null;
}

/** One task by id, with its output. */
export async function selectTask(q: Queryable, id: string): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>('select * from tasks where id = $1::uuid', [id], 'te_get_task');
  return rows[0] ?? null;
}

// $4: commands are cut here, so a page never reads 1,000 commands of 64 KiB from the database.
const LIST_COLUMNS =
  'id, seq, left(command, $4::int) as command, char_length(command) > $4::int as command_truncated, state, timeout_seconds, exit_code, output_truncated, stdout_bytes, stderr_bytes, output_watched, error, agent_id, lease_token, lease_expires_at, deadline_at, cancel_requested, attempts, max_attempts, idempotency_key, request_hash, finish_hash, created_at, started_at, finished_at';

export type ListQuery = {
  /** null: every state */
  states: readonly TaskState[] | null;
  /** keyset cursor: only rows with seq below it */
  beforeSeq: string | null;
  limit: number;
  /** commands longer than this many characters come cut, with command_truncated (default LIST_COMMAND_MAX_CHARS) */
  commandMaxChars?: number;
};

/**
 * Newest first, keyset-paginated on seq, output columns left out (they can be megabytes).
 * Fetches limit+1 rows so the caller knows whether there is a next page.
 */
export async function selectTaskPage(q: Queryable, l: ListQuery): Promise<TaskRow[]> {
  return q.query<TaskRow>(
    `select ${LIST_COLUMNS} from tasks
     where ($1::text[] is null or state = any($1::text[]))
       and ($2::bigint is null or seq < $2::bigint)
     order by seq desc
     limit $3::int`,
    [l.states, l.beforeSeq, l.limit + 1, l.commandMaxChars ?? LIST_COMMAND_MAX_CHARS],
  );
}

/**
 * How many tasks are in each state, each count stopping at `limit`: the inner `limit` turns
 * every count into a walk of at most that many entries of tasks_state_seq_idx, so the
 * dashboard's overview costs the same on a table of a thousand tasks or of millions.
 */
export async function countTasksByState(
  q: Queryable,
  states: readonly TaskState[],
  limit: number,
): Promise<{ state: TaskState; n: number }[]> {
  return q.query<{ state: TaskState; n: number }>(
    `select s.state, (select count(*) from (select 1 from tasks t where t.state = s.state limit $2::int) c)::int as n
     from unnest($1::text[]) as s(state)`,
    [states, limit],
    'te_count_tasks_by_state',
  );
}

/** When the oldest queued task was created (the head of tasks_queued_seq_idx), or null. */
export async function selectOldestQueuedAt(q: Queryable): Promise<Date | null> {
  const rows = await q.query<{ created_at: Date }>(
    `select created_at from tasks where state = 'queued' order by seq limit 1`,
    [],
    'te_oldest_queued',
  );
  return rows[0]?.created_at ?? null;
}

export type PickRequest = {
  agentId: string;
  leaseToken: string;
  leaseSeconds: number;
  /** added to the task's timeout to give the server-side deadline */
  deadlineGraceSeconds: number;
  now: Date;
};

/**
 * Claims the earliest-created queued task in one statement. `for update skip locked` lets
 * concurrent pickers pass over a row another picker holds instead of waiting on it, so each
 * task goes to exactly one agent; the partial index tasks_queued_seq_idx serves the scan.
 */
export async function claimNextQueuedTask(q: Queryable, p: PickRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `update tasks t
        set state = 'running',
            agent_id = $1::text,
            lease_token = $2::uuid,
            lease_expires_at = $4::timestamptz + make_interval(secs => $3::int),
            deadline_at = $4::timestamptz + make_interval(secs => t.timeout_seconds + $5::int),
            started_at = $4::timestamptz,
            attempts = t.attempts + 1
      where t.id = (
        select id from tasks
         where state = 'queued'
         order by seq
         limit 1
         for update skip locked)
      returning t.*`,
    [p.agentId, p.leaseToken, p.leaseSeconds, p.now, p.deadlineGraceSeconds],
    'te_pick_next_task',
  );
  return rows[0] ?? null;
}

export type FinishRequest = {
  id: string;
  agentId: string;
  /** X-Lease-Token: the task's current lease token, or the finish ends nothing */
  leaseToken: string;
  state: TaskState;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputTruncated: boolean;
  error: string | null;
  finishHash: string;
  now: Date;
};

const FINISH_SET = `set state = case when cancel_requested then 'canceled' else $4::text end,
            exit_code = $5::int,
            stdout = $6::text,
            stderr = $7::text,
            output_truncated = $8::boolean,
            error = case when cancel_requested and $4::text <> 'canceled'
                         then 'canceled by user (the command had already ended: ' || $4::text || ')'
                         else $9::text end,
            finish_hash = $10::text,
            finished_at = $11::timestamptz,
            lease_expires_at = null,
            deadline_at = null
      where id = $1::uuid
        and state = 'running'
        and agent_id = $2::text
        and lease_token = $3::uuid`;

const finishParams = (f: FinishRequest) => [
  f.id,
  f.agentId,
  f.leaseToken,
  f.state,
  f.exitCode,
  f.stdout,
  f.stderr,
  f.outputTruncated,
  f.error,
  f.finishHash,
  f.now,
];

/**
 * Ends a running task held by this agent and lease token that has no live output and no reader
 * following it (most tasks: the statement is what a finish always was); null if it is not such a
 * task, and then endRunningTaskWithOutput does it. A cancel requested while it ran wins: the task
 * ends `canceled` (docs/api.md, cancel), its exit code and output kept as the agent reported them.
 * A send or a reader's mark racing it takes the row lock first and makes this match nothing.
 */
export async function endRunningTask(q: Queryable, f: FinishRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `update tasks
        ${FINISH_SET}
        and stdout_bytes = 0 and stderr_bytes = 0 and not output_watched
      returning *`,
    finishParams(f),
    'te_finish_task',
  );
  return rows[0] ?? null;
}

/**
 * Ends a running task, as endRunningTask, that has live output or a reader: in the same statement
 * its chunks are deleted (the final output replaces them) and held output reads are woken. Kept
 * apart because the NOTIFY serialises committing transactions on a lock of its own: on every
 * finish it cost a third of the claim+finish rate (1,800 against 2,800 a second), and the
 * data-modifying CTE another 8-10 %.
 */
export async function endRunningTaskWithOutput(q: Queryable, f: FinishRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with ended as (
     update tasks
        ${FINISH_SET}
      returning *),
     dropped as (
       delete from task_output o using ended e
        where o.task_id = e.id and (e.stdout_bytes > 0 or e.stderr_bytes > 0))
     select ended.*, pg_notify('${OUTPUT_CHANNEL}', ended.id::text) is null as notified from ended`,
    finishParams(f),
    'te_finish_task_with_output',
  );
  return rows[0] ?? null;
}

export type HeartbeatRequest = { id: string; agentId: string; leaseToken: string; leaseSeconds: number; now: Date };

/** Extends this agent's lease on a running task; null when the task is not (or no longer) its. */
export async function extendTaskLease(q: Queryable, h: HeartbeatRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `update tasks
        set lease_expires_at = $4::timestamptz + make_interval(secs => $5::int)
      where id = $1::uuid
        and state = 'running'
        and agent_id = $2::text
        and lease_token = $3::uuid
      returning *`,
    [h.id, h.agentId, h.leaseToken, h.now, h.leaseSeconds],
    'te_heartbeat_task',
  );
  return rows[0] ?? null;
}

export type CancelRequest = { id: string; now: Date; cancelGraceSeconds: number };

/**
 * Cancels a task: a queued one ends `canceled` at once (held output reads of it are woken); a
 * running one is flagged for its agent (which learns it from its next heartbeat) and its deadline
 * pulled in to now + grace, after which the reaper ends it even if the agent stays silent. Null
 * when it had already ended.
 */
export async function cancelOrFlagTask(q: Queryable, c: CancelRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with changed as (
     update tasks
        set state = case when state = 'queued' then 'canceled' else state end,
            error = case when state = 'queued' then 'canceled by user' else error end,
            finished_at = case when state = 'queued' then $2::timestamptz else finished_at end,
            cancel_requested = true,
            deadline_at = case when state = 'running'
                               then least(deadline_at, $2::timestamptz + make_interval(secs => $3::int))
                               else deadline_at end
      where id = $1::uuid and state in ('queued', 'running')
      returning *)
     select changed.*, case when changed.state = 'canceled' then pg_notify('${OUTPUT_CHANNEL}', changed.id::text) end is null as notified
       from changed`,
    [c.id, c.now, c.cancelGraceSeconds],
  );
  return rows[0] ?? null;
}

/**
 * Ends every running task past its lease or deadline, in one statement: a requested cancel
 * ends `canceled`; a passed timeout deadline `timed_out`; a lost agent `failed`, or `queued`
 * again while attempts remain (max_attempts > 1 only: shell commands are not idempotent).
 * Re-queued tasks keep their seq, so they are picked before newer ones, and are notified; their
 * live output is dropped (the next attempt streams from offset 0 again). An ended task keeps the
 * live output its agent sent (no finish brought a final one) and its held readers are woken.
 */
export async function endExpiredTasks(q: Queryable, now: Date, limit = 1000): Promise<TaskRow[]> {
  return q.query<TaskRow>(
    `with expired as (
       select id,
              case when cancel_requested then 'canceled'
                   when deadline_at < $1::timestamptz then 'timed_out'
                   when attempts < max_attempts then 'queued'
                   else 'failed' end as next_state
         from tasks
        where state = 'running' and (lease_expires_at < $1::timestamptz or deadline_at < $1::timestamptz)
        order by seq
        limit $2::int
        for update skip locked),
     ended as (
       update tasks t
          set state = e.next_state,
              error = case e.next_state
                when 'canceled' then 'canceled by user'
                when 'timed_out' then 'timed out after ' || t.timeout_seconds || 's (the agent did not report in time)'
                when 'queued' then 'agent lost: lease expired; queued again (attempt ' || t.attempts || ' of ' || t.max_attempts || ' failed)'
                else 'agent lost: lease expired' end,
              finished_at = case when e.next_state = 'queued' then null else $1::timestamptz end,
              agent_id = case when e.next_state = 'queued' then null else t.agent_id end,
              started_at = case when e.next_state = 'queued' then null else t.started_at end,
              stdout_bytes = case when e.next_state = 'queued' then 0 else t.stdout_bytes end,
              stderr_bytes = case when e.next_state = 'queued' then 0 else t.stderr_bytes end,
              lease_token = null,
              lease_expires_at = null,
              deadline_at = null
         from expired e
        where t.id = e.id
        returning t.*),
     dropped as (
       delete from task_output o using ended
        where o.task_id = ended.id and ended.state = 'queued')
     select ended.*,
            case when ended.state = 'queued' then pg_notify('${QUEUED_CHANNEL}', '')
                 else pg_notify('${OUTPUT_CHANNEL}', ended.id::text) end is null as notified
       from ended`,
    [now, limit],
  );
}

/** Records a lease-expiry run at `now`; returns when the previous one was (null: never). */
export async function recordReaperRun(q: Queryable, now: Date): Promise<Date | null> {
  const rows = await q.query<{ previous: Date | null }>(
    `with prev as (select last_run_at from reaper_runs where id = 1)
     insert into reaper_runs (id, last_run_at) values (1, $1::timestamptz)
     on conflict (id) do update set last_run_at = greatest(reaper_runs.last_run_at, excluded.last_run_at)
     returning (select last_run_at from prev) as previous`,
    [now],
  );
  return rows[0]?.previous ?? null;
}

/** Gives every running task a lease of `leaseSeconds` from now, at least; returns how many. */
export async function extendRunningLeases(q: Queryable, now: Date, leaseSeconds: number): Promise<number> {
  const rows = await q.query(
    `update tasks
        set lease_expires_at = greatest(lease_expires_at, $1::timestamptz + make_interval(secs => $2::int))
      where state = 'running'
      returning id`,
    [now, leaseSeconds],
  );
  return rows.length;
}

// ---- live output (infra/migrations/0004_task_output.sql) ----------------------------------

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

/** Records what a send left the server holding and extends the lease (a send counts as a heartbeat). */
export async function recordOutputSent(q: Queryable, o: OutputSent): Promise<{ cancel_requested: boolean; lease_expires_at: Date }> {
  const rows = await q.query<{ cancel_requested: boolean; lease_expires_at: Date }>(
    `update tasks
        set stdout_bytes = $2::bigint,
            stderr_bytes = $3::bigint,
            lease_expires_at = $4::timestamptz + make_interval(secs => $5::int)
      where id = $1::uuid
      returning cancel_requested, lease_expires_at,
                case when $6::boolean then pg_notify('${OUTPUT_CHANNEL}', id::text) end is null as notified`,
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
