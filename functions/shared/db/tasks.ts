/**
 * Every SQL statement on the tasks table, one function each. Lowercase SQL, values only as
 * cast parameters, time passed in (never now() in SQL) so tests can move the clock.
 */
import type { Queryable } from './db';

export const TASK_STATES = ['queued', 'running', 'succeeded', 'failed', 'timed_out', 'canceled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const TERMINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'timed_out', 'canceled'];

/** A row of `tasks`, as the drivers return it. */
export type TaskRow = {
  id: string;
  /** insertion order (int8 as string) */
  seq: string;
  command: string;
  state: TaskState;
  timeout_seconds: number;
  exit_code: number | null;
  /** absent in list queries, which leave the output columns out */
  stdout?: string | null;
  stderr?: string | null;
  output_truncated: boolean;
  error: string | null;
  agent_id: string | null;
  lease_token: string | null;
  lease_expires_at: Date | null;
  cancel_requested: boolean;
  attempts: number;
  max_attempts: number;
  idempotency_key: string | null;
  request_hash: string | null;
  finish_hash: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};

/** The task resource of CONTRACT §3. */
export type Task = {
  id: string;
  command: string;
  state: TaskState;
  exitCode: number | null;
  stdout?: string;
  stderr?: string;
  outputTruncated: boolean;
  error: string | null;
  timeoutSeconds: number;
  agentId: string | null;
  cancelRequested: boolean;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
};

const iso = (d: Date | null): string | null => (d === null ? null : new Date(d).toISOString());

/** Maps a row to the API shape; list rows (no output columns) map without stdout/stderr. */
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

/** Inserts a queued task; returns null when the idempotency key is already taken. */
export async function insertTask(q: Queryable, t: NewTask): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `insert into tasks (id, command, timeout_seconds, max_attempts, idempotency_key, request_hash, created_at)
     values ($1::uuid, $2::text, $3::int, $4::int, $5::text, $6::text, $7::timestamptz)
     on conflict (idempotency_key) do nothing
     returning *`,
    [t.id, t.command, t.timeoutSeconds, t.maxAttempts, t.idempotencyKey, t.requestHash, t.now],
  );
  return rows[0] ?? null;
}

/** The task created with this Idempotency-Key, if any. */
export async function getTaskByIdempotencyKey(q: Queryable, key: string): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>('select * from tasks where idempotency_key = $1::text', [key]);
  return rows[0] ?? null;
}

/** One task by id, with its output. */
export async function getTask(q: Queryable, id: string): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>('select * from tasks where id = $1::uuid', [id]);
  return rows[0] ?? null;
}

const LIST_COLUMNS =
  'id, seq, command, state, timeout_seconds, exit_code, output_truncated, error, agent_id, lease_token, lease_expires_at, cancel_requested, attempts, max_attempts, idempotency_key, request_hash, finish_hash, created_at, started_at, finished_at';

export type ListQuery = {
  /** null: every state */
  states: readonly TaskState[] | null;
  /** keyset cursor: only rows with seq below it */
  beforeSeq: string | null;
  limit: number;
};

/**
 * Newest first, keyset-paginated on seq, output columns left out (they can be megabytes).
 * Fetches limit+1 rows so the caller knows whether there is a next page.
 */
export async function listTasks(q: Queryable, l: ListQuery): Promise<TaskRow[]> {
  return q.query<TaskRow>(
    `select ${LIST_COLUMNS} from tasks
     where ($1::text[] is null or state = any($1::text[]))
       and ($2::bigint is null or seq < $2::bigint)
     order by seq desc
     limit $3::int`,
    [l.states, l.beforeSeq, l.limit + 1],
  );
}

export type PickRequest = { agentId: string; leaseToken: string; leaseSeconds: number; now: Date };

/**
 * Claims the earliest-created queued task in one statement. `for update skip locked` lets
 * concurrent pickers pass over a row another picker holds instead of waiting on it, so each
 * task goes to exactly one agent; the partial index tasks_queued_seq_idx serves the scan.
 */
export async function pickNextTask(q: Queryable, p: PickRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `update tasks t
        set state = 'running',
            agent_id = $1::text,
            lease_token = $2::uuid,
            lease_expires_at = $4::timestamptz + make_interval(secs => $3::int),
            started_at = $4::timestamptz,
            attempts = t.attempts + 1
      where t.id = (
        select id from tasks
         where state = 'queued'
         order by seq
         limit 1
         for update skip locked)
      returning t.*`,
    [p.agentId, p.leaseToken, p.leaseSeconds, p.now],
  );
  return rows[0] ?? null;
}

export type FinishRequest = {
  id: string;
  agentId: string;
  /** null: the agent sent no X-Lease-Token, so only the agent id is checked */
  leaseToken: string | null;
  state: TaskState;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputTruncated: boolean;
  error: string | null;
  finishHash: string;
  now: Date;
};

/** Ends a running task held by this agent (and lease token, when given); null if it is not. */
export async function finishTask(q: Queryable, f: FinishRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `update tasks
        set state = $4::text,
            exit_code = $5::int,
            stdout = $6::text,
            stderr = $7::text,
            output_truncated = $8::boolean,
            error = $9::text,
            finish_hash = $10::text,
            finished_at = $11::timestamptz,
            lease_expires_at = null
      where id = $1::uuid
        and state = 'running'
        and agent_id = $2::text
        and ($3::uuid is null or lease_token = $3::uuid)
      returning *`,
    [f.id, f.agentId, f.leaseToken, f.state, f.exitCode, f.stdout, f.stderr, f.outputTruncated, f.error, f.finishHash, f.now],
  );
  return rows[0] ?? null;
}
