import { leasePolicy } from '../shared/config';
import { expireLeases as expireLeaseRows, type TaskRow } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import type { Log } from '../shared/logger';

/**
 * Ends running tasks whose agent went silent or whose deadline passed (see expireLeases in
 * the SQL module); logs each. Run by the local server's timer, the scheduled Lambda, and
 * (throttled) by pick.
 */
export async function expireLeases(deps: Pick<Deps, 'db' | 'now'> & { log: Log }): Promise<TaskRow[]> {
  const rows = await expireLeaseRows(deps.db, deps.now());
  for (const row of rows) {
    deps.log.warn('running task expired', { taskId: row.id, state: row.state, error: row.error, agentId: row.agent_id });
  }
  return rows;
}

/** Runs expireLeases at most once per `everyMs` in this process (pick calls it on its way). */
export function throttledExpiry(everyMs: number): (deps: Pick<Deps, 'db' | 'now'> & { log: Log }) => Promise<void> {
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
