import { agentIdOf } from '../shared/auth';
import { json, taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { finishTask, parseFinishRequest } from './finish-task';

/** POST /tasks/{id}/finish */
export const build = defineHandler('finishTask', 'agent', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  const agentId = agentIdOf(event);
  const task = await finishTask({ ...deps, log }, id, agentId, parseFinishRequest(event));
  // Its next pick may then wait without a claim that would find nothing (queue-signal.ts).
  deps.signal.agentFinished(agentId);
  return json(200, task);
});

export const handler = lambdaHandler(build);
