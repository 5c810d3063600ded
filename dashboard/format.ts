/** Pure formatting of times, durations and states for the dashboard (tested in format.test.ts). */
import type { Task, TaskState } from '../contract/task';

/** A duration as a person reads it: 850 ms, 4.2 s, 3 min 5 s, 2 h 14 min, 3 d 4 h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long ago a moment was: "just now", "12 s ago", "3 min ago", or the date after a day. */
export function formatAgo(iso: string, now: number): string {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  if (ms < 2000) return 'just now';
  if (ms < 86400000) return `${formatDuration(Math.floor(ms / 1000) * 1000).replace(/ \d+ s$/, '')} ago`;
  return iso.slice(0, 10);
}

const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));

/** How long a task waited in the queue: until it started, or until now (or its end) if it never did. */
export function queuedFor(task: Pick<Task, 'createdAt' | 'startedAt' | 'finishedAt'>, now: number): number {
  const end = ms(task.startedAt) ?? ms(task.finishedAt) ?? now;
  return Math.max(0, end - (ms(task.createdAt) as number));
}

/** How long a task ran: started to finished, or to now while it runs; null if it never started. */
export function ranFor(task: Pick<Task, 'startedAt' | 'finishedAt'>, now: number): number | null {
  const start = ms(task.startedAt);
  if (start === null) return null;
  return Math.max(0, (ms(task.finishedAt) ?? now) - start);
}

/** The words a state is shown with (never colour alone). */
export const STATE_LABELS: Record<TaskState, string> = {
  scheduled: 'scheduled',
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  timed_out: 'timed out',
  canceled: 'canceled',
};

/** A count as shown in the overview: 1,234, or 10,000+ when the server stopped counting there. */
export function formatCount(n: number, capped: boolean): string {
  return `${n.toLocaleString('en-US')}${capped ? '+' : ''}`;
}
