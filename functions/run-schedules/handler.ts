import middy from '@middy/core';
import { lambdaDeps } from '../shared/deps';
import { requestLog } from '../shared/logger';
import { runScheduleTicks } from '../shared/schedule-ticks';

/**
 * Scheduled (EventBridge, every minute): creates the task of each due schedule tick, as the
 * local server's timer does every second. With a minute between runs, a schedule of 6 fields
 * (seconds) gets at most one task a minute: the latest due tick, the earlier ones skipped by the
 * missed-tick rule (docs/guarantees.md).
 */
export const handler = middy().handler(async () => {
  const deps = await lambdaDeps();
  const log = requestLog(deps.logger, { handler: 'runSchedules' });
  let total = { created: 0, skipped: 0, lost: 0 };
  // A full round (100 schedules due) is followed by another, within the function's timeout.
  for (let rounds = 0; rounds < 20; rounds++) {
    const round = await runScheduleTicks({ ...deps, log });
    total = { created: total.created + round.created, skipped: total.skipped + round.skipped, lost: total.lost + round.lost };
    if (!round.full) break;
  }
  log.info('schedule ticks done', total);
  return total;
});
