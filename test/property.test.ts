/**
 * Property-based hostile input (fast-check): random methods, paths, query strings, headers and
 * bodies, biased towards the shapes the routes expect so they get past the first check, thrown
 * at the Express app over real HTTP and at every Lambda handler of functions/routes.ts directly.
 * For every request: never a 5xx, never a throw, problem+json for every 4xx, and the tasks
 * table unchanged by every rejected request. PROPERTY_RUNS sets the runs per property and
 * store; FC_SEED replays a failure (fast-check prints the seed and path when one fails).
 */
import fc from 'fast-check';
import { type Route, routes } from '../functions/routes';
import type { Event, Result } from '../functions/shared/http';
import { stores } from './support/databases';
import { buildContext, buildEvent } from './support/events';
import { type RawRequest, rawRequest } from './support/raw-http';
import { call, startTestServer, type TestServer } from './support/server';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const API_TOKEN = 'property-api-token';
const AGENT_TOKEN = 'property-agent-token';
const AGENT = 'agent-a';

/** Placeholders for the live seeded values, filled in just before a request is sent. */
const RUNNING = '{running}';
const QUEUED = '{queued}';
const FINISHED = '{finished}';
const LEASE = '{lease}';
type Seeded = { running: string; queued: string; finished: string; leaseToken: string };
const fill = (s: string, seeded: Seeded) =>
  s
    .replaceAll(RUNNING, seeded.running)
    .replaceAll(QUEUED, seeded.queued)
    .replaceAll(FINISHED, seeded.finished)
    .replaceAll(LEASE, seeded.leaseToken);

// ---- arbitraries -------------------------------------------------------------------------

/** Any text: printable ASCII, any Unicode grapheme, or any UTF-16 code unit (lone surrogates too). */
const anyText = (maxLength = 24) =>
  fc.oneof(fc.string({ maxLength }), fc.string({ unit: 'grapheme', maxLength }), fc.string({ unit: 'binary', maxLength }));

const idLike = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(RUNNING, QUEUED, FINISHED) },
  fc.uuid(),
  fc.constantFrom('pick', 'PICK', '..', '.', '', ' ', '%00', '%2e%2e', '%2F', '%ZZ', '%', `${RUNNING}%20`, `${RUNNING.toUpperCase()}`),
  anyText(40),
);

/** Percent-encodes what a request target cannot hold raw (by UTF-8 byte), keeping the rest. */
const encodeTarget = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((b) =>
      b > 0x20 && b < 0x7f && b !== 0x3f && b !== 0x23 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

const pathArb = fc.oneof(
  // a route of the table, {id} filled with something id-like
  {
    weight: 6,
    arbitrary: fc.tuple(fc.constantFrom(...routes.map((r) => r.path)), idLike).map(([p, id]) => p.replace('{id}', encodeTarget(id))),
  },
  // a route with a random tail
  fc
    .tuple(fc.constantFrom(...routes.map((r) => r.path)), anyText(12))
    .map(([p, tail]) => encodeTarget(`${p.replace('{id}', RUNNING)}/${tail}`)),
  // random segments
  fc
    .array(fc.oneof(fc.constantFrom('tasks', 'pick', 'finish', 'heartbeat', 'cancel', 'health', '..', '.', ''), anyText(10)), {
      maxLength: 5,
    })
    .map((segments) => `/${segments.map(encodeTarget).join('/')}`),
);

const queryValue = fc.oneof(
  fc.constantFrom(
    'queued',
    'running,failed',
    'QUEUED',
    '0',
    '1',
    '1000',
    '1001',
    '-1',
    '1e3',
    '20',
    '21',
    '0.5',
    'djE6MQ',
    'djE6MA',
    '',
    'NaN',
    'stdout',
    'stderr',
  ),
  anyText(16),
);
const queryArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom('state', 'limit', 'cursor', 'wait', 'stream', 'offset', 'zzz', '__proto__', 'constructor', ''),
            anyText(8),
          ),
          queryValue,
        ),
        {
          maxLength: 4,
        },
      )
      .map((pairs) =>
        pairs
          .map(([k, v]) => `${encodeTarget(k).replaceAll('&', '%26').replaceAll('=', '%3D')}=${encodeTarget(v).replaceAll('&', '%26')}`)
          .join('&'),
      ),
  },
  anyText(30).map(encodeTarget),
);

