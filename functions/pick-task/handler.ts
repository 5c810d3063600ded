import { agentIdOf } from '../shared/auth';
import { json, noContent } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { parsePickRequest, pickTask } from './pick-task';

/** API Gateway allows 30 s per request: a held pick answers this long before that. */
const LAMBDA_MARGIN_MS = 3000;

/** GET or POST /tasks/pick[?wait=N] */
export const build = defineHandler('pickTask', 'agent', async (event, { deps, log, context }) => {
  const agentId = agentIdOf(event);
  const { waitSeconds, agentLabels } = parsePickRequest(event);
  const remaining = context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
  const waitMs = Math.max(0, Math.min(waitSeconds * 1000, remaining - LAMBDA_MARGIN_MS));
  // Set by the local server when the agent hangs up during a held pick.
  const { clientGone } = context as { clientGone?: AbortSignal };
  const task = await pickTask({ ...deps, log }, agentId, waitMs, clientGone, agentLabels);
  return task === null ? noContent() : json(200, task);
});

export const handler = lambdaHandler(build);
