/**
 * Hostile input over real HTTP, table-driven over every route of functions/routes.ts (a new
 * route gets the whole catalogue without an edit here). For every case: never a 5xx, the server
 * keeps answering, every 4xx is RFC 9457 problem+json, and a rejected request leaves every row
 * of the tasks table as it was. Runs with both tokens set, so each case passes the token check
 * and reaches the parsing it aims at. The Errors table of docs/api.md is test/bad-input.test.ts.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { LIST_COMMAND_MAX_CHARS } from '../contract/http';
import { findDashboardDir, loadDashboard } from '../functions/root/root';
import { type Route, routes } from '../functions/routes';
import type { Deps } from '../functions/shared/deps';
import { createLogger } from '../functions/shared/logger';
import { createMetrics } from '../functions/shared/metrics';
import { answerClientErrors, createApp, MAX_URL_LENGTH } from '../infra/local/app';
import { ensureDashboard } from '../infra/local/dashboard-build';
import { readYaml } from './deploy/helpers';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { parseResponse, type RawReply, type RawRequest, rawRequest } from './support/raw-http';
import { call, startTestServer, type TestServer } from './support/server';

const API_TOKEN = 'hostile-api-token-0123456789';
const AGENT_TOKEN = 'hostile-agent-token-9876543210';
const AGENT = 'agent-a';
const JSON_TYPE: [string, string] = ['Content-Type', 'application/json'];
const ZERO_UUID = '00000000-0000-4000-8000-000000000000';

/**
 * What a case must answer: an exact status; `ok`, what the route's valid request gets (201 for
 * a create, 200 otherwise; see okStatus); or `rejected`, some 4xx (path tricks).
 */
type Expectation = number | 'ok' | 'rejected';
type Audience = 'public' | 'user' | 'agent';

/** Ids of the tasks the cases aim at: a running task (held by AGENT) and a queued one. */
type Seeded = { running: string; queued: string; leaseToken: string; schedule: string };

/** What openapi.yaml and the route table say of a route, known before any request is sent. */
type Facts = {
  route: Route;
  audience: Audience;
  /** the route takes X-Lease-Token (it acts on a task the agent holds) */
  leaseToken: boolean;
  /** the status of the route's valid request: 201 where openapi.yaml documents one (a create), else 200 */
  okStatus: number;
  spec: BodySpec | undefined;
};

/** A route with the request it takes when everything is right, which each case bends. */
type Base = Facts & {
  /** concrete path, {id} filled in */
  path: string;
  /** the right token, agent id and lease token for this route */
  headers: [string, string][];
  /** a valid JSON body, when the route takes one */
  body: Record<string, unknown> | undefined;
};

type Case = {
  name: string;
  /** whether the case applies to a route (all do when absent): decided before any request, so every case sent asserts */
  applies?: (f: Facts) => boolean;
  build: (b: Base) => { request: RawRequest; expect: Expectation };
};

/** What the body of a POST route looks like, for the cases that bend one field at a time. */
type BodySpec = {
  valid: Record<string, unknown>;
  /** an empty body is the same as {} */
  optional: boolean;
  /** values of the wrong type (or outside the field's set) per field */
  wrong: Record<string, unknown[]>;
  /** whole-number fields and their inclusive ranges */
  ints: Record<string, [number, number]>;
  /** string fields and whether bad text (NUL, a lone surrogate) is refused (true) or replaced (false) */
  strings: Record<string, boolean>;
};

const EMPTY_BODY: BodySpec = { valid: {}, optional: true, wrong: {}, ints: {}, strings: {} };

/** Body shapes by handler folder; a route missing here still gets every generic case. */
const BODY_SPECS: Record<string, BodySpec> = {
  'create-task': {
    valid: { command: 'echo hostile', timeoutSeconds: 600, maxAttempts: 1, priority: 0, labels: [], runAt: '2020-01-01T00:00:00Z' },
    optional: false,
    wrong: {
      command: [42, null, true, [], {}, ['echo', 'hi'], ''],
      timeoutSeconds: ['60', null, true, [], {}, 0, 86401],
      maxAttempts: ['1', null, false, [1], {}, 0],
      priority: ['1', null, true, [1], {}, 1001, -1001, 0.5],
      labels: ['gpu', {}, true, 1, [1], [null], [''], ['-a'], ['a'.repeat(64)], ['a\u0000'], [{}]],
      runAt: ['2020-01-01', '2020-01-01T00:00:00', 0, true, [], {}, '2020-13-01T00:00:00Z', '9999-01-01T00:00:00Z'],
    },
    ints: { timeoutSeconds: [1, 86400], maxAttempts: [1, 10], priority: [-1000, 1000] },
    strings: { command: true },
  },
  'finish-task': {
    valid: { exitCode: 0, stdout: 'ok\n', stderr: '', outputTruncated: false, error: null },
    optional: false,
    wrong: {
      exitCode: ['0', true, [], {}],
      stdout: [null, 1, [], {}],
      stderr: [null, 1, ['x'], {}],
      outputTruncated: ['yes', 1, null, []],
      error: [1, true, [], {}],
      usage: [
        1,
        'fast',
        [],
        true,
        { cpuUserSeconds: -1 },
        { cpuUserSeconds: '1' },
        { cpuSystemSeconds: [] },
        { maxRssBytes: 1.5 },
        { maxRssBytes: 2 ** 60 },
        { maxRssBytes: -1 },
        { cpu: 1 },
      ],
    },
    ints: { exitCode: [-2147483648, 2147483647] },
    // docs/api.md: output is stored as UTF-8 with invalid text replaced, never refused
    strings: { stdout: false, stderr: false, error: false },
  },
  'send-output': {
    valid: { stdout: { offset: 0, data: 'hostile\n' } },
    optional: false,
    wrong: {
      stdout: [
        null,
        'text',
        1,
        [],
        { offset: -1, data: 'x' },
        { offset: 1.5, data: 'x' },
        { offset: '0', data: 'x' },
        { offset: 2 ** 53, data: 'x' },
        { offset: 0 },
        { data: 'x' },
        { offset: 0, data: 1 },
        { offset: 0, data: null },
        { offset: 0, data: 'x', zzz: 1 },
        // stored text holds no NUL (offsets count U+FFFD, 3 bytes, in its place)
        { offset: 0, data: 'a\u0000b' },
      ],
      stderr: [null, 'text', [], { offset: -1, data: 'x' }, { offset: 0, data: [] }],
    },
    ints: {},
    strings: {},
  },
  'create-schedule': {
    valid: {
      name: 'hostile',
      cron: '0 3 * * *',
      command: 'echo hostile',
      timezone: 'Europe/Berlin',
      timeoutSeconds: 600,
      priority: 0,
      labels: [],
      paused: false,
    },
    optional: false,
    wrong: {
      name: [42, null, true, [], {}, '', ' ', 'a\nb', 'n'.repeat(201)],
      cron: [
        42,
        null,
        [],
        {},
        '',
        '* * * *',
        '* * * * * * *',
        '61 * * * *',
        '@daily',
        '? * * * *',
        '0 0 31 2 *',
        '0 3 * * *\n',
        "0 3 * * *'; drop table schedules; --",
        'x'.repeat(201),
      ],
      command: [42, null, true, [], {}, ''],
      timezone: [42, null, [], {}, '', 'Mars/Olympus', '+01:00', 'UTC+1', '../../etc/passwd', 'Europe/Berlin ', 'A'.repeat(65)],
      timeoutSeconds: ['60', null, true, [], {}, 0, 86401],
      priority: ['1', null, true, [1], {}, 1001, -1001, 0.5],
      labels: ['gpu', {}, true, 1, [1], [null], [''], ['-a'], ['a'.repeat(64)], ['a\u0000'], [{}]],
      paused: ['yes', 1, null, [], {}],
    },
    ints: { timeoutSeconds: [1, 86400], priority: [-1000, 1000] },
    strings: { command: true, name: true },
  },
  'update-schedule': {
    valid: { paused: true },
    optional: false,
    wrong: {
      name: [42, null, true, [], {}, '', 'a\u0007b'],
      cron: [42, [], {}, '', '* * * *', '61 * * * *', '@hourly', '0 0 30 2 *'],
      command: [42, true, [], {}, ' '],
      timezone: [42, [], {}, '', 'Mars/Olympus', '-05:00'],
      timeoutSeconds: ['60', true, [], 0, 86401],
      paused: ['true', 0, [], {}],
    },
    ints: { timeoutSeconds: [1, 86400], priority: [-1000, 1000] },
    strings: { command: true, name: true },
  },
  'delete-schedule': EMPTY_BODY,
  'heartbeat-task': EMPTY_BODY,
  'cancel-task': EMPTY_BODY,
  'pick-task': EMPTY_BODY,
  'stop-agent': EMPTY_BODY,
};

