/**
 * The bodies of POST /schedules and PATCH /schedules/{id}: every field checked, and named in
 * the 400 when it is wrong, before any SQL runs.
 */
import {
  COMMAND_MAX_BYTES,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
  SCHEDULE_NAME_MAX_CHARS,
  USER_BODY_LIMIT,
} from '../../contract/http';
import { type CronSchedule, parseCron, parseTimezone } from './cron';
import type { ScheduleDefinition, ScheduleRow } from './db/schedules';
import { ValidationError } from './errors';
import { describeValue, type Event, hasLoneSurrogate, isUuid, parseJsonObject, rejectQuery, rejectUnknownFields } from './http';
import { parseLabels, parsePriority } from './routing';

export const SCHEDULE_FIELDS = ['name', 'cron', 'command', 'timezone', 'timeoutSeconds', 'priority', 'labels', 'paused'] as const;
type Field = (typeof SCHEDULE_FIELDS)[number];

/** The fields a request sent, each validated; absent ones stay absent. */
export type ScheduleChanges = Partial<Omit<ScheduleDefinition, 'nextRunAt'>>;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function parseName(v: unknown): string {
  if (typeof v !== 'string') throw new ValidationError(`name must be a string (got ${describeValue(v)}).`);
  if (v.trim() === '') throw new ValidationError('name is empty; give the schedule a name such as "nightly-backup".');
  if (v.length > SCHEDULE_NAME_MAX_CHARS) throw new ValidationError(`name is longer than ${SCHEDULE_NAME_MAX_CHARS} characters.`);
  if (CONTROL.test(v)) throw new ValidationError('name must not contain control characters (newlines, tabs, NUL).');
  if (hasLoneSurrogate(v)) throw new ValidationError('name holds an unpaired UTF-16 surrogate (invalid Unicode); send valid UTF-8 text.');
  return v;
}

function parseCommand(v: unknown): string {
  if (typeof v !== 'string') throw new ValidationError(`command must be a string (got ${describeValue(v)}).`);
  if (v.trim() === '') throw new ValidationError('command is empty; give a shell command to run.');
  if (Buffer.byteLength(v) > COMMAND_MAX_BYTES) {
    throw new ValidationError(`command is longer than ${COMMAND_MAX_BYTES} bytes; put long scripts in a file and run that.`);
  }
  if (v.includes('\u0000')) throw new ValidationError('command holds a NUL byte, which a shell command cannot contain; remove it.');
  if (hasLoneSurrogate(v))
    throw new ValidationError('command holds an unpaired UTF-16 surrogate (invalid Unicode); send valid UTF-8 text.');
  return v;
}

function parseTimeout(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_TIMEOUT_SECONDS) {
    throw new ValidationError(`timeoutSeconds must be a whole number from 1 to ${MAX_TIMEOUT_SECONDS} (got ${describeValue(v)}).`);
  }
  return v;
}

function parsePaused(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValidationError(`paused must be true or false (got ${describeValue(v)}).`);
  return v;
}

/** Validates each field present in the body (cron and timezone are checked together by the caller). */
function readChanges(body: Record<string, unknown>): ScheduleChanges & { cronValue?: unknown } {
  rejectUnknownFields(body, SCHEDULE_FIELDS);
  const has = (f: Field) => body[f] !== undefined;
  const out: ScheduleChanges & { cronValue?: unknown } = {};
  if (has('name')) out.name = parseName(body.name);
  if (has('command')) out.command = parseCommand(body.command);
  if (has('timezone')) out.timezone = parseTimezone(body.timezone);
  if (has('timeoutSeconds')) out.timeoutSeconds = parseTimeout(body.timeoutSeconds);
  if (has('priority')) out.priority = parsePriority(body.priority);
  if (has('labels')) out.labels = parseLabels(body.labels);
  if (has('paused')) out.paused = parsePaused(body.paused);
  if (has('cron')) out.cronValue = body.cron;
  return out;
}

/** The next tick after `now`, or null while paused. */
function firstTick(schedule: CronSchedule, paused: boolean, now: Date): Date | null {
  return paused ? null : schedule.next(now);
}

/** Validates a POST /schedules request into a definition with its first tick. */
export function parseCreateScheduleRequest(event: Event, now: Date): ScheduleDefinition {
  rejectQuery(event);
  const body = parseJsonObject(event, USER_BODY_LIMIT);
  const c = readChanges(body);
  for (const f of ['name', 'cron', 'command'] as const) {
    if (body[f] === undefined) {
      throw new ValidationError(
        `The field "${f}" is missing; send {"name": "nightly", "cron": "0 3 * * *", "command": "echo hello"} at least.`,
      );
    }
  }
  const timezone = c.timezone ?? 'UTC';
  const { cron, schedule } = parseCron(c.cronValue, timezone, now);
  const paused = c.paused ?? false;
  return {
    name: c.name as string,
    cron,
    timezone,
    command: c.command as string,
    timeoutSeconds: c.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
    priority: c.priority ?? parsePriority(undefined),
    labels: c.labels ?? parseLabels(undefined),
    paused,
    nextRunAt: firstTick(schedule, paused, now),
  };
}

/** Reads a PATCH /schedules/{id} body: at least one field, each validated. */
export function parseUpdateScheduleRequest(event: Event): ScheduleChanges & { cronValue?: unknown } {
  rejectQuery(event);
  const body = parseJsonObject(event, USER_BODY_LIMIT);
  const c = readChanges(body);
  if (Object.keys(c).length === 0) {
    throw new ValidationError(`The body changes nothing; send any of ${SCHEDULE_FIELDS.join(', ')}, such as {"paused": true}.`);
  }
  return c;
}

/**
 * A schedule's definition after a PATCH: the changes over the stored row. next_run_at is
 * computed again from now when the cron, the zone or `paused` changed (a resumed schedule
 * starts at its next tick, it does not catch up on its pause), and kept otherwise.
 */
export function applyScheduleChanges(row: ScheduleRow, c: ScheduleChanges & { cronValue?: unknown }, now: Date): ScheduleDefinition {
  const timezone = c.timezone ?? row.timezone;
  const { cron, schedule } = parseCron(c.cronValue ?? row.cron, timezone, now);
  const paused = c.paused ?? row.paused;
  const retime = c.cronValue !== undefined || c.timezone !== undefined || (c.paused !== undefined && c.paused !== row.paused);
  return {
    name: c.name ?? row.name,
    cron,
    timezone,
    command: c.command ?? row.command,
    timeoutSeconds: c.timeoutSeconds ?? row.timeout_seconds,
    priority: c.priority ?? row.priority,
    labels: c.labels ?? row.labels,
    paused,
    nextRunAt: retime || (!paused && row.next_run_at === null) ? firstTick(schedule, paused, now) : row.next_run_at,
  };
}

/** The {id} path parameter of a schedule route, checked to be a UUID before it reaches SQL. */
export function scheduleIdParam(event: Event): string {
  const id = event.pathParameters?.id;
  if (id === undefined || !isUuid(id)) {
    throw new ValidationError(
      `The schedule id ${JSON.stringify((id ?? '').slice(0, 80))} is not a UUID; use the id that POST /schedules returned.`,
    );
  }
  return id.toLowerCase();
}
