/**
 * Lease expiry: ends running tasks whose agent went silent or whose deadline passed (see
 * endExpiredTasks in the SQL module). Run by the local server's timer, the scheduled Lambda
 * (functions/expire-leases) and, throttled, by pick on its way through.
 */
import { endExpiredTasks, extendRunningLeases, recordReaperRun } from './db/leases';
import type { TaskRow } from './db/tasks';
import type { Deps } from './deps';
import type { Log } from './logger';
import { recordExpired } from './task-metrics';

export type ExpiryDeps = Pick<Deps, 'db' | 'now' | 'lease' | 'metrics'> & { log: Log };

/** One round of lease expiry; returns the tasks it ended or re-queued. */
export async function expireLeases(deps: ExpiryDeps): Promise<TaskRow[]> {
  const now = deps.now();
  const previous = await recordReaperRun(deps.db, now);
  const gapSeconds = previous === null ? Number.POSITIVE_INFINITY : (now.getTime() - new Date(previous).getTime()) / 1000;
  if (gapSeconds > deps.lease.watchGapSeconds) {
    // Nobody watched for a while (start-up, or the database or every server was down): the
    // agents could not heartbeat either. Give them one lease to check in before judging.
    const extended = await extendRunningLeases(deps.db, now, deps.lease.leaseSeconds);
    if (extended > 0) {
      deps.log.warn('lease expiry resumed after a gap; running tasks get one more lease', {
        gapSeconds: Number.isFinite(gapSeconds) ? Math.round(gapSeconds) : null,
        extended,
      });
    }
    return [];
  }
  const rows = await endExpiredTasks(deps.db, now);
  recordExpired(deps.metrics, rows);
  for (const row of rows) {
    deps.log.warn('running task expired', { taskId: row.id, state: row.state, error: row.error, agentId: row.agent_id });
  }
  return rows;
}

/** Runs expireLeases at most once per `everyMs` for one deps (pick calls it on its way). */
export function throttledExpiry(everyMs: number): (deps: ExpiryDeps) => Promise<void> {
  const last = new WeakMap<ExpiryDeps['db'], number>();
  return async (deps) => {
    const t = Date.now();
    if (t - (last.get(deps.db) ?? 0) < everyMs) return;
    last.set(deps.db, t);
    await expireLeases(deps);
  };
}