type OpenApiOperation = {
  security?: Record<string, unknown>[];
  parameters?: { $ref?: string; name?: string }[];
  responses?: Record<string, unknown>;
};
type OpenApi = { paths: Record<string, Record<string, OpenApiOperation>>; components: { parameters: Record<string, { name: string }> } };
const OPENAPI = readYaml<OpenApi>('openapi.yaml');

/**
 * A route's audience and headers, from its operation in openapi.yaml (held against the route
 * table by test/deploy/template.test.ts); the auth cases below check the server agrees.
 */
function factsOf(route: Route): Facts {
  const operation = OPENAPI.paths[route.path]?.[route.method.toLowerCase()];
  if (operation === undefined)
    throw new Error(`${route.method} ${route.path} is not in openapi.yaml: its cases follow its security and parameters there`);
  const schemes = (operation.security ?? []).flatMap((alternative) => Object.keys(alternative));
  const audience: Audience = schemes.includes('agentBearer') ? 'agent' : schemes.includes('userBearer') ? 'user' : 'public';
  const headers = (operation.parameters ?? []).map((p) =>
    p.$ref ? OPENAPI.components.parameters[p.$ref.split('/').pop() as string]?.name : p.name,
  );
  // A create documents 201 (and 200 for an idempotent repeat), a delete 204; every other route answers 200.
  const okStatus = operation.responses?.['201'] !== undefined ? 201 : route.method === 'DELETE' ? 204 : 200;
  return {
    route,
    audience,
    leaseToken: headers.includes('X-Lease-Token'),
    okStatus,
    spec: takesBody(route) ? BODY_SPECS[route.dir] : undefined,
  };
}

/** Routes whose body is read (a GET's is ignored within its limit). */
function takesBody(route: Route): boolean {
  return route.method !== 'GET';
}

const isAgent = (f: Facts) => f.audience === 'agent';
const needsToken = (f: Facts) => f.audience !== 'public';
const takesLease = (f: Facts) => f.leaseToken;

const methodsAt = (template: string) => [...new Set(routes.filter((r) => r.path === template).map((r) => r.method))];

/** Body cases apply as sent to POST routes with a known shape; GET routes ignore a body (within its limit). */
const onBody = (b: Base, expect: Expectation): Expectation => (takesBody(b.route) && b.spec ? expect : 'ok');

const withBody = (b: Base, body: string | Buffer, extra: [string, string][] = [JSON_TYPE]): RawRequest => ({
  method: b.route.method,
  target: b.path,
  headers: [...b.headers, ...extra],
  body,
});

const jsonOf = (b: Base) => JSON.stringify(b.body ?? {});
/** The valid body with one field's JSON text replaced by raw JSON text. */
const replaceField = (b: Base, field: string, rawJson: string) =>
  `{${[...Object.entries(b.body ?? {}).filter(([k]) => k !== field), [field, undefined]]
    .map(([k, v]) => `${JSON.stringify(k)}:${k === field ? rawJson : JSON.stringify(v)}`)
    .join(',')}}`;
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
/** 413 for a body over the route's limit (pick and heartbeat take 4 KiB), else null. */
const overLimit = (b: Base, body: string): Expectation | null => (Buffer.byteLength(body) > b.route.bodyLimit ? 413 : null);

type FieldCase = {
  name: string;
  kind: 'wrong' | 'ints' | 'strings';
  make: (b: Base, spec: BodySpec, field: string) => { label: string; request: RawRequest; expect: Expectation }[];
};

const BODY_CASES: Case[] = [
  { name: 'malformed JSON', build: (b) => ({ request: withBody(b, '{"command": echo hi}'), expect: onBody(b, 400) }) },
  { name: 'truncated JSON', build: (b) => ({ request: withBody(b, jsonOf(b).slice(0, -1)), expect: onBody(b, 400) }) },
  { name: 'a JSON array holding the valid body', build: (b) => ({ request: withBody(b, `[${jsonOf(b)}]`), expect: onBody(b, 400) }) },
  { name: 'an empty JSON array', build: (b) => ({ request: withBody(b, '[]'), expect: onBody(b, 400) }) },
  { name: 'JSON null', build: (b) => ({ request: withBody(b, 'null'), expect: onBody(b, 400) }) },
  { name: 'a JSON string', build: (b) => ({ request: withBody(b, '"echo hi"'), expect: onBody(b, 400) }) },
  { name: 'a JSON number', build: (b) => ({ request: withBody(b, '42'), expect: onBody(b, 400) }) },
  { name: 'JSON true', build: (b) => ({ request: withBody(b, 'true'), expect: onBody(b, 400) }) },
  {
    name: 'an empty body',
    build: (b) => ({ request: withBody(b, ''), expect: onBody(b, b.spec?.optional ? 'ok' : 400) }),
  },
  { name: 'a body of whitespace', build: (b) => ({ request: withBody(b, ' \r\n\t '), expect: onBody(b, 400) }) },
  { name: 'two JSON objects', build: (b) => ({ request: withBody(b, `${jsonOf(b)}${jsonOf(b)}`), expect: onBody(b, 400) }) },
  { name: 'the valid body then garbage', build: (b) => ({ request: withBody(b, `${jsonOf(b)} x`), expect: onBody(b, 400) }) },
  // RFC 8259 §8.1 lets a parser ignore a byte order mark; the server does
  { name: 'a UTF-8 byte order mark before the valid body', build: (b) => ({ request: withBody(b, `\ufeff${jsonOf(b)}`), expect: 'ok' }) },
  {
    name: 'an unknown field',
    build: (b) => ({ request: withBody(b, JSON.stringify({ ...b.body, zzz: 1 })), expect: onBody(b, 400) }),
  },
  {
    name: 'a __proto__ field',
    build: (b) => ({
      request: withBody(b, `{"__proto__": {"polluted": 1}, ${jsonOf(b).slice(1)}`.replace(', }', '}')),
      expect: onBody(b, 400),
    }),
  },
  {
    name: 'a constructor field',
    build: (b) => ({ request: withBody(b, JSON.stringify({ ...b.body, constructor: { prototype: 1 } })), expect: onBody(b, 400) }),
  },
  { name: 'a key that is a lone surrogate', build: (b) => ({ request: withBody(b, '{"\\ud800": 1}'), expect: onBody(b, 400) }) },
  { name: 'a raw NUL byte outside strings', build: (b) => ({ request: withBody(b, Buffer.from('{\u0000}')), expect: onBody(b, 400) }) },
  ...(
    [
      ['0xff', [0xff]],
      ['an overlong "/" (0xc0 0xaf)', [0xc0, 0xaf]],
      ['a UTF-16 surrogate encoded in UTF-8 (0xed 0xa0 0x80)', [0xed, 0xa0, 0x80]],
      ['a truncated 3-byte sequence', [0xe2, 0x82]],
      ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ] as const
  ).map(
    ([what, bytes]): Case => ({
      name: `invalid UTF-8 in the body: ${what}`,
      build: (b) => ({
        request: withBody(
          b,
          Buffer.concat([
            Buffer.from('{"'),
            Buffer.from(bytes),
            Buffer.from(`": 1${jsonOf(b) === '{}' ? '' : `, ${jsonOf(b).slice(1, -1)}`}}`),
          ]),
        ),
        expect: onBody(b, 400),
      }),
    }),
  ),
  {
    name: 'a body nested 100,000 arrays deep',
    build: (b) => ({ request: withBody(b, deep(100000)), expect: overLimit(b, deep(100000)) ?? onBody(b, 400) }),
  },
  {
    name: 'an unknown field nested 100,000 arrays deep',
    build: (b) => {
      const body = replaceField(b, 'deep', deep(100000));
      return { request: withBody(b, body), expect: overLimit(b, body) ?? onBody(b, 400) };
    },
  },
  {
    name: 'a 10 MB body',
    build: (b) => ({ request: withBody(b, `{"pad": "${'x'.repeat(10 * 1000 * 1000)}"}`), expect: 413 }),
  },
  {
    name: 'a body one byte over the route limit',
    build: (b) => ({ request: withBody(b, Buffer.alloc(b.route.bodyLimit + 1, 0x20)), expect: 413 }),
  },
  {
    name: 'a body exactly at the route limit',
    build: (b) => {
      const json = jsonOf(b);
      // spaces are JSON whitespace: the valid body, padded to the limit
      return {
        request: withBody(b, Buffer.concat([Buffer.from(json), Buffer.alloc(b.route.bodyLimit - Buffer.byteLength(json), 0x20)])),
        expect: 'ok',
      };
    },
  },
  {
    name: 'a gzip-compressed valid body (Content-Encoding: gzip)',
    build: (b) => ({ request: withBody(b, gzipSync(jsonOf(b)), [JSON_TYPE, ['Content-Encoding', 'gzip']]), expect: 415 }),
  },
  {
    name: 'Content-Encoding: br on a plain body',
    build: (b) => ({ request: withBody(b, jsonOf(b), [JSON_TYPE, ['Content-Encoding', 'br']]), expect: 415 }),
  },
];

