import middy from '@middy/core';
import { getDeps } from '../shared/deps';
import { requestLog } from '../shared/logger';
import { expireLeases } from './expire-leases';

/** Scheduled (EventBridge, every minute): ends tasks whose lease or deadline has passed. */
export const handler = middy().handler(async () => {
  const deps = await getDeps();
  const log = requestLog({ handler: 'expireLeases' });
  const rows = await expireLeases({ ...deps, log });
  log.info('lease expiry done', { expired: rows.length });
  return { expired: rows.length };
});
