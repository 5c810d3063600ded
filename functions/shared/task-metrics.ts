/** What the handlers record in the metrics (functions/shared/metrics.ts) as tasks move. */
import { isTerminal, type Task } from '../../contract/task';
import type { TaskRow } from './db/tasks';
import { type Metrics, secondsBetween } from './metrics';

/** A pick: how long the task waited, created to started (from the claimed task's resource). */
export function recordPicked(metrics: Metrics, task: Pick<Task, 'runAt' | 'createdAt' | 'startedAt'>): void {
  // From when it could first run: its creation, or its runAt for a delayed task.
  const wait = secondsBetween(task.runAt ?? task.createdAt, task.startedAt);
  if (wait !== null) metrics.observe('queueWait', wait);
}

/** A task that just ended (finish, cancel of a queued task, lease expiry): its state, run time, cut output. */
export function recordEnded(metrics: Metrics, row: TaskRow): void {
  if (!isTerminal(row.state)) return;
  metrics.inc('tasksFinished', { state: row.state });
  const run = secondsBetween(row.started_at, row.finished_at);
  if (run !== null) metrics.observe('run', run);
  if (row.output_truncated) metrics.inc('outputsTruncated');
}

/** Rows lease expiry ended or queued again: a lost agent is counted once per task it held. */
export function recordExpired(metrics: Metrics, rows: readonly TaskRow[]): void {
  for (const row of rows) {
    if (row.state === 'queued' || (row.state === 'failed' && row.error?.startsWith('agent lost') === true)) metrics.inc('agentsLost');
    recordEnded(metrics, row);
  }
}
