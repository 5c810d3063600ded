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

/** 415: the body is not JSON. */
export class UnsupportedMediaTypeError extends HttpError {
  constructor(detail: string) {
    super(415, 'unsupported-media-type', 'Unsupported media type', detail);
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

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '57014', // query_canceled (statement_timeout)
]);

/**
 * Translates a database driver error into an HttpError where one applies:
 * connection loss becomes 503, bad text (22021, 22P02) a 400. Called where SQL runs.
 */
export function coerceDbError(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  // Middy's own early timeout on Lambda (the invocation is about to run out of time).
  if ((error as Error | null)?.name === 'TimeoutError') return new UnavailableError('The request took too long to serve; retry shortly.');
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (
    UNAVAILABLE_CODES.has(code) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|database is closed|PGlite is closed/i.test(
      message,
    )
  ) {
    return new UnavailableError('The database cannot be reached right now; retry shortly.');
  }
  if (code === '22021')
    return new ValidationError('A text value holds a byte sequence that cannot be stored (such as a NUL byte); remove it.');
  if (code === '22P02') return new ValidationError('A value has the wrong format for its field; check ids and numbers.');
  return error;
}
