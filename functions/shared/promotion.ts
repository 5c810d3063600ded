/**
 * Promotion of delayed tasks (docs/api.md, Schedules): scheduled tasks whose runAt has come become queued.
 * Run every second by the local server's timer (infra/local/server.ts), by the scheduled Lambda
 * (functions/expire-leases) and, throttled, by pick on its way through.
 */
import { promoteDueTasks } from './db/scheduled';
import type { Deps } from './deps';
import type { Log } from './logger';

export type PromotionDeps = Pick<Deps, 'db' | 'now'> & { log: Log };

/** Tasks promoted per statement; a full batch is followed by another at once. */
export const PROMOTE_BATCH = 10_000;

/** Promotes every due scheduled task; returns how many became queued. */
export async function promoteDue(deps: PromotionDeps): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await promoteDueTasks(deps.db, deps.now(), PROMOTE_BATCH);
    const n = rows.reduce((sum, r) => sum + r.n, 0);
    total += n;
    if (n < PROMOTE_BATCH) break;
  }
  if (total > 0) deps.log.debug('scheduled tasks queued', { promoted: total });
  return total;
}

/** Runs promoteDue at most once per `everyMs` for one database (pick calls it on its way). */
export function throttledPromotion(everyMs: number): (deps: PromotionDeps) => Promise<void> {
  const last = new WeakMap<PromotionDeps['db'], number>();
  return async (deps) => {
    const t = Date.now();
    if (t - (last.get(deps.db) ?? 0) < everyMs) return;
    last.set(deps.db, t);
    await promoteDue(deps);
  };
}
