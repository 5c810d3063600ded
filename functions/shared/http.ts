/**
 * Reading API Gateway payload-v2 events and writing results: bodies, headers, query strings.
 * Every malformed input becomes an HttpError here, before any SQL runs.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from './errors';

export type Event = APIGatewayProxyEventV2;
export type Result = APIGatewayProxyStructuredResultV2;

/** A JSON response. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): Result {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** A JSON answer whose body is already JSON text. */
export function jsonText(statusCode: number, body: string): Result {
  return { statusCode, headers: { 'content-type': 'application/json' }, body };
}

/** 204 with no body. */
export function noContent(): Result {
  return { statusCode: 204, headers: {}, body: '' };
}

/** A header's value, whatever its case in the event (v2 lower-cases them; tests may not). */
export function header(event: Pick<Event, 'headers'>, name: string): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  // API Gateway (payload 2.0) and the local adapter send lower-case names.
  const value = headers[wanted];
  if (value !== undefined) return value;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === wanted) return headers[key];
  }
  return undefined;
}

/** The body as bytes, decoding base64 when API Gateway chose it. */
function bodyBytes(event: Event): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;.*)?$/i;

/**
 * Parses a JSON object body: checks size (413), content type (415), syntax and shape (400).
 * An empty body is allowed only when `optional`, and then reads as {}.
 */
export function parseJsonObject(event: Event, limit: number, optional = false): Record<string, unknown> {
  const raw = bodyBytes(event);
  if (raw.length > limit) throw new PayloadTooLargeError(limit);
  if (raw.length === 0) {
    if (optional) return {};
    throw new ValidationError('The request body is empty; send a JSON object.');
  }
  const type = header(event, 'content-type');
  if (type === undefined || !JSON_TYPE.test(type.trim())) {
    throw new UnsupportedMediaTypeError(
      `The body must be JSON: send the header Content-Type: application/json (got ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 100))}).`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new ValidationError('The body is not valid UTF-8; send JSON encoded as UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`The body is not valid JSON (${(error as Error).message}); send a JSON object.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('The body must be a JSON object, like {"command": "echo hello"}.');
  }
  return value as Record<string, unknown>;
}

/**
 * A short description of a JSON value for an error detail. Never serialises the whole value:
 * a body nested 100,000 arrays deep parses fine but overflows the stack in JSON.stringify.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 50));
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value).slice(0, 50);
}

/** An error detail names at most this many offending keys or values, then says how many more. */
export const NAMED_AT_MOST = 5;

/**
 * The first NAMED_AT_MOST names, quoted and cut to 50 characters, and how many more there are:
 * a body of 95,554 unknown keys once made a 1.1 MB answer and a 1.1 MB log line.
 */
export function nameSome(names: readonly string[], cut = 50): string {
  const shown = names.slice(0, NAMED_AT_MOST).map((n) => JSON.stringify(n.slice(0, cut)));
  const more = names.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

/** Rejects fields other than those named, so a typo is an error and not a silent default. */
export function rejectUnknownFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new ValidationError(
      `Unknown field${unknown.length > 1 ? 's' : ''} ${nameSome(unknown)}; ${allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'this endpoint takes no fields: send an empty body or {}'}.`,
    );
  }
}

/** True when a string holds a lone UTF-16 surrogate (it cannot be stored byte-exact). */
export function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/**
 * The query string as a multimap. v2 events join repeated keys with commas in
 * queryStringParameters; rawQueryString keeps them apart, so it is read when present.
 */
export function queryParams(event: Event): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (k: string, v: string) => out.set(k, [...(out.get(k) ?? []), v]);
  if (event.rawQueryString) {
    let params: URLSearchParams;
    try {
      params = new URLSearchParams(event.rawQueryString);
    } catch {
      throw new ValidationError('The query string is malformed.');
    }
    for (const [k, v] of params) add(k, v);
  } else {
    for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) {
      if (v !== undefined) add(k, v);
    }
  }
  return out;
}

/** Rejects query parameters other than those named. */
export function rejectUnknownParams(params: Map<string, string[]>, allowed: readonly string[]): void {
  const unknown = [...params.keys()].filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new ValidationError(
      `Unknown query parameter${unknown.length > 1 ? 's' : ''} ${nameSome(unknown)}; allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none'}.`,
    );
  }
}

/** For endpoints that take no query parameters: any is an error, not silently ignored. */
export function rejectQuery(event: Event): void {
  rejectUnknownParams(queryParams(event), []);
}

/** A single-valued query parameter; a repeat is an error. */
export function singleParam(params: Map<string, string[]>, name: string): string | undefined {
  const values = params.get(name);
  if (values === undefined) return undefined;
  if (values.length > 1) throw new ValidationError(`The query parameter ${name} is given ${values.length} times; give it once.`);
  return values[0];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in its text form (ids, lease tokens): anything else never reaches SQL as one. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** The {id} path parameter, checked to be a UUID before it reaches SQL. */
export function taskIdParam(event: Event): string {
  const id = event.pathParameters?.id;
  if (id === undefined || !UUID.test(id)) {
    throw new ValidationError(
      `The task id ${JSON.stringify((id ?? '').slice(0, 80))} is not a UUID; use the id that POST /tasks returned.`,
    );
  }
  return id.toLowerCase();
}