const headerName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Authorization', 'Content-Type', 'X-Agent-Id', 'X-Lease-Token', 'Idempotency-Key') },
  fc.constantFrom(
    'Content-Encoding',
    'Expect',
    'Accept',
    'Cookie',
    'Host',
    'X-Forwarded-For',
    'authorization',
    'CONTENT-TYPE',
    '__proto__',
    'constructor',
  ),
  fc.string({ minLength: 1, maxLength: 12 }),
);
const headerValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      `Bearer ${API_TOKEN}`,
      `Bearer ${AGENT_TOKEN}`,
      'Bearer wrong',
      'application/json',
      'APPLICATION/JSON; charset=UTF-8',
      'text/plain',
      AGENT,
      LEASE,
      'gzip',
      '100-continue',
      'order-42',
    ),
  },
  // header values are sent as latin1: every byte 0-255, control characters included
  fc.string({ maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
  fc.nat({ max: 20000 }).map((n) => 'v'.repeat(n)),
);
/** Names this client must own: a random one could leave the server waiting for a body that never comes. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection']);
const headersArb = fc
  .array(fc.tuple(headerName, headerValue), { maxLength: 6 })
  .map((hs) => hs.filter(([n]) => !FRAMING.has(n.toLowerCase())) as [string, string][]);

const fieldNames = fc.constantFrom(
  'command',
  'timeoutSeconds',
  'maxAttempts',
  'exitCode',
  'stdout',
  'stderr',
  'outputTruncated',
  'state',
  'error',
  'zzz',
  '__proto__',
);
/** Output sends: a stream's chunk, well-formed or bent. */
const chunkValue = fc.record(
  {
    offset: fc.oneof(fc.constantFrom(0, 1, 3, -1, 1.5, 2 ** 53, '0', null), fc.nat()),
    data: fc.oneof(fc.constantFrom('hi\n', '', 'a\u0000b', '\ud800', '€'), anyText(20), fc.integer()),
    zzz: fc.constant(1),
  },
  { requiredKeys: [] },
);
const fieldValue = fc.oneof(
  chunkValue,
  fc.constantFrom(
    'echo hi',
    '',
    ' ',
    'a\u0000b',
    '\ud800',
    0,
    1,
    -1,
    1.5,
    86400,
    86401,
    2 ** 31,
    2 ** 64,
    -0,
    null,
    true,
    'succeeded',
    'running',
    'timed_out',
    [],
    {},
  ),
  fc.jsonValue({ maxDepth: 2 }),
  anyText(30),
);
const bodyArb: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  // objects shaped like the routes' bodies
  { weight: 5, arbitrary: fc.dictionary(fieldNames, fieldValue, { maxKeys: 5 }).map((o) => JSON.stringify(o)) },
  fc.json({ maxDepth: 3 }),
  anyText(60),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    '{',
    '{"command":',
    '[]',
    'null',
    '{"command": "echo \\ud800"}',
    `${'['.repeat(50000)}${']'.repeat(50000)}`,
    '{"exitCode": 1e309, "stdout": "", "stderr": ""}',
    `{"command": "echo", "timeoutSeconds": ${'['.repeat(50000)}${']'.repeat(50000)}}`,
  ),
);

const httpRequestArb = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'POST') }, fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD')),
  path: pathArb,
  query: queryArb,
  headers: headersArb,
  json: fc.boolean(),
  body: bodyArb,
});

