import { leasePolicy } from '../shared/config';
import { expireLeases as expireLeaseRows, extendRunningLeases, recordReaperRun, type TaskRow } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import type { Log } from '../shared/logger';

/**
 * Ends running tasks whose agent went silent or whose deadline passed (see expireLeases in
 * the SQL module); logs each. Run by the local server's timer, the scheduled Lambda, and
 * (throttled) by pick.
 */
export async function expireLeases(deps: Pick<Deps, 'db' | 'now' | 'config'> & { log: Log }): Promise<TaskRow[]> {
  const now = deps.now();
  const policy = leasePolicy(deps.config);
  const previous = await recordReaperRun(deps.db, now);
  const gapSeconds = previous === null ? Number.POSITIVE_INFINITY : (now.getTime() - new Date(previous).getTime()) / 1000;
  if (gapSeconds > policy.watchGapSeconds) {
    // Nobody watched for a while (start-up, or the database or every server was down): the
    // agents could not heartbeat either. Give them one lease to check in before judging.
    const extended = await extendRunningLeases(deps.db, now, policy.leaseSeconds);
    if (extended > 0) {
      deps.log.warn('lease expiry resumed after a gap; running tasks get one more lease', {
        gapSeconds: Number.isFinite(gapSeconds) ? Math.round(gapSeconds) : null,
        extended,
      });
    }
    return [];
  }
  const rows = await expireLeaseRows(deps.db, now);
  for (const row of rows) {
    deps.log.warn('running task expired', { taskId: row.id, state: row.state, error: row.error, agentId: row.agent_id });
  }
  return rows;
}

/** Runs expireLeases at most once per `everyMs` in this process (pick calls it on its way). */
export function throttledExpiry(everyMs: number): (deps: Pick<Deps, 'db' | 'now' | 'config'> & { log: Log }) => Promise<void> {
  let last = 0;
  return async (deps) => {
    const t = Date.now();
    if (t - last < everyMs) return;
    last = t;
    await expireLeases(deps);
  };
}

/** The reaper interval for a configuration. */
export const reaperIntervalMs = (deps: Pick<Deps, 'config'>) => leasePolicy(deps.config).reaperIntervalMs;
