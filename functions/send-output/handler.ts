import { agentIdOf } from '../shared/auth';
import { json, taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { parseSendOutputRequest, sendOutput } from './send-output';

/** POST /tasks/{id}/output */
export const build = defineHandler('sendOutput', 'agent', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  const agentId = agentIdOf(event);
  return json(200, await sendOutput({ ...deps, log }, id, agentId, parseSendOutputRequest(event)));
});

export const handler = lambdaHandler(build);