const FIELD_CASES: FieldCase[] = [
  {
    name: 'a wrong type',
    kind: 'wrong',
    make: (b, spec, field) =>
      (spec.wrong[field] ?? []).map((value) => ({
        label: JSON.stringify(value),
        request: withBody(b, replaceField(b, field, JSON.stringify(value))),
        expect: 400,
      })),
  },
  {
    name: 'a huge or fractional number',
    kind: 'ints',
    make: (b, spec, field) => {
      const [min, max] = spec.ints[field] as [number, number];
      const numbers = [
        '1e309',
        '-1e309',
        '18446744073709551616',
        '-0',
        '1.0000000001',
        '1e-400',
        '0.0',
        '1E2',
        '-2147483649',
        '2147483648',
        '86400.0000001',
        '1.5',
      ];
      const notJson = ['NaN', 'Infinity', '0x10', '+1', '01', '.5', '1.', '--1'];
      return [
        ...numbers.map((literal) => {
          const n = JSON.parse(literal) as number;
          return {
            label: literal,
            request: withBody(b, replaceField(b, field, literal)),
            expect: (Number.isInteger(n) && n >= min && n <= max ? 'ok' : 400) as Expectation,
          };
        }),
        ...notJson.map((literal) => ({
          label: `${literal} (not JSON)`,
          request: withBody(b, replaceField(b, field, literal)),
          expect: 400 as Expectation,
        })),
      ];
    },
  },
  {
    name: 'bad text',
    kind: 'strings',
    make: (b, spec, field) => {
      const refused = spec.strings[field] === true;
      return [
        { label: 'an escaped NUL (\\u0000)', raw: '"echo a\\u0000b"', expect: refused ? 400 : 'ok' },
        { label: 'a lone high surrogate (\\ud800)', raw: '"echo \\ud800"', expect: refused ? 400 : 'ok' },
        { label: 'a lone low surrogate (\\udfff)', raw: '"echo \\udfffx"', expect: refused ? 400 : 'ok' },
        { label: 'reversed surrogates (\\udc00\\ud800)', raw: '"echo \\udc00\\ud800"', expect: refused ? 400 : 'ok' },
        { label: 'a raw NUL byte', raw: '"echo a\u0000b"', expect: 400 },
        { label: 'a raw newline', raw: '"echo a\nb"', expect: 400 },
        { label: 'an invalid escape', raw: '"echo \\x41"', expect: 400 },
        { label: 'a truncated \\u escape', raw: '"echo \\u12"', expect: 400 },
      ].map(({ label, raw, expect }) => ({ label, request: withBody(b, replaceField(b, field, raw)), expect: expect as Expectation }));
    },
  },
];

const CONTENT_TYPE_CASES: Case[] = (
  [
    ['APPLICATION/JSON; charset=UTF-8', 'ok'],
    ['application/json;charset=utf-8', 'ok'],
    ['Application/Json', 'ok'],
    ['application/problem+json', 'ok'],
    ['application/jsonx', 415],
    ['application/json-x', 415],
    ['text/plain', 415],
    ['text/json', 415],
    ['application/x-www-form-urlencoded', 415],
    ['multipart/form-data; boundary=x', 415],
    ['json', 415],
    ['application/', 415],
    ['', 415],
    ['application/json, text/plain', 415],
  ] as const
).map(
  ([type, expect]): Case => ({
    name: `Content-Type ${JSON.stringify(type)}`,
    build: (b) => ({ request: withBody(b, jsonOf(b), [['Content-Type', type]]), expect: onBody(b, expect) }),
  }),
);

CONTENT_TYPE_CASES.push(
  { name: 'no Content-Type on a JSON body', build: (b) => ({ request: withBody(b, jsonOf(b), []), expect: onBody(b, 415) }) },
  {
    name: 'two Content-Type headers',
    build: (b) => ({ request: withBody(b, jsonOf(b), [JSON_TYPE, JSON_TYPE]), expect: onBody(b, 415) }),
  },
);

const withQuery = (b: Base, query: string, expect: Expectation): { request: RawRequest; expect: Expectation } => ({
  request: {
    method: b.route.method,
    target: `${b.path}?${query}`,
    headers: [...b.headers, ...(b.body ? [JSON_TYPE] : [])],
    body: b.body ? jsonOf(b) : undefined,
  },
  expect,
});
/** Public routes take no parameters and ignore them (health checkers add cache busters). */
const unknownParam = (b: Base): Expectation => (b.audience === 'public' ? 'ok' : 400);

