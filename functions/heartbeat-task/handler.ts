import { agentIdOf } from '../shared/auth';
import { json, taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { heartbeatTask, parseHeartbeatRequest } from './heartbeat-task';

/** POST /tasks/{id}/heartbeat */
export const build = defineHandler('heartbeatTask', 'agent', async (event, { deps, log }) => {
  const id = taskIdParam(event);
  const agentId = agentIdOf(event);
  const { leaseToken } = parseHeartbeatRequest(event);
  return json(200, await heartbeatTask({ ...deps, log }, id, agentId, leaseToken));
});

export const handler = lambdaHandler(build);
