/**
 * Every SQL statement on the tasks table, one function each, named after what the statement
 * does. Lowercase SQL, values only as cast parameters, time passed in (never now() in SQL) so
 * tests can move the clock. Driver errors are translated by the Db (see db/errors.ts).
 */
import { LIST_COMMAND_MAX_CHARS } from '../../../contract/http';
import type { Task, TaskState } from '../../../contract/task';
import type { Queryable } from './db';

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
  /** the schedule whose tick made it, and that tick (0007_schedules.sql); null otherwise */
  schedule_id?: string | null;
  scheduled_for?: Date | null;
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
  if (row.schedule_id) {
    task.scheduleId = row.schedule_id;
    task.scheduledFor = iso(row.scheduled_for ?? null);
  }
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
  'id, seq, left(command, $4::int) as command, char_length(command) > $4::int as command_truncated, state, timeout_seconds, exit_code, output_truncated, stdout_bytes, stderr_bytes, output_watched, error, agent_id, lease_token, lease_expires_at, deadline_at, cancel_requested, attempts, max_attempts, idempotency_key, request_hash, finish_hash, schedule_id, scheduled_for, created_at, started_at, finished_at';

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
