import { json, rejectQuery, taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { getTask } from './get-task';

/** GET /tasks/{id} */
export const build = defineHandler('getTask', 'user', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  rejectQuery(event);
  return json(200, await getTask({ ...deps, log }, id));
});

export const handler = lambdaHandler(build);