const QUERY_CASES: Case[] = [
  { name: 'an unknown query parameter', build: (b) => withQuery(b, 'zzz=1', unknownParam(b)) },
  { name: 'a repeated unknown query parameter', build: (b) => withQuery(b, 'a=1&a=2', unknownParam(b)) },
  { name: 'a query key that is not UTF-8', build: (b) => withQuery(b, '%FF=1', unknownParam(b)) },
  { name: 'an empty query key', build: (b) => withQuery(b, '=', unknownParam(b)) },
  { name: 'a key without a value', build: (b) => withQuery(b, 'x', unknownParam(b)) },
  // no parameter at all: the same as no query
  { name: 'only separators', build: (b) => withQuery(b, '&&&', 'ok') },
  { name: 'a __proto__ query key', build: (b) => withQuery(b, '__proto__=1&__proto__[x]=2', unknownParam(b)) },
  { name: 'a constructor query key', build: (b) => withQuery(b, 'constructor=x', unknownParam(b)) },
  { name: 'a NUL query key', build: (b) => withQuery(b, '%00=1', unknownParam(b)) },
  { name: 'a query string of 8000 characters', build: (b) => withQuery(b, `zzz=${'x'.repeat(8000 - b.path.length)}`, unknownParam(b)) },
  { name: 'a request target over the URL limit', build: (b) => withQuery(b, `zzz=${'x'.repeat(MAX_URL_LENGTH)}`, 414) },
];

/** Parameters of the routes that take some: values that must be refused, and a few that may pass. */
const PARAM_CASES: Record<string, [query: string, expect: Expectation][]> = {
  'list-tasks': [
    ...['1e3', '-0', '18446744073709551616', '0x10', '1.0', '%205', '5%20', '%2B5', '1e309', 'NaN', 'Infinity', '', '%00', '0'].map(
      (v): [string, Expectation] => [`limit=${v}`, 400],
    ),
    ['limit=5&limit=5', 400],
    ['limit=1000', 'ok'],
    ['state=queued&state=queued', 'ok'],
    ['state=queued%2Crunning', 'ok'],
    ...['%00', 'queued%00', 'QUEUED', 'queued,,running', 'queued%3Bdrop%20table%20tasks', '%FF', 'queued,'].map(
      (v): [string, Expectation] => [`state=${v}`, 400],
    ),
    ['label=gpu', 'ok'],
    ['label=gpu%2Clinux&label=x', 'ok'],
    ...['', '%00', '-gpu', 'a%20b', '%FF', 'gpu,', 'a'.repeat(64)].map((v): [string, Expectation] => [`label=${v}`, 400]),
    ['cursor=djE6MQ', 'ok'],
    ['cursor=djE6MQ&cursor=djE6MQ', 400],
    ...['djE6MA', 'djE6LTE', '%00', "'%3B--", 'djE6MQ%3D%3D', 'A'.repeat(5000), 'djE6MTg0NDY3NDQwNzM3MDk1NTE2MTY'].map(
      (v): [string, Expectation] => [`cursor=${v}`, 400],
    ),
  ],
  'read-output': [
    ...['stdin', '', 'STDOUT', 'stdout%00', 'stdout,stderr', '%FF'].map((v): [string, Expectation] => [`stream=${v}`, 400]),
    ['stream=stdout&stream=stdout', 400],
    ...['-1', '1.5', '1e3', 'abc', '%00', '', '0x10', '%2B1', '%201', '1%20', '99999999999999999', '18446744073709551616'].map(
      (v): [string, Expectation] => [`offset=${v}`, 400],
    ),
    ['offset=0&offset=0', 400],
    ...['21', '-1', 'abc', '1e1', '', '0.0001', 'NaN', '%00'].map((v): [string, Expectation] => [`wait=${v}`, 400]),
    ['wait=0', 'ok'],
    ['stream=stderr&offset=5', 'ok'],
    ['stream=stdout&offset=0&wait=0', 'ok'],
  ],
  'pick-task': [
    ...['1e309', '-0', '-1', '21', '20.0001', 'NaN', 'Infinity', '0x1', '1e1', '%201', '%00', '', '0.0001', 'abc'].map(
      (v): [string, Expectation] => [`wait=${v}`, 400],
    ),
    ['wait=0&wait=0', 400],
    ['wait=0', 'ok'],
  ],
};

const HEADER_CASES: Case[] = [
  // within the 16 KiB of request line and headers docs/api.md allows
  { name: 'an 8 KiB header value', build: (b) => withHeaders(b, [['X-Junk', 'x'.repeat(8192)]], 'ok') },
  { name: 'a 20 KiB header value', build: (b) => withHeaders(b, [['X-Junk', 'x'.repeat(20 * 1024)]], 431) },
  {
    name: '300 extra headers',
    build: (b) =>
      withHeaders(
        b,
        Array.from({ length: 300 }, (_, i): [string, string] => [`X-H${i}`, 'v']),
        'ok',
      ),
  },
  { name: 'an X-Agent-Id of 8 KiB', applies: isAgent, build: (b) => withAgentId(b, 'a'.repeat(8192), 400) },
  { name: 'an X-Agent-Id that is not ASCII', applies: isAgent, build: (b) => withAgentId(b, 'agent-\u00e9', 400) },
  { name: 'an empty X-Agent-Id', applies: isAgent, build: (b) => withAgentId(b, '', 400) },
  { name: 'an X-Agent-Id with a tab', applies: isAgent, build: (b) => withAgentId(b, 'agent\ta', 400) },
  // Joined into one value ("agent-a, agent-b"), a valid id: another agent than the task's holder,
  // and than the agent POST /agents/{id}/stop names (an agent stops only itself: 400)
  {
    name: 'two X-Agent-Id headers',
    build: (b) => withHeaders(b, [['X-Agent-Id', 'agent-b']], b.leaseToken ? 409 : b.route.dir === 'stop-agent' ? 400 : 'ok'),
  },
  { name: 'an X-Lease-Token of 8 KiB', applies: takesLease, build: (b) => withLease(b, 'f'.repeat(8192)) },
  { name: 'an X-Lease-Token with SQL', applies: takesLease, build: (b) => withLease(b, "' or '1'='1") },
  { name: 'the X-Lease-Token "pick"', applies: takesLease, build: (b) => withLease(b, 'pick') },
  { name: 'a zero-UUID X-Lease-Token', applies: takesLease, build: (b) => withLease(b, ZERO_UUID) },
  {
    name: 'two X-Lease-Token headers',
    applies: takesLease,
    build: (b) =>
      withHeaders(
        b,
        b.headers.filter(([n]) => n === 'X-Lease-Token'),
        409,
      ),
  },
  {
    name: 'an Idempotency-Key of 8 KiB',
    build: (b) => withHeaders(b, [['Idempotency-Key', 'k'.repeat(8192)]], b.route.dir === 'create-task' ? 400 : 'ok'),
  },
  {
    name: 'an Idempotency-Key that is not ASCII',
    build: (b) => withHeaders(b, [['Idempotency-Key', 'cl\u00e9']], b.route.dir === 'create-task' ? 400 : 'ok'),
  },
  {
    name: 'an X-Agent-Labels that breaks the label rule',
    build: (b) => withHeaders(b, [['X-Agent-Labels', 'gpu,,x']], b.route.dir === 'pick-task' ? 400 : 'ok'),
  },
  {
    name: 'an X-Agent-Labels of 8 KiB',
    build: (b) => withHeaders(b, [['X-Agent-Labels', 'a,'.repeat(4096)]], b.route.dir === 'pick-task' ? 400 : 'ok'),
  },
  { name: 'Expect: 100-continue', build: (b) => withHeaders(b, [['Expect', '100-continue']], 'ok') },
  { name: 'an Expect other than 100-continue', build: (b) => withHeaders(b, [['Expect', 'the-unexpected']], 417) },
];

