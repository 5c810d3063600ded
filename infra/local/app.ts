/**
 * The local Express adapter: turns each HTTP request into an API Gateway payload-v2 event,
 * calls the route's Lambda handler unchanged, and writes its result back. No business rule
 * lives here, or the Lambda deployment would lose it.
 */

import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from 'aws-lambda';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Route } from '../../functions/routes';
import { authorize } from '../../functions/shared/auth';
import type { Deps } from '../../functions/shared/deps';
import {
  ExpectationFailedError,
  HeadersTooLargeError,
  HttpError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  RequestTimeoutError,
  toProblem,
  UnsupportedMediaTypeError,
  UriTooLongError,
  ValidationError,
} from '../../functions/shared/errors';
import type { Event, Result } from '../../functions/shared/http';

/** Express path syntax for an API Gateway path: `/tasks/{id}` becomes `/tasks/:id`. */
export function toExpressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/**
 * A map without a prototype: a header or query key named `__proto__` or `constructor` is then
 * an ordinary key, not Object.prototype's (which dropped the one and mangled the other).
 */
const emptyMap = (): Record<string, string> => Object.create(null) as Record<string, string>;

function joinHeaders(req: Request): Record<string, string> {
  const headers = emptyMap();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    if (name === 'cookie') continue;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return headers;
}

/** A request's joined headers, made once for the early token check and the event. */
const JOINED = Symbol('joined headers');
function headersOf(req: Request): Record<string, string> {
  const holder = req as Request & { [JOINED]?: Record<string, string> };
  holder[JOINED] ??= joinHeaders(req);
  return holder[JOINED];
}

