import { agentIdOf } from '../shared/auth';
import { json, noContent } from '../shared/http';
import { createHandler } from '../shared/middleware';
import { parsePickRequest, pickTask } from './pick-task';

/** GET or POST /tasks/pick */
export const handler = createHandler('pickTask', 'agent', async (event, { deps, log }) => {
  const agentId = agentIdOf(event);
  parsePickRequest(event);
  const task = await pickTask({ ...deps, log }, agentId);
  return task === null ? noContent() : json(200, task);
});