function baseRequest(b: Base, headers = b.headers): RawRequest {
  return {
    method: b.route.method,
    target: b.path,
    headers: [...headers, ...(b.body ? [JSON_TYPE] : [])],
    body: b.body ? jsonOf(b) : undefined,
  };
}
function withHeaders(b: Base, extra: [string, string][], expect: Expectation) {
  const request = baseRequest(b);
  return { request: { ...request, headers: [...(request.headers ?? []), ...extra] }, expect };
}
function withAgentId(b: Base, id: string, expect: Expectation) {
  return { request: baseRequest(b, [...b.headers.filter(([n]) => n !== 'X-Agent-Id'), ['X-Agent-Id', id]]), expect };
}
function withLease(b: Base, token: string) {
  return {
    request: baseRequest(b, [...b.headers.filter(([n]) => n !== 'X-Lease-Token'), ['X-Lease-Token', token]]),
    expect: 409 as Expectation,
  };
}

/** Malformed at the HTTP level: Node's parser refuses them before any route runs. */
const WIRE_CASES: Case[] = (
  [
    ['a header value with a bare LF', [['X-Junk', 'a\nX-Injected: 1']]],
    ['a header value with a bare CR', [['X-Junk', 'a\rX-Injected: 1']]],
    ['a header value with a NUL', [['X-Junk', 'a\u0000b']]],
    ['an obs-fold continuation line', [['X-Junk', 'a\r\n folded']]],
    ['a header name with a space', [['X Junk', 'a']]],
    ['a header line without a colon', [['X-Junk-No-Colon\r\nX-Other', 'a']]],
    [
      'Content-Length and Transfer-Encoding together',
      [
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '5'],
      ],
    ],
    [
      'two different Content-Length headers',
      [
        ['Content-Length', '0'],
        ['Content-Length', '5'],
      ],
    ],
    ['Content-Length: -1', [['Content-Length', '-1']]],
    ['Content-Length: abc', [['Content-Length', 'abc']]],
  ] as const
).map(
  ([name, headers]): Case => ({
    name,
    build: (b) => ({
      request: {
        ...baseRequest(b),
        headers: [...b.headers, ...(headers as unknown as [string, string][])],
        body: undefined,
        noContentLength: true,
      },
      expect: 400,
    }),
  }),
);
WIRE_CASES.push(
  {
    name: 'a chunked body with a bad chunk size',
    build: (b) => ({
      request: {
        method: b.route.method,
        target: b.path,
        headers: [...b.headers, JSON_TYPE, ['Transfer-Encoding', 'chunked']],
        body: 'zz\r\n{}\r\n0\r\n\r\n',
        noContentLength: true,
      },
      expect: 400,
    }),
  },
  {
    name: 'a CRLF that smuggles a second header into X-Junk',
    // two well-formed headers on the wire; the point is that X-Injected never comes back
    build: (b) => withHeaders(b, [['X-Junk', 'a\r\nX-Injected: 1']], 'ok'),
  },
  {
    name: 'a lower-case method',
    build: (b) => ({ request: { ...baseRequest(b), method: b.route.method.toLowerCase() }, expect: 400 }),
  },
);

const AUTH_CASES: Case[] = (
  [
    ['no Authorization', () => []],
    ['a wrong bearer token', () => [['Authorization', 'Bearer wrong']]],
    ['Bearer with no token', () => [['Authorization', 'Bearer']]],
    ['Bearer and a space', () => [['Authorization', 'Bearer ']]],
    ['Basic credentials', () => [['Authorization', `Basic ${Buffer.from('user:pass').toString('base64')}`]]],
    ['the right token without the Bearer scheme', (t: string) => [['Authorization', t]]],
    ['the right token twice in one header', (t: string) => [['Authorization', `Bearer ${t}, Bearer ${t}`]]],
    [
      'two Authorization headers with the right token',
      (t: string) => [
        ['Authorization', `Bearer ${t}`],
        ['Authorization', `Bearer ${t}`],
      ],
    ],
    [
      'the right token then a wrong one',
      (t: string) => [
        ['Authorization', `Bearer ${t}`],
        ['Authorization', 'Bearer wrong'],
      ],
    ],
    [
      'a wrong token then the right one',
      (t: string) => [
        ['Authorization', 'Bearer wrong'],
        ['Authorization', `Bearer ${t}`],
      ],
    ],
    ['the right token with a suffix', (t: string) => [['Authorization', `Bearer ${t}x`]]],
    ['a prefix of the right token', (t: string) => [['Authorization', `Bearer ${t.slice(0, -1)}`]]],
    ['the right token and another word', (t: string) => [['Authorization', `Bearer ${t} extra`]]],
    ['a 10 KiB token', () => [['Authorization', `Bearer ${'t'.repeat(10 * 1024)}`]]],
    ['a token with bytes outside ASCII', (t: string) => [['Authorization', `Bearer ${t}\u00e9`]]],
    ['the other audience’s token', (_t: string, other: string) => [['Authorization', `Bearer ${other}`]]],
    ['the right token in X-Authorization', (t: string) => [['X-Authorization', `Bearer ${t}`]]],
  ] as [string, (token: string, other: string) => [string, string][]][]
).map(
  ([name, auth]): Case => ({
    name,
    applies: needsToken,
    build: (b) => {
      const [token, other] = b.audience === 'user' ? [API_TOKEN, AGENT_TOKEN] : [AGENT_TOKEN, API_TOKEN];
      return { request: baseRequest(b, [...b.headers.filter(([n]) => n !== 'Authorization'), ...auth(token, other)]), expect: 401 };
    },
  }),
);
AUTH_CASES.push(
  {
    name: 'the right token as an access_token query parameter',
    applies: needsToken,
    build: (b) => ({
      request: {
        ...baseRequest(
          b,
          b.headers.filter(([n]) => n !== 'Authorization'),
        ),
        target: `${b.path}?access_token=${b.audience === 'user' ? API_TOKEN : AGENT_TOKEN}`,
      },
      expect: 401,
    }),
  },
  {
    name: 'a lower-case scheme and extra spaces around the right token',
    applies: needsToken,
    build: (b) => {
      const token = b.audience === 'user' ? API_TOKEN : AGENT_TOKEN;
      return {
        request: baseRequest(b, [...b.headers.filter(([n]) => n !== 'Authorization'), ['Authorization', `bearer   ${token}  `]]),
        // docs/api.md: the scheme may be written in any case
        expect: 'ok',
      };
    },
  },
  {
    name: 'a garbage Authorization on an open endpoint',
    applies: (f) => f.audience === 'public',
    build: (b) => ({ request: baseRequest(b, [['Authorization', 'Bearer \u00ff\u00fe']]), expect: 'ok' }),
  },
);

/** Methods the table does not have at this path: 405 with Allow (HEAD included: API Gateway does not map it to GET). */
const METHOD_CASES: Case[] = ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'HEAD', 'GET', 'POST'].map(
  (method): Case => ({
    name: `method ${method}`,
    applies: (f) => !methodsAt(f.route.path).includes(method as Route['method']),
    build: (b) => ({ request: { ...baseRequest(b), method, body: method === 'HEAD' ? undefined : baseRequest(b).body }, expect: 405 }),
  }),
);
METHOD_CASES.push({ name: 'an unknown method token', build: (b) => ({ request: { ...baseRequest(b), method: 'BREW' }, expect: 400 }) });

/** Expands per-field cases into one case per field and value. */
function fieldCases(route: Route): Case[] {
  const spec = BODY_SPECS[route.dir];
  if (!spec || !takesBody(route)) return [];
  const out: Case[] = [];
  for (const fc of FIELD_CASES) {
    const fields = Object.keys(fc.kind === 'wrong' ? spec.wrong : fc.kind === 'ints' ? spec.ints : spec.strings);
    for (const field of fields) {
      // one dry run to learn the labels; the real request is built against the live seed
      const labels = fc.make(fakeBase(route, spec), spec, field).map((c) => c.label);
      labels.forEach((label, i) => {
        out.push({
          name: `${field}: ${fc.name}, ${label}`,
          build: (b) => {
            const made = fc.make(b, spec, field)[i];
            if (!made) throw new Error(`${field}: ${fc.name} made no case ${i} (${label})`);
            return { request: made.request, expect: made.expect };
          },
        });
      });
    }
  }
  return out;
}

