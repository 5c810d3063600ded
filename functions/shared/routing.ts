/**
 * The routing fields of a task (docs/routing.md): priority, labels, runAt, and an agent's
 * X-Agent-Labels. Validation shared by POST /tasks, pick and anything else that creates tasks
 * (schedules), so every door states the same rule in the same words.
 */
import { canonicalLabels, DEFAULT_PRIORITY, HEADERS, labelProblem, latestRunAt, MAX_PRIORITY, MIN_PRIORITY } from '../../contract/http';
import { ValidationError } from './errors';
import { describeValue, type Event, header } from './http';

/** `priority`: a whole number from -1000 to 1000; absent → 0. */
export function parsePriority(value: unknown, field = 'priority'): number {
  if (value === undefined) return DEFAULT_PRIORITY;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_PRIORITY || value > MAX_PRIORITY) {
    throw new ValidationError(`${field} must be a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY} (got ${describeValue(value)}).`);
  }
  return value;
}

/** `labels`: an array of up to 16 label strings; absent → []. Returned sorted and deduplicated. */
export function parseLabels(value: unknown, field = 'labels'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError(`${field} must be an array of strings (got ${describeValue(value)}).`);
  const notString = value.find((l) => typeof l !== 'string');
  if (notString !== undefined) {
    throw new ValidationError(`${field} must be an array of strings (one item is ${describeValue(notString)}).`);
  }
  const problem = labelProblem(value as string[]);
  if (problem !== null) throw new ValidationError(`${field}: ${problem}.`);
  return canonicalLabels(value as string[]);
}

const RUN_AT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z|z)|([+-])(\d{2}):?(\d{2}))$/;

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** Reads an ISO 8601 date-time with a zone (`Z` or `±hh:mm`) into a Date, or null when it is not one. */
export function parseZonedTime(text: string): Date | null {
  const m = RUN_AT.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) return null;
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000);
}

/** `runAt`: an ISO 8601 time with a zone, at most a year after now; absent or null → null. */
export function parseRunAt(value: unknown, now: Date, field = 'runAt'): Date | null {
  if (value === undefined || value === null) return null;
  const at = typeof value === 'string' ? parseZonedTime(value) : null;
  if (at === null) {
    throw new ValidationError(
      `${field} must be an ISO 8601 date and time with a zone, like "2027-01-01T09:00:00Z" or "2027-01-01T10:00:00+01:00" (got ${describeValue(value)}).`,
    );
  }
  const latest = latestRunAt(now);
  if (at.getTime() > latest.getTime()) {
    throw new ValidationError(`${field} may be at most a year ahead (after ${latest.toISOString()}); got ${at.toISOString()}.`);
  }
  return at;
}

/** The agent's labels from X-Agent-Labels (`a,b`; absent or empty → none), sorted and deduplicated. */
export function agentLabelsOf(event: Event): string[] {
  const raw = header(event, HEADERS.agentLabels);
  if (raw === undefined || raw.trim() === '') return [];
  const labels = raw.split(',').map((l) => l.trim());
  const problem = labelProblem(labels);
  if (problem !== null) throw new ValidationError(`X-Agent-Labels: ${problem} (send them comma-separated, like "gpu,linux").`);
  return canonicalLabels(labels);
}

/** Whether an agent with these labels may run the tasks of a label set (its key: labels joined by ','). */
export function labelSetAllowed(agentLabels: readonly string[]): (labelKey: string) => boolean {
  const own = new Set(agentLabels);
  return (key) => key === '' || key.split(',').every((l) => own.has(l));
}
