import { json, rejectQuery } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { scheduleIdParam } from '../shared/schedule-input';
import { getSchedule } from './get-schedule';

/** GET /schedules/{id} */
export const build = defineHandler('getSchedule', 'user', async (event, { deps }) => {
  const id = scheduleIdParam(event);
  rejectQuery(event);
  return json(200, await getSchedule(deps, id));
});

export const handler = lambdaHandler(build);