function paramCases(route: Route): Case[] {
  return (PARAM_CASES[route.dir] ?? []).map(([query, expect]) => ({
    name: `query ${query.length > 60 ? `${query.slice(0, 60)}…` : query}`,
    build: (b) => withQuery(b, query, expect),
  }));
}

function fakeBase(route: Route, spec: BodySpec | undefined): Base {
  return { route, audience: 'user', leaseToken: false, okStatus: 200, path: route.path, headers: [], body: spec?.valid, spec };
}

/** Path tricks, sent with GET and POST, each with the user's and the agent's token. */
const pathTricks = (s: Seeded): [name: string, target: string, expect: number | 'rejected' | { sameAs: string }][] => [
  ['/tasks/../tasks', '/tasks/../tasks', 'rejected'],
  ['/tasks/./pick', '/tasks/./pick', 'rejected'],
  ['/tasks/%2e%2e/x', '/tasks/%2e%2e/x', 'rejected'],
  ['/tasks/%2e%2e', '/tasks/%2e%2e', 'rejected'],
  ['/tasks/..%2ftasks', '/tasks/..%2ftasks', 'rejected'],
  ['/tasks/%00', '/tasks/%00', 'rejected'],
  ['/tasks/%00/finish', '/tasks/%00/finish', 'rejected'],
  ['/tasks/pick/finish', '/tasks/pick/finish', 'rejected'],
  ['/tasks/pick/heartbeat', '/tasks/pick/heartbeat', 'rejected'],
  ['/tasks/pick/cancel', '/tasks/pick/cancel', 'rejected'],
  ['/tasks/pick%00', '/tasks/pick%00', 'rejected'],
  ['/tasks/PICK/finish', '/tasks/PICK/finish', 'rejected'],
  ['/tasks/{uuid}%20', `/tasks/${s.running}%20`, 'rejected'],
  ['/tasks/{uuid}%20/finish', `/tasks/${s.running}%20/finish`, 'rejected'],
  ['/tasks/%20{uuid}/heartbeat', `/tasks/%20${s.running}/heartbeat`, 'rejected'],
  ['/tasks/{uuid}%2Ffinish', `/tasks/${s.running}%2Ffinish`, 'rejected'],
  ['/tasks%2F{uuid}', `/tasks%2F${s.running}`, 'rejected'],
  ['/tasks/{uuid}/finish%2F', `/tasks/${s.running}/finish%2F`, 'rejected'],
  ['/tasks/{uuid}/finish/..', `/tasks/${s.running}/finish/..`, 'rejected'],
  ['/tasks/{uuid};x=1', `/tasks/${s.queued};x=1`, 'rejected'],
  ['/tasks/{uuid}%0d%0aSet-Cookie:%20a=b', `/tasks/${s.queued}%0d%0aSet-Cookie:%20a=b`, 'rejected'],
  ['/tasks/{uuid starting with a Cyrillic а}', `/tasks/%D0%B0${s.queued.slice(1)}`, 'rejected'],
  ['/tasks/%ZZ', '/tasks/%ZZ', 'rejected'],
  ['/tasks/%', '/tasks/%', 'rejected'],
  ['/tasks/%E0%A4%A', '/tasks/%E0%A4%A', 'rejected'],
  ['/tasks/%C0%AF (overlong /)', '/tasks/%C0%AF', 'rejected'],
  ['/tasks/{5000 characters}', `/tasks/${'a'.repeat(5000)}`, 'rejected'],
  ['/agents/{another agent}/stop', '/agents/someone-else/stop', 'rejected'],
  ['/agents/%00/stop', '/agents/%00/stop', 'rejected'],
  ['/agents/{201 characters}/stop', `/agents/${'a'.repeat(201)}/stop`, 'rejected'],
  ['/agents//stop', '/agents//stop', 'rejected'],
  ['/agents/x/stop/..', '/agents/x/stop/..', 'rejected'],
  ['/metrics/..', '/metrics/..', 'rejected'],
  ['//tasks', '//tasks', 'rejected'],
  ['/tasks//pick', '/tasks//pick', 'rejected'],
  ['/%74asks', '/%74asks', 'rejected'],
  ['/tasks\\pick', '/tasks\\pick', 'rejected'],
  ['/tasks/{uuid}/finish/again', `/tasks/${s.running}/finish/again`, 'rejected'],
  ['*', '*', 'rejected'],
  ['a path over the URL limit', `/tasks/${'a'.repeat(MAX_URL_LENGTH)}`, 414],
  ['a target with a space', '/tasks /x', 400],
  ['a target with a raw NUL', '/tasks/\u0000', 400],
  ['a target with a raw byte outside ASCII', '/tasks/\u00e9', 400],
  // served as the path they spell (Express matches case-insensitively and ignores a trailing
  // slash, ids are UUIDs in any case, an absolute-form target is its path), though API
  // Gateway would not route the first two: harmless
  ['/TASKS', '/TASKS', { sameAs: '/tasks' }],
  ['/tasks/{uuid}/ (trailing slash)', `/tasks/${s.queued}/`, { sameAs: `/tasks/${s.queued}` }],
  ['/tasks/{UUID}', `/tasks/${s.queued.toUpperCase()}`, { sameAs: `/tasks/${s.queued}` }],
  ['absolute-form http://evil.example/tasks', 'http://evil.example/tasks', { sameAs: '/tasks' }],
];

