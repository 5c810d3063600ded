/**
 * Cron expressions and time zones of schedules, read by croner (never parsed here): validation
 * with the rule's own words, the next tick, and the latest tick due (the missed-tick rule).
 * croner 11.0.1 was chosen over cron-parser 5.10.6: no dependencies (cron-parser brings luxon,
 * 4.5 MB), its '5-or-6-parts' mode rejects 4- and 7-field strings and '' that cron-parser reads
 * as "every minute", and a next run in Europe/Berlin took 84-459 µs against 420-932 µs
 * (docs/performance.md, "Schedules").
 */
import { Cron } from 'croner';
import { CRON_MAX_CHARS, TIMEZONE_MAX_CHARS } from '../../contract/http';
import { ValidationError } from './errors';
import { describeValue } from './http';

/** A compiled schedule expression in its zone. */
export type CronSchedule = { next(after: Date): Date | null; previous(atOrBefore: Date): Date | null };

/**
 * Compiles a cron expression in a zone. `?` is refused: croner reads it as "the time of
 * parsing", so two servers would disagree on the ticks. Nicknames (@daily) are refused: §12
 * says 5 or 6 fields. Throws a ValidationError naming `cron`.
 */
export function compileCron(cron: string, timezone: string): CronSchedule {
  if (cron.includes('?')) {
    throw new ValidationError('cron must not contain "?" (it would mean the time the server read it); use "*" or a number.');
  }
  if (cron.trim().startsWith('@')) {
    throw new ValidationError('cron must be 5 fields (minute hour day month weekday) or 6 (seconds first), not a nickname such as @daily.');
  }
  let job: Cron;
  try {
    job = new Cron(cron, { timezone, mode: '5-or-6-parts', paused: true });
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern: /, '').slice(0, 200);
    throw new ValidationError(`cron is not a valid 5-field (minute resolution) or 6-field (seconds first) expression: ${reason}.`);
  }
  return {
    next: (after) => job.nextRun(after),
    previous: (atOrBefore) => job.previousRuns(1, new Date(atOrBefore.getTime() + 1))[0] ?? null,
  };
}

/** Reads `cron`: a string of at most CRON_MAX_CHARS printable characters that croner accepts and that ever fires. */
export function parseCron(value: unknown, timezone: string, now: Date): { cron: string; schedule: CronSchedule } {
  if (typeof value !== 'string') throw new ValidationError(`cron must be a string such as "0 3 * * *" (got ${describeValue(value)}).`);
  if (value.trim() === '') throw new ValidationError('cron is empty; send 5 fields such as "0 3 * * *" (every day at 03:00).');
  if (value.length > CRON_MAX_CHARS) throw new ValidationError(`cron is longer than ${CRON_MAX_CHARS} characters.`);
  if (/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(value) || /[^\x20-\x7e\t]/.test(value)) {
    throw new ValidationError('cron must be printable ASCII: digits, letters, spaces and * , - / L W #.');
  }
  const schedule = compileCron(value, timezone);
  if (schedule.next(now) === null)
    throw new ValidationError(`cron ${JSON.stringify(value)} never fires (such as February 31st); fix the fields.`);
  return { cron: value, schedule };
}

/** Reads `timezone`: an IANA name Intl knows (default UTC), returned in its canonical spelling. */
export function parseTimezone(value: unknown): string {
  if (value === undefined) return 'UTC';
  if (typeof value !== 'string')
    throw new ValidationError(`timezone must be an IANA name such as "Europe/Berlin" (got ${describeValue(value)}).`);
  // Offsets (+01:00) and abbreviations with offsets (UTC+1) are not IANA names: refused before Intl sees them.
  if (value.length === 0 || value.length > TIMEZONE_MAX_CHARS || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(value)) {
    throw new ValidationError(`timezone ${describeValue(value)} is not an IANA time zone name such as "Europe/Berlin" or "UTC".`);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    throw new ValidationError(
      `timezone ${describeValue(value)} is not a time zone this server knows; use an IANA name such as "Europe/Berlin".`,
    );
  }
}

/** Past this many skipped ticks the count is estimated from the period (a next run costs 0.1-1.6 ms here). */
export const SKIP_COUNT_STEPS = 100;

/** At most this many ticks of one schedule get their tasks in one round; earlier ones are skipped. */
export const MAX_TICKS_PER_ROUND = 100;

/**
 * Which due ticks of a schedule get a task (docs/guarantees.md, Schedules), from its first due
 * tick `due` to `now`:
 * - each tick at or after `watchedSince` gets its task: a tick loop was running when it came (the
 *   local server's previous round; on Lambda, the minute before), so it was not missed, only
 *   reached late (a loaded machine, a slow round); at most the latest MAX_TICKS_PER_ROUND;
 * - of the ticks before it, missed while no tick loop ran (every server down), only the latest
 *   tick at or before `now` gets a task when no watched tick does (it is less than one period
 *   late: the tick after it is still ahead), and every other one is skipped.
 * Without `watchedSince` (a server's first round) every due tick counts as missed. Returns the
 * ticks to create, in order, how many were skipped before the first, and the next tick after now.
 */
export function resolveDueTicks(
  schedule: CronSchedule,
  due: Date,
  now: Date,
  watchedSince: Date | null = null,
): { runFor: Date[]; skipped: number; next: Date | null } {
  const latest = schedule.previous(now);
  const last = latest === null || latest.getTime() < due.getTime() ? due : latest;
  const from = Math.max(due.getTime(), watchedSince?.getTime() ?? Number.POSITIVE_INFINITY);
  // Back from the latest: a long pause (a suspended laptop) costs MAX_TICKS_PER_ROUND steps, not one per tick.
  const watched: Date[] = [];
  for (let t: Date | null = last; t !== null && t.getTime() >= from && watched.length < MAX_TICKS_PER_ROUND; ) {
    watched.unshift(t);
    t = t.getTime() <= due.getTime() ? null : schedule.previous(new Date(t.getTime() - 1));
  }
  const runFor = watched.length > 0 ? watched : [last];
  return { runFor, skipped: ticksBetween(schedule, due, runFor[0] as Date), next: schedule.next(last) };
}

/** How many ticks are in [from, to): counted up to SKIP_COUNT_STEPS, past that estimated from the period. */
function ticksBetween(schedule: CronSchedule, from: Date, to: Date): number {
  let n = 0;
  for (let t: Date | null = from; t !== null && t.getTime() < to.getTime(); t = schedule.next(t)) {
    if (n === SKIP_COUNT_STEPS) {
      // Far behind (a 1-second schedule after an hour down): the rest estimated from the period.
      const period = Math.max(1000, (schedule.next(t)?.getTime() ?? to.getTime()) - t.getTime());
      return n + Math.round((to.getTime() - t.getTime()) / period);
    }
    n += 1;
  }
  return n;
}
