import { HEADERS } from '../../contract/http';
import type { Result } from '../shared/http';
import { taskIdParam } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { parseReadOutputRequest, readOutput } from './read-output';

/** API Gateway allows 30 s per request: a held read answers this long before that. */
const LAMBDA_MARGIN_MS = 3000;

/** GET /tasks/{id}/output[?stream=stdout|stderr][&offset=N][&wait=S] */
export const build = defineHandler('readOutput', 'user', async (event, { deps, log, context }): Promise<Result> => {
  const id = taskIdParam(event);
  const request = parseReadOutputRequest(event);
  const remaining = context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
  const waitMs = Math.max(0, Math.min(request.waitSeconds * 1000, remaining - LAMBDA_MARGIN_MS));
  // Set by the local server when the reader hangs up during a held read.
  const { clientGone } = context as { clientGone?: AbortSignal };
  const read = await readOutput({ ...deps, log }, id, request, waitMs, clientGone);
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      [HEADERS.nextOffset]: String(read.nextOffset),
      [HEADERS.taskState]: read.state,
      [HEADERS.outputComplete]: String(read.complete),
    },
    body: read.body,
  };
});

export const handler = lambdaHandler(build);