describe.each(stores)('hostile input on $name', (store) => {
  let server: TestServer;
  let seeded: Seeded;
  let dirty = true;
  const counts = { requests: 0, rejected: 0, accepted: 0 };

  /** Every row of the tasks and task_output tables, every column, in insertion order. */
  const snapshot = async () => ({
    tasks: await server.db.query('select * from tasks order by seq'),
    output: await server.db.query('select * from task_output order by task_id, stream, start_offset'),
    schedules: await server.db.query('select * from schedules order by name'),
  });
  const userAuth: [string, string] = ['Authorization', `Bearer ${API_TOKEN}`];
  const agentAuth: [string, string] = ['Authorization', `Bearer ${AGENT_TOKEN}`];

  /** A running task held by AGENT and a queued one, on an otherwise empty table. */
  async function reseed(): Promise<void> {
    await server.db.query('delete from tasks');
    await server.db.query('delete from schedules');
    const post = async (command: string) => {
      const reply = await call(server.url, 'POST', '/tasks', {
        body: { command, timeoutSeconds: 86400 },
        headers: { authorization: userAuth[1] },
      });
      expect(reply.status).toBe(201);
      return (reply.body as { id: string }).id;
    };
    const running = await post('sleep 100');
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: { authorization: agentAuth[1], 'x-agent-id': AGENT } });
    expect(picked.body).toMatchObject({ id: running, state: 'running' });
    const queued = await post('echo queued');
    // paused: no tick of it may add a task while a case runs
    const schedule = await call(server.url, 'POST', '/schedules', {
      body: { name: 'seeded', cron: '0 3 * * *', command: 'echo seeded', paused: true },
      headers: { authorization: userAuth[1] },
    });
    expect(schedule.status).toBe(201);
    seeded = {
      running,
      queued,
      leaseToken: (picked.body as { leaseToken: string }).leaseToken,
      schedule: (schedule.body as { id: string }).id,
    };
    dirty = false;
  }

  async function baseFor(f: Facts): Promise<Base> {
    if (dirty) await reseed();
    // POST /agents/{id}/stop names the calling agent itself; a schedule route a seeded schedule; task routes a seeded task.
    const id = f.route.path.startsWith('/agents/')
      ? encodeURIComponent(AGENT)
      : f.route.path.startsWith('/schedules/')
        ? seeded.schedule
        : f.leaseToken
          ? seeded.running
          : seeded.queued;
    const path = f.route.path.replace('{id}', id).replace('{file}', asset);
    const headers: [string, string][] =
      f.audience === 'public' ? [] : f.audience === 'user' ? [userAuth] : [agentAuth, ['X-Agent-Id', AGENT]];
    if (f.leaseToken) headers.push(['X-Lease-Token', seeded.leaseToken]);
    return { ...f, path, headers, body: takesBody(f.route) ? (f.spec?.valid ?? {}) : undefined };
  }

  /** Sends one request and checks everything that holds for every answer. */
  async function send(request: RawRequest, expectation: Exclude<Expectation, 'ok'>): Promise<RawReply> {
    if (dirty) await reseed();
    const before = await snapshot();
    const reply = await rawRequest(server.url, request);
    counts.requests++;
    // an accepted request may have claimed, finished or canceled a seeded task
    if (reply.status < 400) dirty = true;
    const context = `${request.method} ${request.target.slice(0, 120)} -> ${reply.status} ${reply.text.slice(0, 300)}`;
    expect({ context, serverError: reply.status >= 500 }).toEqual({ context, serverError: false });
    if (typeof expectation === 'number') expect({ context, status: reply.status }).toEqual({ context, status: expectation });
    if (expectation === 'rejected') expect({ context, rejected: reply.status >= 400 }).toEqual({ context, rejected: true });
    expect(reply.headers['set-cookie']).toBeUndefined();
    expect(reply.headers['x-injected']).toBeUndefined();
    if (reply.status >= 400) {
      counts.rejected++;
      // HEAD answers carry no body
      if (request.method === 'HEAD') expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
      else expectProblem(reply, reply.status);
      if (reply.status === 401) expect(reply.headers['www-authenticate']).toMatch(/^Bearer /);
      if (reply.status === 405) expect(reply.headers.allow).toMatch(/GET|POST/);
      expect(reply.text).not.toContain(API_TOKEN);
      expect(reply.text).not.toContain(AGENT_TOKEN);
      expect(await snapshot()).toEqual(before);
    } else {
      counts.accepted++;
    }
    return reply;
  }

  /** A file GET /assets/{file} serves: the dashboard's script, under its hashed name. */
  let asset = '';

  beforeAll(async () => {
    await ensureDashboard();
    asset = loadDashboard(findDashboardDir() as string).script;
    // A long lease: no row may change on its own while a case runs.
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN, LEASE_SECONDS: '3600' });
  });
  afterAll(async () => {
    console.log(`hostile input on ${store.name}: ${counts.requests} requests, ${counts.rejected} rejected, ${counts.accepted} accepted`);
    await server?.stop();
  });

  const perRoute = (route: Route): Case[] => [
    ...BODY_CASES,
    ...fieldCases(route),
    ...CONTENT_TYPE_CASES,
    ...QUERY_CASES,
    ...paramCases(route),
    ...HEADER_CASES,
    ...WIRE_CASES,
    ...AUTH_CASES,
    ...METHOD_CASES,
  ];

  describe.each(routes.map((route) => [`${route.method} ${route.path}`, factsOf(route)] as const))('%s', (_name, facts) => {
    const cases = perRoute(facts.route).filter((c) => c.applies?.(facts) ?? true);
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_caseName, c) => {
      const built = c.build(await baseFor(facts));
      await send(built.request, built.expect === 'ok' ? facts.okStatus : built.expect);
    });

    it('still answers /health and serves a valid request afterwards', async () => {
      expect((await rawRequest(server.url, { method: 'GET', target: '/health' })).status).toBe(200);
      const base = await baseFor(facts);
      await send(baseRequest(base), facts.okStatus);
    });
  });

  describe('path tricks', () => {
    it.each(pathTricks({ running: 'R', queued: 'Q', leaseToken: '', schedule: 'S' }).map(([name], i) => [name, i] as const))(
      '%s',
      async (_name, i) => {
        if (dirty) await reseed();
        const [, target, expectation] = pathTricks(seeded)[i] as ReturnType<typeof pathTricks>[number];
        for (const method of ['GET', 'POST']) {
          for (const auth of [userAuth, agentAuth]) {
            const headers: [string, string][] = [auth, ['X-Agent-Id', AGENT], ['X-Lease-Token', seeded.leaseToken]];
            const request = (to: string): RawRequest => ({
              method,
              target: to,
              headers: method === 'POST' ? [...headers, JSON_TYPE] : headers,
              body: method === 'POST' ? '{}' : undefined,
            });
            if (typeof expectation !== 'object') {
              await send(request(target), expectation);
              continue;
            }
            // None of these requests changes a row: a GET, a 401 or a 405, or a create without a command.
            const canonical = await rawRequest(server.url, request(expectation.sameAs));
            await send(request(target), canonical.status);
          }
        }
      },
    );

    it('answers CONNECT with 405 problem+json', async () => {
      await send({ method: 'CONNECT', target: 'evil.example:443', headers: [['Host', 'evil.example:443']] }, 405);
    });
  });

  it('still answers /health after everything', async () => {
    const reply = await call(server.url, 'GET', '/health');
    expect(reply.status).toBe(200);
  });

  describe('commands round-trip byte-exact through create, get, list and pick', () => {
    const EVERY_CONTROL = `${Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('')}\u007f`;
    const COMMANDS: [string, string][] = [
      ['emoji and a ZWJ family', 'echo 😀 👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈'],
      ['double, single and back quotes', `echo "double" 'single' \`back\` "it's" '"'`],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, sent as text
      ['command and parameter substitution', "echo $(whoami) ${HOME:-x} $((1 + 2)) $'\\n'"],
      ['backticks', 'echo `date` `echo \\`nested\\``'],
      ['newlines', 'echo a\necho b\n'],
      ['CRLF and a lone CR', 'echo a\r\necho b\r'],
      ['tabs', '\techo\ta\t'],
      ['RTL text and bidi overrides', 'echo שלום עולם مرحبا \u202Eevil\u202C \u2067x\u2069'],
      ['combining characters', 'echo e\u0301 n\u0303 Z\u0351\u0336\u0489 \u1100\u1161\u11a8'],
      ['backslashes and JSON escapes', 'printf "%s\\n" "\\\\" \\" \\/ \\u0041 \\t'],
      ['every ASCII control character but NUL', `echo '${EVERY_CONTROL}'`],
      ['Unicode edge code points', 'echo \u2028\u2029\ufeff\ufffd\uffff\ufffe\u{10ffff}\u{1f4a9}\u00a0'],
      ['leading and trailing whitespace', '  echo x  \n\n'],
      ['shell metacharacters', 'a; b && c || d | e > f < g 2>&1 & ~ * ? [ ] { } ( ) ! # % ^'],
      ['64 KiB exactly of ASCII', 'x'.repeat(64 * 1024)],
      ['64 KiB exactly of 4-byte characters', '😀'.repeat(16 * 1024)],
      ['64 KiB exactly of 3-byte characters', `${'€'.repeat(21845)}x`],
    ];

    it.each(COMMANDS)('keeps %s', async (_what, command) => {
      await server.db.query('delete from tasks');
      dirty = true;
      const expected = Buffer.from(command, 'utf8');
      expect(expected.length).toBeLessThanOrEqual(64 * 1024);
      // sent twice: as JSON.stringify writes it, and with everything outside ASCII \u-escaped
      const asciiJson = JSON.stringify({ command }).replace(
        /[\u007f-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
      for (const body of [JSON.stringify({ command }), asciiJson]) {
        const created = await rawRequest(server.url, { method: 'POST', target: '/tasks', headers: [userAuth, JSON_TYPE], body });
        expect(created.status).toBe(201);
        const task = created.json as { id: string; command: string };
        expect(Buffer.from(task.command, 'utf8').equals(expected)).toBe(true);
        const shown = await rawRequest(server.url, { method: 'GET', target: `/tasks/${task.id}`, headers: [userAuth] });
        expect(Buffer.from((shown.json as { command: string }).command, 'utf8').equals(expected)).toBe(true);
        const listed = await rawRequest(server.url, { method: 'GET', target: '/tasks?state=queued', headers: [userAuth] });
        const item = (listed.json as { tasks: { id: string; command: string; commandTruncated?: boolean }[] }).tasks.find(
          (t) => t.id === task.id,
        );
        // List items carry the first LIST_COMMAND_MAX_CHARS characters (code points), flagged when cut.
        const points = [...command];
        expect(item?.command).toBe(points.slice(0, LIST_COMMAND_MAX_CHARS).join(''));
        expect(item?.commandTruncated).toBe(points.length > LIST_COMMAND_MAX_CHARS ? true : undefined);
        const picked = await rawRequest(server.url, { method: 'GET', target: '/tasks/pick', headers: [agentAuth, ['X-Agent-Id', AGENT]] });
        expect(picked.status).toBe(200);
        expect((picked.json as { id: string }).id).toBe(task.id);
        expect(Buffer.from((picked.json as { command: string }).command, 'utf8').equals(expected)).toBe(true);
        const [row] = await server.db.query<{ command: string }>('select command from tasks where id = $1::uuid', [task.id]);
        expect(row?.command).toBe(command);
      }
    });
  });
});

