import { json } from '../shared/http';
import { createHandler } from '../shared/middleware';
import { listTasks, parseListTasksRequest } from './list-tasks';

/** GET /tasks */
export const handler = createHandler('listTasks', 'user', async (event, { deps }) =>
  json(200, await listTasks(deps, parseListTasksRequest(event))),
);
