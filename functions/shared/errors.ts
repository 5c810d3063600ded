/**
 * The project's HTTP errors. Every 4xx/5xx leaves the service as RFC 9457
 * problem+json built by `toProblem`, the one place errors become responses.
 */

const TYPE_BASE = 'https://task-executor.dev/problems/';

/** Base class: an error that knows its HTTP status and a problem type slug. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly headers: Record<string, string>;

  constructor(status: number, type: string, title: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.name = new.target.name;
    this.status = status;
    this.type = type;
    this.title = title;
    this.headers = headers;
  }
}

/** 400: the request is malformed or a value is out of range. */
export class ValidationError extends HttpError {
  constructor(detail: string) {
    super(400, 'validation', 'Invalid request', detail);
  }
}

/** 401: a bearer token is required and was missing or wrong. */
export class UnauthorizedError extends HttpError {
  constructor(detail: string, realm: string) {
    super(401, 'unauthorized', 'Unauthorized', detail, {
      'www-authenticate': `Bearer realm="${realm}"`,
    });
  }
}

/** 403: a browser request from a page of another site, on an endpoint whose token is not set. */
export class ForbiddenError extends HttpError {
  constructor(detail: string) {
    super(403, 'forbidden', 'Forbidden', detail);
  }
}

/** 404: no such resource. */
export class NotFoundError extends HttpError {
  constructor(detail: string) {
    super(404, 'not-found', 'Not found', detail);
  }
}

/** 405: the path exists, the method does not. */
export class MethodNotAllowedError extends HttpError {
  constructor(detail: string, allow: string[]) {
    super(405, 'method-not-allowed', 'Method not allowed', detail, { allow: allow.join(', ') });
  }
}

/** 408: the request did not arrive in time (the local server's requestTimeout/headersTimeout). */
export class RequestTimeoutError extends HttpError {
  constructor() {
    super(408, 'request-timeout', 'Request timeout', 'The request was not received in time; send it again, whole.');
  }
}

/** 409: the request conflicts with the task's current state. */
export class ConflictError extends HttpError {
  constructor(detail: string) {
    super(409, 'conflict', 'Conflict', detail);
  }
}

/** 413: the body is larger than this endpoint accepts. */
export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number) {
    super(
      413,
      'payload-too-large',
      'Payload too large',
      `The request body is larger than this endpoint accepts (${limitBytes} bytes); send a smaller body.`,
    );
  }
}

/** 414: the request target is longer than the server reads. */
export class UriTooLongError extends HttpError {
  constructor(limit: number) {
    super(414, 'uri-too-long', 'URI too long', `The request path and query are longer than ${limit} characters; shorten them.`);
  }
}

/** 415: the body is not JSON. */
export class UnsupportedMediaTypeError extends HttpError {
  constructor(detail: string) {
    super(415, 'unsupported-media-type', 'Unsupported media type', detail);
  }
}

/** 417: an Expect header other than 100-continue. */
export class ExpectationFailedError extends HttpError {
  constructor(expect: string) {
    super(
      417,
      'expectation-failed',
      'Expectation failed',
      `Only "Expect: 100-continue" is supported (got ${JSON.stringify(expect.slice(0, 100))}); drop the header.`,
    );
  }
}

/** 421: the Host names a server this is not (DNS rebinding), on an endpoint whose token is not set. */
export class MisdirectedRequestError extends HttpError {
  constructor(detail: string) {
    super(421, 'misdirected-request', 'Misdirected request', detail);
  }
}

/** 431: the request line and headers are larger than the server reads. */
export class HeadersTooLargeError extends HttpError {
  constructor() {
    super(
      431,
      'headers-too-large',
      'Request header fields too large',
      'The request line and headers are larger than 16 KiB; send fewer or shorter headers.',
    );
  }
}

/** 503: the database (or another dependency) cannot be reached right now. */
export class UnavailableError extends HttpError {
  constructor(detail: string) {
    super(503, 'unavailable', 'Service unavailable', detail, { 'retry-after': '1' });
  }
}

export type Problem = { type: string; title: string; status: number; detail: string };

export type ProblemResponse = {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
};

/** Renders an HttpError as an RFC 9457 response; anything else becomes a generic 500. */
export function toProblem(error: unknown): ProblemResponse {
  const http =
    error instanceof HttpError
      ? error
      : new HttpError(500, 'internal', 'Internal server error', 'An unexpected error occurred; it has been logged.');
  const body: Problem = {
    type: TYPE_BASE + http.type,
    title: http.title,
    status: http.status,
    detail: http.message,
  };
  return {
    statusCode: http.status,
    headers: { ...http.headers, 'content-type': 'application/problem+json' },
    body: JSON.stringify(body),
  };
}

/**
 * The one step before toProblem for errors that are not ours: Middy's early-timeout error on
 * Lambda (the invocation is about to run out of time) is a 503. Database errors arrive here
 * already translated by the Db (db/errors.ts).
 */
export function asHttpError(error: unknown): unknown {
  if ((error as Error | null)?.name === 'TimeoutError') return new UnavailableError('The request took too long to serve; retry shortly.');
  return error;
}