/**
 * A server without tokens (the loopback default) against the requests a web page can make:
 * a DNS rebinding name in Host (421), another site's Origin or Sec-Fetch-Site (403), on every
 * route that needs a token when one is set. Each request is otherwise valid, and changes nothing.
 */
describe.each(stores)('requests a web page makes, without tokens, on $name', (store) => {
  let server: TestServer;
  let seeded: Seeded;
  const snapshot = () => server.db.query('select * from tasks order by seq');
  const guarded = routes.filter((r) => r.audience !== 'public');

  beforeAll(async () => {
    server = await startTestServer(store, { LEASE_SECONDS: '3600' });
    const post = async (command: string) => (await call(server.url, 'POST', '/tasks', { body: { command } })).body as { id: string };
    const running = await post('sleep 100');
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: { 'x-agent-id': AGENT } });
    const queued = await post('echo queued');
    const schedule = await call(server.url, 'POST', '/schedules', {
      body: { name: 'seeded', cron: '0 3 * * *', command: 'true', paused: true },
    });
    seeded = {
      running: running.id,
      queued: queued.id,
      leaseToken: (picked.body as { leaseToken: string }).leaseToken,
      schedule: (schedule.body as { id: string }).id,
    };
  });
  afterAll(async () => {
    await server.stop();
  });

  const BROWSER_CASES: [name: string, status: number, headers: (port: number) => [string, string][]][] = [
    [
      'a DNS rebinding Host and Origin',
      421,
      (p) => [
        ['Host', `attacker.example:${p}`],
        ['Origin', `http://attacker.example:${p}`],
      ],
    ],
    ['a DNS rebinding Host alone', 421, (p) => [['Host', `rebind.attacker.example:${p}`]]],
    ['a loopback Host with another port', 421, (p) => [['Host', `127.0.0.1:${p + 1}`]]],
    ["another site's Origin", 403, () => [['Origin', 'https://attacker.example']]],
    ['Origin: null', 403, () => [['Origin', 'null']]],
    ['a local page on another port', 403, (p) => [['Origin', `http://127.0.0.1:${p + 1}`]]],
    ['Sec-Fetch-Site: cross-site without Origin', 403, () => [['Sec-Fetch-Site', 'cross-site']]],
    ['Sec-Fetch-Site: same-site without Origin', 403, () => [['Sec-Fetch-Site', 'same-site']]],
  ];

  describe.each(guarded.map((route) => [`${route.method} ${route.path}`, route] as const))('%s', (_name, route) => {
    it.each(BROWSER_CASES)('answers %s with %d problem+json and changes nothing', async (_case, status, headers) => {
      const own = route.audience === 'agent' && route.path.startsWith('/tasks/{id}/');
      const path = route.path.replace(
        '{id}',
        route.path.startsWith('/agents/')
          ? encodeURIComponent(AGENT)
          : route.path.startsWith('/schedules/')
            ? seeded.schedule
            : own
              ? seeded.running
              : seeded.queued,
      );
      const spec = takesBody(route) ? BODY_SPECS[route.dir] : undefined;
      const before = await snapshot();
      const reply = await rawRequest(server.url, {
        method: route.method,
        target: path,
        headers: [
          ...headers(server.port),
          ['X-Agent-Id', AGENT],
          ['X-Lease-Token', seeded.leaseToken],
          ...(takesBody(route) ? [JSON_TYPE] : []),
        ],
        body: takesBody(route) ? JSON.stringify(spec?.valid ?? {}) : undefined,
      });
      expect({ route: route.dir, status: reply.status }).toEqual({ route: route.dir, status });
      expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(reply.json).toMatchObject({ status, detail: expect.stringMatching(route.audience === 'user' ? /API_TOKEN/ : /AGENT_TOKEN/) });
      expect(await snapshot()).toEqual(before);
    });
  });
});

describe('the local adapter', () => {
  /** An app whose one route answers the v2 event it was given. */
  const echo: Route = {
    method: 'GET',
    path: '/echo',
    dir: 'echo',
    audience: 'public',
    bodyLimit: 1024,
    build: () => async (event) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) }),
  };
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // Short timeouts, checked often, so a stalled request is answered within the test.
    server = createServer(
      { headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 },
      createApp([echo], { logger: createLogger('error'), metrics: createMetrics() } as Deps),
    );
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('passes headers and query keys named __proto__ and constructor through as ordinary keys', async () => {
    const reply = await rawRequest(url, {
      method: 'GET',
      target: '/echo?constructor=c&__proto__=p',
      headers: [
        ['constructor', 'x'],
        ['__proto__', 'y'],
      ],
    });
    const event = reply.json as { headers: Record<string, string>; queryStringParameters: Record<string, string> };
    const own = (o: object, key: string) => Object.getOwnPropertyDescriptor(o, key)?.value;
    expect(own(event.headers, 'constructor')).toBe('x');
    expect(own(event.headers, '__proto__')).toBe('y');
    expect(own(event.queryStringParameters, 'constructor')).toBe('c');
    expect(own(event.queryStringParameters, '__proto__')).toBe('p');
  });

  it('does not serve HEAD with a GET route', async () => {
    const reply = await rawRequest(url, { method: 'HEAD', target: '/echo' });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET');
    expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('answers a request whose headers never end with 408 problem+json', async () => {
    const reply = await new Promise<RawReply>((resolve, reject) => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => {
        resolve(parseResponse(Buffer.concat(chunks), 'GET'));
      });
      socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    });
    expect(reply.status).toBe(408);
    expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(reply.json).toMatchObject({ status: 408 });
  });
});
