/**
 * Every SQL statement on the tasks table, one function each, named after what the statement
 * does. Lowercase SQL, values only as cast parameters, time passed in (never now() in SQL) so
 * tests can move the clock. Driver errors are translated by the Db (see db/errors.ts).
 */
import { LIST_COMMAND_MAX_CHARS } from '../../../contract/http';
import type { Task, TaskState, TaskUsage } from '../../../contract/task';
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
  /** higher is picked first (0005_routing.sql) */
  priority: number;
  /** sorted, deduplicated */
  labels: string[];
  /** the labels joined by ',': the label set pick looks up */
  label_key: string;
  /** when it may run: runAt, else created_at */
  run_at: Date;
  /** the schedule whose tick made it, and that tick (0007_schedules.sql); null otherwise */
  schedule_id?: string | null;
  scheduled_for?: Date | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  /** the command's process tree as its agent measured it (finish); null where it could not (0006_agents_usage.sql) */
  usage_cpu_user_seconds?: number | null;
  usage_cpu_system_seconds?: number | null;
  /** int8 as string (pg) or number */
  usage_max_rss_bytes?: string | number | null;
};

const iso = (d: Date | null): string | null => (d === null ? null : new Date(d).toISOString());

/**
 * Maps a row to the task resource; rows without output columns map without stdout/stderr. The
 * list, create and pick statements have the database write the same resource itself
 * (taskJsonSql below); test/list-json.test.ts holds their bytes to this function's,
 * command_truncated included.
 */
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
    priority: row.priority,
    labels: row.labels,
    runAt: iso(row.run_at) as string,
    createdAt: iso(row.created_at) as string,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
  if (row.command_truncated) task.commandTruncated = true;
  // List rows leave the usage columns out; a task's own answer always has `usage`.
  if (row.usage_cpu_user_seconds !== undefined) task.usage = toUsage(row);
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

/** The usage columns as the resource's `usage`: null unless the agent measured something. */
function toUsage(row: TaskRow): TaskUsage | null {
  const user = row.usage_cpu_user_seconds ?? null;
  const system = row.usage_cpu_system_seconds ?? null;
  const rss = row.usage_max_rss_bytes ?? null;
  if (user === null && system === null && rss === null) return null;
  return { cpuUserSeconds: user, cpuSystemSeconds: system, maxRssBytes: rss === null ? null : Number(rss) };
}

export type NewTask = {
  id: string;
  command: string;
  timeoutSeconds: number;
  maxAttempts: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  /** -1000..1000 */
  priority: number;
  /** canonical (contract/http.ts canonicalLabels) */
  labels: readonly string[];
  /** null: may run now; later than now: the task starts `scheduled` */
  runAt: Date | null;
  now: Date;
  /** false: no NOTIFY in the transaction, the caller announces the task once committed (default true) */
  notify?: boolean;
};

/**
 * A QUEUED_CHANNEL payload: how many tasks became queued and their label set's key, so a held
 * pick is woken only for tasks its agent may run (functions/shared/queue-signal.ts).
 */
export const queuedPayloadSql = (count: string, key: string) => `${count}::text || ' ' || ${key}`;

/** The channel a NOTIFY is sent on whenever a task becomes queued (long-poll pick listens). */
export const QUEUED_CHANNEL = 'task_queued';
/** The channel a NOTIFY (payload: the task id) is sent on when a task has new output or ends (held output reads listen). */
export const OUTPUT_CHANNEL = 'task_output';

/**
 * Inserts a task, queued (or `scheduled` when runAt is later than now), records its label set
 * in label_sets (a no-op for a set seen before) and, for a queued one, notifies QUEUED_CHANNEL
 * (delivered on commit) so a held pick wakes at once, unless `notify` is false (the caller
 * announces it after the commit: queue-signal.ts); returns null when the idempotency key is taken.
 */
export type InsertedTask = {
  id: string;
  state: TaskState;
  /** its label set's key (labels joined by ','): whom a queued one is announced to */
  label_key: string;
  /** the task resource (TASK_JSON) */
  json: string;
};

