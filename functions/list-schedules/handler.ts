import { json, rejectQuery } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { listSchedules } from './list-schedules';

/** GET /schedules */
export const build = defineHandler('listSchedules', 'user', async (event, { deps }) => {
  rejectQuery(event);
  return json(200, await listSchedules(deps));
});

export const handler = lambdaHandler(build);
