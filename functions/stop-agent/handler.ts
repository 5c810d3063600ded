import { json } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { parseStopRequest, stopAgent } from './stop-agent';

/** POST /agents/{id}/stop: the agent (its own id, agent token) says it stopped. */
export const build = defineHandler('stopAgent', 'agent', async (event, { deps, log }) => {
  const { agentId } = parseStopRequest(event);
  return json(200, await stopAgent({ ...deps, log }, agentId));
});

export const handler = lambdaHandler(build);
