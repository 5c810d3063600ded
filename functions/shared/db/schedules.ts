/**
 * Every SQL statement on the schedules table (infra/migrations/0007_schedules.sql), and the one
 * that claims a tick and creates its task. Same rules as db/tasks.ts: lowercase SQL, values as
 * cast parameters, time passed in.
 */
import type { Schedule } from '../../../contract/schedule';
import { ConflictError } from '../errors';
import type { Queryable } from './db';
import { QUEUED_CHANNEL, queuedPayloadSql } from './tasks';

/** A row of `schedules`. */
export type ScheduleRow = {
  id: string;
  /** unique */
  name: string;
  /** 5 or 6 fields, as croner reads them */
  cron: string;
  /** IANA zone */
  timezone: string;
  /** list queries: its first characters only */
  command: string;
  /** list queries only: the command is longer than what they return */
  command_truncated?: boolean;
  timeout_seconds: number;
  priority: number;
  labels: string[];
  paused: boolean;
  /** the next tick to create; null while paused */
  next_run_at: Date | null;
  /** the last tick a task was created for */
  last_run_at: Date | null;
  /** ticks passed over by the missed-tick rule (int8 as string or number) */
  skipped_ticks: string | number;
  /** bumped by every update: a tick claim names the revision it computed the next tick from */
  revision: number;
  created_at: Date;
  updated_at: Date;
};

const iso = (d: Date | null): string | null => (d === null ? null : new Date(d).toISOString());