export async function insertTask(q: Queryable, t: NewTask): Promise<InsertedTask | null> {
  const scheduled = t.runAt instanceof Date && t.runAt.getTime() > t.now.getTime();
  const rows = await q.query<InsertedTask>(
    `with inserted as (
       insert into tasks (id, command, timeout_seconds, max_attempts, idempotency_key, request_hash, created_at,
                          priority, labels, label_key, run_at, state)
       values ($1::uuid, $2::text, $3::int, $4::int, $5::text, $6::text, $7::timestamptz,
               $8::int, $9::text[], array_to_string($9::text[], ','), $10::timestamptz, $11::text)
       on conflict (idempotency_key) do nothing
       returning *),
     label_set as (
       insert into label_sets (key, labels)
       select label_key, labels from inserted where label_key <> ''
       on conflict (key) do nothing)
     select inserted.id, inserted.state, inserted.label_key, ${TASK_JSON} as json,
            case when inserted.state = 'queued' and $12::boolean then pg_notify('${QUEUED_CHANNEL}', ${queuedPayloadSql("'1'", 'inserted.label_key')}) end is null as notified
       from inserted`,
    [
      t.id,
      t.command,
      t.timeoutSeconds,
      t.maxAttempts,
      t.idempotencyKey,
      t.requestHash,
      t.now,
      t.priority,
      t.labels,
      t.runAt ?? t.now,
      scheduled ? 'scheduled' : 'queued',
      t.notify ?? true,
    ],
    'te_insert_task',
  );
  return rows[0] ?? null;
}

/**
 * Sends these QUEUED_CHANNEL payloads, one NOTIFY each, in one statement (queue-signal.ts:
 * creates announced after their commit). Its transaction commits without waiting for the WAL
 * flush (synchronous_commit off for it alone): it stores nothing, and PostgreSQL holds its one
 * notify lock until that commit is done.
 */
