import middy from '@middy/core';
import { lambdaDeps } from '../shared/deps';
import { expireLeases } from '../shared/lease-expiry';
import { requestLog } from '../shared/logger';
import { promoteDue } from '../shared/promotion';
import { applyRetention } from '../shared/retention';

/** Scheduled (EventBridge, every minute): ends tasks whose lease or deadline has passed, queues due scheduled
 * tasks, deletes tasks past TASK_RETENTION. */
export const handler = middy().handler(async () => {
  const deps = await lambdaDeps();
  const log = requestLog(deps.logger, { handler: 'expireLeases' });
  const rows = await expireLeases({ ...deps, log });
  const promoted = await promoteDue({ ...deps, log });
  const deleted = await applyRetention({ ...deps, log });
  log.info('lease expiry done', { expired: rows.length, promoted, deleted });
  return { expired: rows.length, promoted, deleted };
});
