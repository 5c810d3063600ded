import middy from '@middy/core';
import { lambdaDeps } from '../shared/deps';
import { requestLog } from '../shared/logger';
import { runScheduleTicks } from '../shared/schedule-ticks';

/** A minute between runs, and some slack: the ticks of this long back came while the function ran. */
const WATCHED_MS = 75_000;

/**
 * Scheduled (EventBridge, every minute): creates the task of each due schedule tick, as the
 * local server's timer does every second. Each tick of the last WATCHED_MS gets its task (a
 * schedule of 6 fields, seconds, gets its ticks in a batch once a minute); older ones, missed
 * while the function did not run, follow the missed-tick rule (docs/guarantees.md).
 */

export const handler = middy().handler(async () => {
  const deps = await lambdaDeps();
  const log = requestLog(deps.logger, { handler: 'runSchedules' });
  let total = { created: 0, skipped: 0, lost: 0 };
  // A full round (100 schedules due) is followed by another, within the function's timeout.
  for (let rounds = 0; rounds < 20; rounds++) {
    const round = await runScheduleTicks({ ...deps, log }, { watchedSince: new Date(deps.now().getTime() - WATCHED_MS) });
    total = { created: total.created + round.created, skipped: total.skipped + round.skipped, lost: total.lost + round.lost };
    if (!round.full) break;
  }
  log.info('schedule ticks done', total);
  return total;
});
