import middy from '@middy/core';
import { lambdaDeps } from '../shared/deps';
import { expireLeases } from '../shared/lease-expiry';
import { requestLog } from '../shared/logger';

/** Scheduled (EventBridge, every minute): ends tasks whose lease or deadline has passed. */
export const handler = middy().handler(async () => {
  const deps = await lambdaDeps();
  const log = requestLog(deps.logger, { handler: 'expireLeases' });
  const rows = await expireLeases({ ...deps, log });
  log.info('lease expiry done', { expired: rows.length });
  return { expired: rows.length };
});
