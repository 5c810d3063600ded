/**
 * The Middy wiring every handler shares: a per-request child logger, the token check, and
 * the problem+json error mapping (last, so Middy runs its onError first for inner errors).
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { type Audience, authorize } from './auth';
import { type Deps, getDeps } from './deps';
import { coerceDbError, HttpError, toProblem } from './errors';
import type { Event, Result } from './http';
import { type Log, logger, requestLog } from './logger';

export type HandlerContext = Context & { log?: Log };
export type Handler = (event: Event, context: Context) => Promise<Result>;
export type Core = (event: Event, env: { deps: Deps; log: Log; context: Context }) => Promise<Result>;

/** Gives each request a log with its request id and handler name in every line. */
function requestLogger(name: string): MiddlewareObj<Event, Result, Error, HandlerContext> {
  return {
    before: (request) => {
      const requestId = request.event?.requestContext?.requestId ?? request.context?.awsRequestId;
      request.context.log = requestLog({ handler: name, requestId });
    },
  };
}

/** Turns any error into problem+json; logs 5xx with the error, 4xx briefly. */
function problemErrors(): MiddlewareObj<Event, Result, Error, HandlerContext> {
  return {
    onError: (request) => {
      const error = coerceDbError(request.error);
      const log = request.context.log ?? logger;
      if (error instanceof HttpError && error.status < 500) {
        log.info('request rejected', { status: error.status, detail: error.message });
      } else if (error instanceof HttpError) {
        log.warn('request failed', { status: error.status, detail: error.message });
      } else {
        log.error('unhandled error', { error: error as Error });
      }
      request.response = toProblem(error);
    },
  };
}

/** Builds a Lambda handler: shared middlewares, then the token check, then the core. */
export function createHandler(name: string, audience: Audience, core: Core): Handler {
  const wrapped = middy<Event, Result, Error, HandlerContext>()
    .use(requestLogger(name))
    .use(problemErrors())
    .handler(async (event, context) => {
      const deps = await getDeps();
      authorize(audience, event, deps.config);
      return core(event, { deps, log: context.log ?? requestLog({ handler: name }), context });
    });
  return wrapped as unknown as Handler;
}
