import { json, parseJsonObject, rejectQuery, rejectUnknownFields, taskIdParam, USER_BODY_LIMIT } from '../shared/http';
import { createHandler } from '../shared/middleware';
import { cancelTask } from './cancel-task';

/** POST /tasks/{id}/cancel */
export const handler = createHandler('cancelTask', 'user', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  rejectQuery(event);
  rejectUnknownFields(parseJsonObject(event, USER_BODY_LIMIT, true), []);
  return json(200, await cancelTask({ ...deps, log }, id));
});
