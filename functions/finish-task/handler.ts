import { agentIdOf } from '../shared/auth';
import { json, taskIdParam } from '../shared/http';
import { createHandler } from '../shared/middleware';
import { finishTask, parseFinishRequest } from './finish-task';

/** POST /tasks/{id}/finish */
export const handler = createHandler('finishTask', 'agent', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  const agentId = agentIdOf(event);
  return json(200, await finishTask({ ...deps, log }, id, agentId, parseFinishRequest(event)));
});
