/**
 * The Middy wiring every handler shares: a per-request log, the token check, and the
 * problem+json error mapping (last, so Middy runs its onError first for inner errors).
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { type Audience, authorize } from './auth';
import { type Deps, lambdaDeps } from './deps';
import { asHttpError, HttpError, toProblem } from './errors';
import type { Event, Result } from './http';
import { type Log, requestLog } from './logger';

export type HandlerContext = Context & { log?: Log };
export type Handler = (event: Event, context: Context) => Promise<Result>;
export type Core = (event: Event, env: { deps: Deps; log: Log; context: Context }) => Promise<Result>;

/** Where a handler gets its deps: a value (the local server, tests) or a cold-start builder (Lambda). */
export type DepsSource = Deps | (() => Promise<Deps>);

/**
 * Builds a handler bound to its deps. Each handler.ts exports one, and the route table lists
 * them; it carries its audience, so the local adapter can check the token before it reads a body.
 */
export type BuildHandler = ((deps: DepsSource) => Handler) & { readonly audience: Audience };

/** Gives each request a log with its request id and handler name in every line. */
function requestLogger(name: string, deps: () => Deps | undefined): MiddlewareObj<Event, Result, Error, HandlerContext> {
  return {
    before: (request) => {
      const base = deps();
      if (base === undefined) return;
      const requestId = request.event?.requestContext?.requestId ?? request.context?.awsRequestId;
      request.context.log = requestLog(base.logger, { handler: name, requestId });
    },
  };
}

/** Turns any error into problem+json; logs 5xx with the error, 4xx briefly. */
function problemErrors(): MiddlewareObj<Event, Result, Error, HandlerContext> {
  return {
    onError: (request) => {
      const error = asHttpError(request.error);
      const log = request.context.log;
      if (error instanceof HttpError && error.status < 500) {
        log?.info('request rejected', { status: error.status, detail: error.message });
      } else if (error instanceof HttpError) {
        log?.warn('request failed', { status: error.status, detail: error.message });
      } else if (log) {
        log.error('unhandled error', { error: error as Error });
      } else {
        // No deps yet (the cold start failed): nothing else can say why.
        console.error('unhandled error', error);
      }
      request.response = toProblem(error);
    },
  };
}

/**
 * Defines a handler: the shared middlewares, then the token check, then the core. Returns the
 * builder; `lambdaHandler(build)` is what a Lambda function exports.
 */
export function defineHandler(name: string, audience: Audience, core: Core): BuildHandler {
  const build = (source: DepsSource): Handler => {
    let resolved: Deps | undefined = typeof source === 'function' ? undefined : source;
    const getDeps = async () => {
      resolved ??= await (source as () => Promise<Deps>)();
      return resolved;
    };
    const wrapped = middy<Event, Result, Error, HandlerContext>()
      .use({
        // Resolve deps first, so the request log (and errors) use the process's logger.
        before: async () => {
          await getDeps();
        },
      })
      .use(requestLogger(name, () => resolved))
      .use(problemErrors())
      .handler(async (event, context) => {
        const deps = await getDeps();
        authorize(audience, event, deps.config);
        return core(event, { deps, log: context.log ?? requestLog(deps.logger, { handler: name }), context });
      });
    return wrapped as unknown as Handler;
  };
  return Object.assign(build, { audience });
}

/** The handler a Lambda function exports: deps built once per cold start from its environment. */
export function lambdaHandler(build: BuildHandler): Handler {
  return build(lambdaDeps);
}
