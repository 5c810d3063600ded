import { EMPTY_BODY_LIMIT } from '../../contract/http';
import { noContent, parseJsonObject, rejectQuery, rejectUnknownFields } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { scheduleIdParam } from '../shared/schedule-input';
import { deleteSchedule } from './delete-schedule';

/** DELETE /schedules/{id} (no body, or {}) */
export const build = defineHandler('deleteSchedule', 'user', async (event, { deps, log }) => {
  const id = scheduleIdParam(event);
  rejectQuery(event);
  rejectUnknownFields(parseJsonObject(event, EMPTY_BODY_LIMIT, true), []);
  await deleteSchedule({ ...deps, log }, id);
  return noContent();
});

export const handler = lambdaHandler(build);
