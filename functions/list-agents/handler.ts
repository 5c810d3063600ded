import { json, rejectQuery } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { listAgents } from './list-agents';

/** GET /agents */
export const build = defineHandler('listAgents', 'user', async (event, { deps }) => {
  rejectQuery(event);
  return json(200, await listAgents(deps));
});

export const handler = lambdaHandler(build);
