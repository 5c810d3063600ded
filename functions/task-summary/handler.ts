import { json, rejectQuery } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { taskSummary } from './task-summary';

/** GET /tasks/summary */
export const build = defineHandler('taskSummary', 'user', async (event, { deps }) => {
  rejectQuery(event);
  return json(200, await taskSummary(deps));
});

export const handler = lambdaHandler(build);