const eventArb = fc.record({
  route: fc.constantFrom(...routes),
  method: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, fc.constantFrom('GET', 'POST', 'PUT', 'get')),
  id: fc.option(idLike, { nil: undefined }),
  headers: fc.option(
    fc.array(fc.tuple(fc.oneof(headerName, fc.constantFrom('x-agent-id', 'X-AGENT-ID')), fc.oneof(headerValue, anyText(20))), {
      maxLength: 6,
    }),
    { nil: undefined, freq: 8 },
  ),
  json: fc.boolean(),
  rawQueryString: fc.oneof(queryArb, anyText(30)),
  queryStringParameters: fc.option(
    fc.dictionary(fc.oneof(fc.constantFrom('state', 'limit', 'cursor', 'wait', 'stream', 'offset'), anyText(6)), queryValue, {
      maxKeys: 3,
    }),
    {
      nil: undefined,
    },
  ),
  body: fc.oneof(
    bodyArb.map((b) => (Buffer.isBuffer(b) ? b.toString('latin1') : b)),
    fc.constant(null),
  ),
  isBase64Encoded: fc.boolean(),
});

// ---- checks ------------------------------------------------------------------------------

/** Throws (failing the property) unless an answer is well-formed and, when an error, problem+json. */
function checkAnswer(status: number, contentType: string | undefined, body: string, context: string): void {
  if (!Number.isInteger(status) || status < 200 || status > 599) throw new Error(`bad status ${status}: ${context}`);
  if (status >= 500) throw new Error(`server error ${status}: ${context} -> ${body.slice(0, 300)}`);
  if (status < 400) return;
  if (!/^application\/problem\+json/.test(contentType ?? ''))
    throw new Error(`${status} without problem+json (${contentType}): ${context}`);
  if (body === '') return; // HEAD
  const problem = JSON.parse(body) as Record<string, unknown>;
  for (const key of ['type', 'title', 'detail']) {
    if (typeof problem[key] !== 'string' || !/\S/.test(problem[key] as string))
      throw new Error(`problem without ${key}: ${context} -> ${body}`);
  }
  if (problem.status !== status) throw new Error(`problem.status ${String(problem.status)} is not ${status}: ${context}`);
}

const describeRequest = (r: RawRequest) =>
  JSON.stringify({
    method: r.method,
    target: r.target.slice(0, 200),
    headers: r.headers?.map(([n, v]) => [n, v.slice(0, 80)]),
    body: String(r.body ?? '').slice(0, 200),
  });

