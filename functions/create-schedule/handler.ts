import { pathFor, ROUTES } from '../../contract/http';
import { json } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { parseCreateScheduleRequest } from '../shared/schedule-input';
import { createSchedule } from './create-schedule';

/** POST /schedules */
export const build = defineHandler('createSchedule', 'user', async (event, { deps, log }) => {
  const schedule = await createSchedule({ ...deps, log }, parseCreateScheduleRequest(event, deps.now()));
  return json(201, schedule, { location: pathFor(ROUTES.schedule, schedule.id) });
});

export const handler = lambdaHandler(build);