/** Maps a row to the schedule resource. */
export function toSchedule(row: ScheduleRow): Schedule {
  const s: Schedule = {
    id: row.id,
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    command: row.command,
    timeoutSeconds: row.timeout_seconds,
    priority: row.priority,
    labels: row.labels,
    paused: row.paused,
    nextRunAt: iso(row.next_run_at),
    lastRunAt: iso(row.last_run_at),
    skippedTicks: Number(row.skipped_ticks),
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
  if (row.command_truncated) s.commandTruncated = true;
  return s;
}

/** What a schedule is made of, as validated by functions/shared/schedule-input.ts. */
export type ScheduleDefinition = {
  name: string;
  cron: string;
  timezone: string;
  command: string;
  timeoutSeconds: number;
  priority: number;
  labels: readonly string[];
  paused: boolean;
  /** computed from cron and timezone; null when paused */
  nextRunAt: Date | null;
};

const UNIQUE_VIOLATION = '23505';

function nameTaken(error: unknown, name: string): unknown {
  if ((error as { code?: unknown })?.code !== UNIQUE_VIOLATION) return error;
  return new ConflictError(`A schedule named ${JSON.stringify(name.slice(0, 80))} already exists; choose another name.`);
}

/** Inserts a schedule; throws a ConflictError when its name is taken. */
export async function insertSchedule(q: Queryable, s: ScheduleDefinition & { id: string; now: Date }): Promise<ScheduleRow> {
  const rows = await q.query<ScheduleRow>(
    `insert into schedules (id, name, cron, timezone, command, timeout_seconds, priority, labels, paused, next_run_at, created_at, updated_at)
     values ($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::int, $7::int, $8::text[], $9::boolean, $10::timestamptz, $11::timestamptz, $11::timestamptz)
     on conflict (name) do nothing
     returning *`,
    [s.id, s.name, s.cron, s.timezone, s.command, s.timeoutSeconds, s.priority, s.labels, s.paused, s.nextRunAt, s.now],
  );
  const row = rows[0];
  if (row === undefined) throw nameTaken({ code: UNIQUE_VIOLATION }, s.name);
  return row;
}

/** Schedules by name, at most `limit` + 1 (the caller says whether there were more), commands cut. */
export async function selectSchedules(q: Queryable, page: { limit: number; commandMaxChars: number }): Promise<ScheduleRow[]> {
  return q.query<ScheduleRow>(
    `select id, name, cron, timezone, left(command, $2::int) as command, char_length(command) > $2::int as command_truncated,
            timeout_seconds, priority, labels, paused, next_run_at, last_run_at, skipped_ticks, revision, created_at, updated_at
       from schedules
      order by name
      limit $1::int`,
    [page.limit + 1, page.commandMaxChars],
  );
}

/** One schedule by id. */
export async function selectSchedule(q: Queryable, id: string): Promise<ScheduleRow | null> {
  const rows = await q.query<ScheduleRow>('select * from schedules where id = $1::uuid', [id]);
  return rows[0] ?? null;
}

/**
 * Replaces a schedule's definition if it is still at `revision` (null: it was deleted or changed
 * meanwhile; the caller reads it again), bumping the revision so a tick claimed against the old
 * definition matches nothing. A name taken by another schedule is a ConflictError.
 */
export async function updateSchedule(
  q: Queryable,
  u: ScheduleDefinition & { id: string; revision: number; now: Date },
): Promise<ScheduleRow | null> {
  try {
    const rows = await q.query<ScheduleRow>(
      `update schedules
          set name = $3::text, cron = $4::text, timezone = $5::text, command = $6::text, timeout_seconds = $7::int,
              priority = $8::int, labels = $9::text[], paused = $10::boolean, next_run_at = $11::timestamptz,
              updated_at = $12::timestamptz, revision = revision + 1
        where id = $1::uuid and revision = $2::int
        returning *`,
      [u.id, u.revision, u.name, u.cron, u.timezone, u.command, u.timeoutSeconds, u.priority, u.labels, u.paused, u.nextRunAt, u.now],
    );
    return rows[0] ?? null;
  } catch (error) {
    throw nameTaken(error, u.name);
  }
}

/** Deletes a schedule; false when there was none. Its tasks stay (their schedule_id is kept). */
export async function deleteSchedule(q: Queryable, id: string): Promise<boolean> {
  const rows = await q.query('delete from schedules where id = $1::uuid returning id', [id]);
  return rows.length > 0;
}

/**
 * Schedules whose next tick is due by `until`, earliest first, served by schedules_next_run_at_idx.
 * The tick timer asks for those due within its next wait too, so it can sleep until the earliest.
 */
export async function selectSchedulesDue(q: Queryable, due: { until: Date; limit: number }): Promise<ScheduleRow[]> {
  return q.query<ScheduleRow>(
    `select * from schedules
      where next_run_at <= $1::timestamptz
      order by next_run_at
      limit $2::int`,
    [due.until, due.limit],
    'te_schedules_due',
  );
}

export type TickClaim = {
  scheduleId: string;
  /** the tick the caller read as next_run_at, and the revision it read */
  dueAt: Date;
  revision: number;
  /** the tick the task is made for (the latest due one), and the next tick after now */
  runFor: Date;
  nextRunAt: Date;
  /** due ticks before runFor, passed over by the missed-tick rule */
  skipped: number;
  taskId: string;
  now: Date;
};

/**
 * Claims a due tick and creates its task, in one statement: the update moves next_run_at on only
 * if it still holds the tick this caller read (so of any number of servers, one claims it), and
 * the insert, fed by the update's row, is made once per (schedule_id, scheduled_for) by the
 * unique index whatever happens. Null when another server (or a PATCH, or a DELETE) got there
 * first. The task is queued and a held pick woken, as by POST /tasks.
 */
export async function claimScheduleTick(q: Queryable, c: TickClaim): Promise<{ task_id: string | null } | null> {
  const rows = await q.query<{ task_id: string | null }>(
    `with claimed as (
       update schedules
          set next_run_at = $5::timestamptz, last_run_at = $4::timestamptz, skipped_ticks = skipped_ticks + $6::int
        where id = $1::uuid and next_run_at = $2::timestamptz and revision = $3::int and not paused
        returning *),
     inserted as (
       insert into tasks (id, command, timeout_seconds, max_attempts, created_at, schedule_id, scheduled_for,
                          priority, labels, label_key, run_at, state)
       select $7::uuid, c.command, c.timeout_seconds, 1, $8::timestamptz, c.id, $4::timestamptz,
              c.priority, c.labels, array_to_string(c.labels, ','), $4::timestamptz, 'queued'
         from claimed c
       on conflict (schedule_id, scheduled_for) do nothing
       returning id, label_key, labels),
     label_set as (
       insert into label_sets (key, labels)
       select label_key, labels from inserted where label_key <> ''
       on conflict (key) do nothing)
     select (select id from inserted) as task_id,
            (select pg_notify('${QUEUED_CHANNEL}', ${queuedPayloadSql("'1'", 'inserted.label_key')}) from inserted) is null as notified
       from claimed`,
    [c.scheduleId, c.dueAt, c.revision, c.runFor, c.nextRunAt, c.skipped, c.taskId, c.now],
    'te_claim_schedule_tick',
  );
  return rows[0] ?? null;
}
