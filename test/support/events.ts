/**
 * Factories for API Gateway payload-v2 events and Lambda contexts, for unit tests of the
 * cores and for calling handlers directly.
 */
import type { Context } from 'aws-lambda';
import type { Event } from '../../functions/shared/http';

export type EventSpec = {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path?: string;
  /** a string is sent as-is; anything else as JSON, with Content-Type application/json unless headers set one */
  body?: unknown;
  /** header names are lower-cased, as API Gateway v2 does */
  headers?: Record<string, string>;
  /** repeated keys as arrays; they reach rawQueryString apart and queryStringParameters comma-joined */
  query?: Record<string, string | string[]>;
  pathParameters?: Record<string, string>;
};

/** Builds the payload-v2 event API Gateway would send for this request. */
export function buildEvent(spec: EventSpec = {}): Event {
  const method = spec.method ?? 'GET';
  const path = spec.path ?? '/';
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: string | undefined;
  if (typeof spec.body === 'string') body = spec.body;
  else if (spec.body !== undefined) {
    body = JSON.stringify(spec.body);
    headers['content-type'] ??= 'application/json';
  }
  const search = new URLSearchParams();
  const joined: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.query ?? {})) {
    const values = Array.isArray(v) ? v : [v];
    for (const value of values) search.append(k, value);
    joined[k] = values.join(',');
  }
  const now = new Date();
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: search.toString(),
    headers,
    queryStringParameters: Object.keys(joined).length > 0 ? joined : undefined,
    pathParameters: spec.pathParameters,
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      domainName: 'test.execute-api.local',
      domainPrefix: 'test',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
      requestId: `test-${Math.random().toString(16).slice(2)}`,
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body,
    isBase64Encoded: false,
  };
}

/** A Lambda context good enough for handlers called directly. */
export function buildContext(functionName = 'test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '128',
    awsRequestId: `ctx-${Math.random().toString(16).slice(2)}`,
    logGroupName: 'test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 30000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
