import { agentIdOf } from '../shared/auth';
import { json, taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { finishTask, parseFinishRequest } from './finish-task';

/** POST /tasks/{id}/finish */
export const build = defineHandler('finishTask', 'agent', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  const agentId = agentIdOf(event);
  return json(200, await finishTask({ ...deps, log }, id, agentId, parseFinishRequest(event)));
});

export const handler = lambdaHandler(build);
