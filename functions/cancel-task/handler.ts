import { USER_BODY_LIMIT } from '../../contract/http';
import { json, parseJsonObject, rejectQuery, rejectUnknownFields, taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { cancelTask } from './cancel-task';

/** POST /tasks/{id}/cancel */
export const build = defineHandler('cancelTask', 'user', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  rejectQuery(event);
  rejectUnknownFields(parseJsonObject(event, USER_BODY_LIMIT, true), []);
  return json(200, await cancelTask({ ...deps, log }, id));
});

export const handler = lambdaHandler(build);
