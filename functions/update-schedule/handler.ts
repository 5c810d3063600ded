import { json } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { parseUpdateScheduleRequest, scheduleIdParam } from '../shared/schedule-input';
import { updateSchedule } from './update-schedule';

/** PATCH /schedules/{id} */
export const build = defineHandler('updateSchedule', 'user', async (event, { deps, log }) => {
  const id = scheduleIdParam(event);
  return json(200, await updateSchedule({ ...deps, log }, id, parseUpdateScheduleRequest(event)));
});

export const handler = lambdaHandler(build);