export async function notifyQueued(q: Queryable, payloads: readonly string[]): Promise<void> {
  await q.query(
    `select set_config('synchronous_commit', 'off', true), pg_notify('${QUEUED_CHANNEL}', p) from unnest($1::text[]) as p`,
    [payloads],
    'te_notify_queued',
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

/** A JSON value as text, or JSON null: to_json escapes text as JSON.stringify does. */
const jsonOf = (expr: string) => `coalesce(to_json(${expr})::text, 'null')`;
/** A timestamptz as toISOString() writes it (UTC, milliseconds; times here are JavaScript Dates), without quotes. */
const isoText = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
/** The same as a JSON string, or JSON null. */
const isoOf = (column: string) => `coalesce('"' || ${isoText(column)} || '"', 'null')`;

/**
 * The task resource as JSON text, built by the database: the same bytes as
 * JSON.stringify(toTask(row)) (test/list-json.test.ts holds them to it), so that an answer costs
 * the server no parsing of the row's 36 columns, no Date per timestamp and no toTask
 * (docs/performance.md).
 * - `list`: a list row, without output and usage; commands are cut at $4 characters, so a page
 *   never reads 1,000 commands of 64 KiB from the database.
 * - `full`: a task's own answer, output and usage included. The usage floats are written by
 *   PostgreSQL, which may spell a number otherwise than JavaScript (`5e-05` for `0.00005`): the
 *   same JSON value, other bytes. Only an ended task has usage, and only the answers of new and
 *   just-claimed tasks (create, pick) use this shape.
 */
function taskJsonSql(shape: 'list' | 'full'): string {
  const command = shape === 'list' ? 'left(command, $4::int)' : 'command';
  const tail =
    shape === 'list'
      ? `|| case when char_length(command) > $4::int then ',"commandTruncated":true' else '' end`
      : `|| ',"usage":' || case when usage_cpu_user_seconds is null and usage_cpu_system_seconds is null and usage_max_rss_bytes is null
                               then 'null'
                               else '{"cpuUserSeconds":' || ${jsonOf('usage_cpu_user_seconds')}
                                 || ',"cpuSystemSeconds":' || ${jsonOf('usage_cpu_system_seconds')}
                                 || ',"maxRssBytes":' || coalesce(usage_max_rss_bytes::text, 'null') || '}' end`;
  const output =
    shape === 'list' ? '' : `|| ',"stdout":' || to_json(coalesce(stdout, ''))::text || ',"stderr":' || to_json(coalesce(stderr, ''))::text`;
  return `'{"id":' || to_json(id)::text
  || ',"command":' || to_json(${command})::text
  || ',"state":' || to_json(state)::text
  || ',"exitCode":' || coalesce(exit_code::text, 'null')
  || ',"outputTruncated":' || output_truncated::text
  || ',"error":' || ${jsonOf('error')}
  || ',"timeoutSeconds":' || timeout_seconds::text
  || ',"agentId":' || ${jsonOf('agent_id')}
  || ',"cancelRequested":' || cancel_requested::text
  || ',"attempts":' || attempts::text
  || ',"maxAttempts":' || max_attempts::text
  || ',"priority":' || priority::text
  || ',"labels":' || to_json(labels)::text
  || ',"runAt":' || ${isoOf('run_at')}
  || ',"createdAt":' || ${isoOf('created_at')}
  || ',"startedAt":' || ${isoOf('started_at')}
  || ',"finishedAt":' || ${isoOf('finished_at')}
  ${tail}
  || case when schedule_id is not null
          then ',"scheduleId":' || to_json(schedule_id)::text || ',"scheduledFor":' || ${isoOf('scheduled_for')}
          else '' end
  ${output}
  || '}'`;
}
const LIST_TASK_JSON = taskJsonSql('list');
/** A task's own answer as JSON text (no parameters): exported for test/list-json.test.ts. */
export const TASK_JSON = taskJsonSql('full');

/** A row of a task page: its insertion order (the cursor) and the task as JSON text. */
export type TaskPageRow = { seq: string; json: string };

export type ListQuery = {
  /** null: every state */
  states: readonly TaskState[] | null;
  /** null: any labels; else only tasks holding every one of these */
  labels?: readonly string[] | null;
  /** keyset cursor: only rows with seq below it */
  beforeSeq: string | null;
  limit: number;
  /** commands longer than this many characters come cut, with command_truncated (default LIST_COMMAND_MAX_CHARS) */
  commandMaxChars?: number;
};

/**
 * Newest first, keyset-paginated on seq, output and usage left out (output can be megabytes),
 * each task as its JSON text. Fetches limit+1 rows so the caller knows whether there is a next page.
 */
export async function selectTaskPage(q: Queryable, l: ListQuery): Promise<TaskPageRow[]> {
  return q.query<TaskPageRow>(
    `select seq, ${LIST_TASK_JSON} as json from tasks
     where ($1::text[] is null or state = any($1::text[]))
       and ($2::bigint is null or seq < $2::bigint)
       and ($5::text[] is null or (labels @> $5::text[] and labels <> '{}'))
     order by seq desc
     limit $3::int`,
    [l.states, l.beforeSeq, l.limit + 1, l.commandMaxChars ?? LIST_COMMAND_MAX_CHARS, l.labels ?? null],
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

/** When the oldest queued task was created (the head of tasks_state_seq_idx's queued range), or null. */
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
  /** the agent's labels, canonical: only tasks whose every label is among them (also recorded in agents) */
  agentLabels: readonly string[];
  now: Date;
};

/** A claimed task: the task resource (TASK_JSON), its new lease (the end as toISOString() writes it) and its seq. */
export type ClaimedTask = { id: string; lease_token: string; lease_expires_at: string; seq: string; json: string };

/**
 * Claims, among the queued tasks this agent may run, the one of highest priority, then earliest
 * run_at, then seq, in one statement. The label sets the agent's labels cover come from
 * label_sets; for each, the lateral takes its head from tasks_queued_pick_idx (one index descent,
 * never a walk over tasks of other label sets), and the best head wins. `for update skip locked`
 * lets concurrent pickers pass over heads another picker holds instead of waiting, so each task
 * goes to exactly one agent (the other heads stay locked only until this statement commits).
 * The update finds the head by its id alone: the head is locked by this statement and was
 * queued when it was locked (the lateral's quals are checked again on the row it locks), so
 * nothing can change its state before the update, and a `state = 'queued'` there would let the
 * planner, on a database no ANALYZE has seen, walk a partial index of queued tasks instead of
 * the primary key (migration 0008 has the figures).
 * The same statement records the agent (the agents table, db/agents.ts): seen now, its labels,
 * the task it holds (none after an empty pick) and one more task run; folded in here so that a
 * pick costs no second round trip (docs/metrics.md has the before/after figures). The task
 * comes back as its JSON text (TASK_JSON), not as a row.
 */
export async function claimNextQueuedTask(q: Queryable, p: PickRequest): Promise<ClaimedTask | null> {
  const rows = await q.query<ClaimedTask>(
    `with claimed as (
     update tasks t
        set state = 'running',
            agent_id = $1::text,
            lease_token = $2::uuid,
            lease_expires_at = $4::timestamptz + make_interval(secs => $3::int),
            deadline_at = $4::timestamptz + make_interval(secs => t.timeout_seconds + $5::int),
            started_at = $4::timestamptz,
            attempts = t.attempts + 1
      where t.id = (
        select h.id
          from label_sets s
         cross join lateral (
           select c.id, c.priority, c.run_at, c.seq from tasks c
            where c.state = 'queued' and c.label_key = s.key
            order by c.priority desc, c.run_at, c.seq
            limit 1
            for update skip locked) h
         where s.labels <@ $6::text[]
         order by h.priority desc, h.run_at, h.seq
         limit 1)
      returning t.*),
     seen as (
       insert into agents as a (id, labels, last_seen_at, task_id, tasks_run)
       select $1::text, $6::text[], $4::timestamptz, (select id from claimed), (select count(*) from claimed)
       on conflict (id) do update
         set labels = excluded.labels,
             last_seen_at = greatest(a.last_seen_at, excluded.last_seen_at),
             task_id = excluded.task_id,
             tasks_run = a.tasks_run + excluded.tasks_run,
             stopped = false)
     select id, ${isoText('lease_expires_at')} as lease_expires_at, lease_token, seq, ${TASK_JSON} as json from claimed`,
    [p.agentId, p.leaseToken, p.leaseSeconds, p.now, p.deadlineGraceSeconds, p.agentLabels],
    'te_pick_next_task',
  );
  return rows[0] ?? null;
}

export type HeartbeatRequest = { id: string; agentId: string; leaseToken: string; leaseSeconds: number; now: Date };

/** Extends this agent's lease on a running task (and marks the agent seen); null when the task is not (or no longer) its. */
export async function extendTaskLease(q: Queryable, h: HeartbeatRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with extended as (
     update tasks
        set lease_expires_at = $4::timestamptz + make_interval(secs => $5::int)
      where id = $1::uuid
        and state = 'running'
        and agent_id = $2::text
        and lease_token = $3::uuid
      returning *),
     seen as (
       update agents set last_seen_at = greatest(last_seen_at, $4::timestamptz), stopped = false
        where id = $2::text and exists (select 1 from extended))
     select * from extended`,
    [h.id, h.agentId, h.leaseToken, h.now, h.leaseSeconds],
    'te_heartbeat_task',
  );
  return rows[0] ?? null;
}

export type CancelRequest = { id: string; now: Date; cancelGraceSeconds: number };

/**
 * Cancels a task: a queued or scheduled one ends `canceled` at once (held output reads of it are woken); a
 * running one is flagged for its agent (which learns it from its next heartbeat) and its deadline
 * pulled in to now + grace, after which the reaper ends it even if the agent stays silent. Null
 * when it had already ended.
 */
export async function cancelOrFlagTask(q: Queryable, c: CancelRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with changed as (
     update tasks
        set state = case when state in ('queued', 'scheduled') then 'canceled' else state end,
            error = case when state in ('queued', 'scheduled') then 'canceled by user' else error end,
            finished_at = case when state in ('queued', 'scheduled') then $2::timestamptz else finished_at end,
            cancel_requested = true,
            deadline_at = case when state = 'running'
                               then least(deadline_at, $2::timestamptz + make_interval(secs => $3::int))
                               else deadline_at end
      where id = $1::uuid and state in ('scheduled', 'queued', 'running')
      returning *)
     select changed.*, case when changed.state = 'canceled' then pg_notify('${OUTPUT_CHANNEL}', changed.id::text) end is null as notified
       from changed`,
    [c.id, c.now, c.cancelGraceSeconds],
  );
  return rows[0] ?? null;
}
