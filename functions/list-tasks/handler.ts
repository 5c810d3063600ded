import { jsonText } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { listTasks, parseListTasksRequest } from './list-tasks';

/** GET /tasks */
export const build = defineHandler('listTasks', 'user', async (event, { deps }) =>
  jsonText(200, await listTasks(deps, parseListTasksRequest(event))),
);

export const handler = lambdaHandler(build);
