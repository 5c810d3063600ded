import { json, rejectQuery, taskIdParam } from '../shared/http';
import { createHandler } from '../shared/middleware';
import { getTask } from './get-task';

/** GET /tasks/{id} */
export const handler = createHandler('getTask', 'user', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  rejectQuery(event);
  return json(200, await getTask({ ...deps, log }, id));
});
