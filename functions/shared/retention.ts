/**
 * Retention (docs/routing.md, TASK_RETENTION): the reaper deletes tasks that ended longer ago than
 * the retention, a bounded batch at a time, and counts them (taskexec_tasks_deleted_total). Run
 * by the local server's reaper timer and by the scheduled Lambda (functions/expire-leases).
 */
import { deleteEndedTasks } from './db/retention';
import type { Deps } from './deps';
import type { Log } from './logger';

export type RetentionDeps = Pick<Deps, 'db' | 'now' | 'config' | 'metrics'> & { log: Log };

/** Tasks deleted per statement (oldest first). */
export const RETENTION_BATCH = 1000;
/** At most this many batches per round, so one round never holds the reaper for long. */
export const RETENTION_BATCHES_PER_ROUND = 10;

/** One round of retention; returns how many tasks it deleted (0 when TASK_RETENTION=0). */
export async function applyRetention(deps: RetentionDeps): Promise<number> {
  const seconds = deps.config.taskRetentionSeconds;
  if (seconds <= 0) return 0;
  const cutoff = new Date(deps.now().getTime() - seconds * 1000);
  let deleted = 0;
  for (let round = 0; round < RETENTION_BATCHES_PER_ROUND; round++) {
    const n = await deleteEndedTasks(deps.db, cutoff, RETENTION_BATCH);
    deleted += n;
    if (n > 0) deps.metrics.inc('tasksDeleted', {}, n);
    if (n < RETENTION_BATCH) break;
  }
  if (deleted > 0) deps.log.info('ended tasks deleted (TASK_RETENTION)', { deleted, before: cutoff.toISOString() });
  return deleted;
}

/**
 * PGlite has no autovacuum: without this, every update and delete leaves dead rows that are
 * never reused and the data directory only grows. Run by the local server on a timer, embedded
 * store only; returns how long it took.
 */
export async function vacuumEmbedded(deps: Pick<Deps, 'db'> & { log: Log }): Promise<number> {
  const t0 = performance.now();
  // Every table: tasks and task_output churn most, the small ones (agents, reaper_runs) too.
  await deps.db.exec('vacuum');
  const ms = Math.round(performance.now() - t0);
  deps.log.debug('embedded store vacuumed', { ms });
  return ms;
}