/** Builds the payload-v2 event API Gateway would send for this request. */
export function toEvent(req: Request, route: Route, body: Buffer | undefined): Event {
  const requestId = randomUUID();
  const qIndex = req.originalUrl.indexOf('?');
  const rawQueryString = qIndex === -1 ? '' : req.originalUrl.slice(qIndex + 1);
  const rawPath = qIndex === -1 ? req.originalUrl : req.originalUrl.slice(0, qIndex);
  const query = emptyMap();
  for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const params = req.params as Record<string, string>;
  const now = new Date();
  const headers = headersOf(req);
  const hasBody = body !== undefined && body.length > 0;
  const asText = hasBody && isUtf8(body);
  return {
    version: '2.0',
    routeKey: `${route.method} ${route.path}`,
    rawPath,
    rawQueryString,
    cookies: req.headers.cookie?.split(/;\s*/),
    headers,
    queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
    pathParameters: Object.keys(params).length > 0 ? { ...params } : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] as string,
      http: {
        method: req.method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: `${route.method} ${route.path}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: hasBody ? (asText ? body.toString('utf8') : body.toString('base64')) : undefined,
    isBase64Encoded: hasBody && !asText,
  };
}

function lambdaContext(route: Route, requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: route.dir,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${route.dir}`,
    memoryLimitInMB: '0',
    awsRequestId: requestId,
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function sendResult(res: Response, result: Result): void {
  res.status(result.statusCode ?? 200);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
  const body = result.body ?? '';
  res.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

/** Longest request target (path and query) served; longer ones answer 414. */
export const MAX_URL_LENGTH = 8192;

/** Writes a problem+json answer straight to a socket and closes it (no request object exists). */
function endSocketWithProblem(socket: Duplex, error: HttpError, reason: string): void {
  const problem = toProblem(error);
  const headers = Object.entries(problem.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${problem.statusCode} ${reason}\r\n${headers}content-length: ${Buffer.byteLength(problem.body)}\r\nconnection: close\r\n\r\n${problem.body}`,
  );
}

/**
 * Answers with problem+json what Node's HTTP server would otherwise answer itself, with a bare
 * status line or not at all: requests its parser rejects (headers over maxHeaderSize, malformed
 * request lines), requests that time out, an `Expect` other than 100-continue (Node: a bare
 * 417), and CONNECT (Node: the connection is dropped without an answer).
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || (error.code === 'ECONNRESET' && socket.destroyed)) return socket.destroy();
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      return endSocketWithProblem(socket, new HeadersTooLargeError(), 'Request Header Fields Too Large');
    }
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      return endSocketWithProblem(socket, new RequestTimeoutError(), 'Request Timeout');
    }
    endSocketWithProblem(socket, new ValidationError('The HTTP request is malformed.'), 'Bad Request');
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const problem = toProblem(new ExpectationFailedError(String(req.headers.expect)));
    res.writeHead(problem.statusCode, { ...problem.headers, connection: 'close' });
    res.end(problem.body);
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    endSocketWithProblem(
      socket,
      new MethodNotAllowedError('CONNECT is not supported: this is an API, not a proxy.', ['GET', 'POST']),
      'Method Not Allowed',
    );
  });
}

function sendProblem(res: Response, error: unknown): void {
  const p = toProblem(error);
  res.status(p.statusCode);
  for (const [name, value] of Object.entries(p.headers)) res.setHeader(name, value);
  res.end(p.body);
}

/** The Express app serving the route table, each handler built with these deps. */
export function createApp(routes: readonly Route[], deps: Deps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Bodies are read as bytes (the handler parses them, as on Lambda), no more than the route's
  // limit; the handler checks the same limit itself, so the Lambda deployment enforces it too.
  const readers = new Map<number, express.RequestHandler>();
  const rawReader = (limit: number) => {
    let reader = readers.get(limit);
    if (!reader) {
      // inflate: false, as API Gateway hands a Lambda compressed bodies as they came.
      reader = express.raw({ type: () => true, limit, inflate: false });
      readers.set(limit, reader);
    }
    return reader;
  };
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.originalUrl.length <= MAX_URL_LENGTH) return next();
    sendProblem(res, new UriTooLongError(MAX_URL_LENGTH));
  });

  for (const route of routes) {
    const handler = route.build(deps);
    const routeName = `${route.method} ${route.path}`;
    const method = route.method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete';
    // A body over the limit is refused from its Content-Length, before any of it arrives (the
    // body reader would read it all, throwing it away, before answering), and the connection
    // is closed after the answer. A chunked body is cut off at the limit by the reader.
    const tooLarge = (error: unknown, _req: Request, res: Response, next: NextFunction) => {
      if ((error as { type?: string }).type !== 'entity.too.large') return next(error);
      res.setHeader('connection', 'close');
      next(new PayloadTooLargeError(route.bodyLimit));
    };
    const announcedTooLarge = (req: Request, res: Response, next: NextFunction) => {
      if (Number(req.headers['content-length'] ?? 0) <= route.bodyLimit) return next();
      res.setHeader('connection', 'close');
      next(new PayloadTooLargeError(route.bodyLimit));
    };
    // The handler's own token check, run before the body is read: a client without the token
    // cannot make the server buffer up to the route's limit (the handler checks again, which is
    // what holds on Lambda). The connection is closed after the refusal, unread body and all.
    const authorizeFirst = (req: Request, res: Response, next: NextFunction) => {
      if (route.audience === 'public') return next();
      try {
        authorize(route.audience, { headers: headersOf(req) }, deps.config);
        next();
      } catch (error) {
        res.setHeader('connection', 'close');
        next(error);
      }
    };
    app[method](
      toExpressPath(route.path),
      // Express serves HEAD with GET routes; API Gateway does not (and a HEAD pick would claim a
      // task whose lease token nobody reads): only the route's own method passes.
      (req: Request, res: Response, next: NextFunction) => {
        if (req.method !== route.method) return next('route');
        // Counted by template, never the raw path: one series per route and status, whatever ids come.
        res.once('finish', () => deps.metrics.inc('httpResponses', { route: routeName, status: String(res.statusCode) }));
        next();
      },
      authorizeFirst,
      announcedTooLarge,
      rawReader(route.bodyLimit),
      tooLarge,
      async (req: Request, res: Response, next: NextFunction) => {
        try {
          const event = toEvent(req, route, Buffer.isBuffer(req.body) ? req.body : undefined);
          const context: Context & { clientGone?: AbortSignal } = lambdaContext(route, event.requestContext.requestId);
          if (route.holds) {
            // Tells a held pick that its agent hung up, so it claims no task for nobody (API
            // Gateway gives Lambda no such signal).
            const clientGone = new AbortController();
            // (a close after the answer went out is not a hang-up; aborting costs a DOMException)
            res.once('close', () => res.writableFinished || clientGone.abort());
            context.clientGone = clientGone.signal;
          }
          const result = await handler(event, context);
          sendResult(res, result);
        } catch (error) {
          next(error);
        }
      },
    );
  }

  app.use((req: Request, res: Response) => {
    res.once('finish', () => deps.metrics.inc('httpResponses', { route: 'unmatched', status: String(res.statusCode) }));
    const allowed = routes.filter((r) => new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}/?$`).test(req.path)).map((r) => r.method);
    sendProblem(
      res,
      allowed.length > 0
        ? new MethodNotAllowedError(`${req.method} is not supported on this path; use ${[...new Set(allowed)].join(' or ')}.`, [
            ...new Set(allowed),
          ])
        : new NotFoundError(`No endpoint at ${req.method} ${req.path.slice(0, 200)}; see openapi.yaml for the API.`),
    );
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = error as { type?: string; status?: number; message?: string };
    if (error instanceof HttpError) return sendProblem(res, error);
    if (e?.type === 'encoding.unsupported') {
      return sendProblem(
        res,
        new UnsupportedMediaTypeError('Compressed request bodies are not accepted; send the body without Content-Encoding.'),
      );
    }
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      return sendProblem(res, new ValidationError(`The request could not be read (${e.message ?? 'bad request'}).`));
    }
    deps.logger.error('unhandled error in the HTTP adapter', { error: error as Error });
    sendProblem(res, error);
  });
  return app;
}