describe.each(stores)('random requests on $name', (store) => {
  let server: TestServer;
  let seeded: Seeded;
  let dirty = true;
  const counts = { http: 0, lambda: 0, rejected: 0, skipped: 0 };
  const snapshot = async () =>
    JSON.stringify([
      await server.db.query('select * from tasks order by seq'),
      await server.db.query('select * from task_output order by task_id, stream, start_offset'),
    ]);

  /** A running task held by AGENT, a queued one and a finished one, on an otherwise empty table. */
  async function reseed(): Promise<void> {
    await server.db.query('delete from tasks');
    const user = { authorization: `Bearer ${API_TOKEN}` };
    const agent = { authorization: `Bearer ${AGENT_TOKEN}`, 'x-agent-id': AGENT };
    const post = async (command: string) =>
      ((await call(server.url, 'POST', '/tasks', { body: { command, timeoutSeconds: 86400 }, headers: user })).body as { id: string }).id;
    const finished = await post('echo finished');
    const first = await call(server.url, 'GET', '/tasks/pick', { headers: agent });
    const done = await call(server.url, 'POST', `/tasks/${finished}/finish`, {
      body: { exitCode: 0, stdout: '', stderr: '' },
      headers: { ...agent, 'x-lease-token': (first.body as { leaseToken: string }).leaseToken },
    });
    expect(done.status).toBe(200);
    const running = await post('sleep 100');
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agent });
    const queued = await post('echo queued');
    seeded = { running, queued, finished, leaseToken: (picked.body as { leaseToken: string }).leaseToken };
    dirty = false;
  }

  /** Runs one request (any kind) between two snapshots and checks the table rule. */
  async function guarded(send: () => Promise<{ status: number; contentType: string | undefined; body: string }>, context: () => string) {
    if (dirty) await reseed();
    const before = await snapshot();
    const answer = await send();
    checkAnswer(answer.status, answer.contentType, answer.body, context());
    const after = await snapshot();
    if (answer.status >= 400) {
      counts.rejected++;
      if (after !== before) throw new Error(`a rejected request (${answer.status}) changed the tasks table: ${context()}`);
    } else if (after !== before) {
      dirty = true;
    }
  }

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN, LEASE_SECONDS: '3600' });
  });
  afterAll(async () => {
    console.log(
      `property runs on ${store.name}: ${counts.http} over HTTP, ${counts.lambda} at the handlers, ${counts.rejected} rejected, ${counts.skipped} skipped (held picks); seed ${SEED ?? 'random (printed on failure)'}`,
    );
    await server?.stop();
  });

  it(`answers ${RUNS} random HTTP requests without a 5xx, with problem+json, changing nothing it rejects`, async () => {
    // fc.assert rejects with the shrunk counterexample when the property fails once
    await expect(
      fc.assert(
        fc.asyncProperty(httpRequestArb, async (r) => {
          if (dirty) await reseed();
          const target = fill(`${r.path}${r.query === '' ? '' : `?${r.query}`}`, seeded);
          // A valid wait with nothing queued holds the request for up to 20 s: not what is tested here.
          const waits = new URLSearchParams(target.split('?')[1] ?? '').getAll('wait');
          if (waits.some((w) => /^\d{1,2}(\.\d{1,3})?$/.test(w) && Number(w) > 0)) {
            counts.skipped++;
            fc.pre(false);
          }
          const headers = r.headers.map(([n, v]): [string, string] => [n, fill(v, seeded)]);
          if (r.json && r.body !== undefined) headers.push(['Content-Type', 'application/json']);
          const body = typeof r.body === 'string' ? fill(r.body, seeded) : r.body;
          const request: RawRequest = { method: r.method, target, headers, body: r.method === 'HEAD' ? undefined : body };
          counts.http++;
          await guarded(
            async () => {
              const reply = await rawRequest(server.url, request);
              return { status: reply.status, contentType: reply.headers['content-type'], body: reply.text };
            },
            () => describeRequest(request),
          );
          // never a crash: the server is still there
          const health = await rawRequest(server.url, { method: 'GET', target: '/health' });
          if (health.status !== 200) throw new Error(`/health answers ${health.status} after ${describeRequest(request)}`);
        }),
        { numRuns: RUNS, seed: SEED },
      ),
    ).resolves.toBeUndefined();
  }, 120000);

  it(`answers ${RUNS} random events at the Lambda handlers without a throw or a 5xx, changing nothing it rejects`, async () => {
    // fc.assert rejects with the shrunk counterexample when the property fails once
    await expect(
      fc.assert(
        fc.asyncProperty(eventArb, async (e) => {
          if (dirty) await reseed();
          const route: Route = e.route;
          const event: Event = buildEvent({ method: route.method, path: route.path });
          if (e.method !== undefined) event.requestContext.http.method = e.method;
          event.pathParameters = e.id === undefined ? undefined : { id: fill(e.id, seeded) };
          const headers = e.headers?.map(([n, v]): [string, string] => [n, fill(v, seeded)]);
          event.headers = headers === undefined ? (undefined as unknown as Event['headers']) : Object.fromEntries(headers);
          if (e.json && event.headers) event.headers['content-type'] = 'application/json';
          event.rawQueryString = fill(e.rawQueryString, seeded);
          event.queryStringParameters = e.queryStringParameters;
          event.body = e.body === null ? undefined : e.body === undefined ? undefined : fill(e.body, seeded);
          event.isBase64Encoded = e.isBase64Encoded;
          // Held picks end at once: the handler keeps a 3 s margin from the remaining time.
          const context = { ...buildContext(route.dir), getRemainingTimeInMillis: () => 3000 };
          counts.lambda++;
          await guarded(
            async () => {
              const result = (await route.build(server.deps)(event, context)) as Result;
              if (typeof result.body !== 'string' && result.statusCode !== 204) throw new Error(`no body from ${route.dir}`);
              return {
                status: result.statusCode ?? 200,
                contentType: result.headers?.['content-type'] as string | undefined,
                body: result.body ?? '',
              };
            },
            () => `${route.method} ${route.path} ${JSON.stringify(event).slice(0, 600)}`,
          );
        }),
        { numRuns: RUNS, seed: SEED },
      ),
    ).resolves.toBeUndefined();
  }, 120000);
});
