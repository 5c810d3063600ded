/**
 * docs/api.md's Errors over HTTP: every bad input answers its 4xx as problem+json, and nothing is
 * stored or changed.
 */
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, type Reply, startTestServer, type TestServer } from './support/server';

const JSON_TYPE = { 'content-type': 'application/json' };
const MiB = 1024 * 1024;

/** Ids and the lease of the tasks every case runs against. */
type Seeded = { running: string; queued: string; finished: string; leaseToken: string };
type Case = [name: string, status: number, send: (url: string, s: Seeded) => Promise<Reply>];

const createRaw =
  (raw: string | Buffer, headers: Record<string, string> = JSON_TYPE) =>
  (url: string) =>
    call(url, 'POST', '/tasks', { raw, headers });
const create = (body: unknown) => (url: string) => call(url, 'POST', '/tasks', { body });
const list = (query: string) => (url: string) => call(url, 'GET', `/tasks?${query}`);
const finishRunning =
  (body: unknown, headers: (s: Seeded) => Record<string, string> = (s) => agentHeaders('agent-a', { 'x-lease-token': s.leaseToken })) =>
  (url: string, s: Seeded) =>
    call(url, 'POST', `/tasks/${s.running}/finish`, { body, headers: headers(s) });
const OK_FINISH = { exitCode: 0, stdout: 'ok\n', stderr: '' };
const schedule = (change: Record<string, unknown>) => (url: string) =>
  call(url, 'POST', '/schedules', { body: { name: 'bad', cron: '0 3 * * *', command: 'true', ...change } });
const NO_SCHEDULE = '7d0c7a34-3c55-4c0e-9d43-000000000001';

const CASES: Case[] = [
  ['POST /tasks with malformed JSON', 400, createRaw('{"command": echo hi}')],
  ['POST /tasks with truncated JSON', 400, createRaw('{"command": "echo')],
  ['POST /tasks with a wrong content type', 415, createRaw('{"command": "echo hi"}', { 'content-type': 'text/plain' })],
  // A Buffer body makes fetch send no Content-Type at all.
  ['POST /tasks with no content type', 415, createRaw(Buffer.from('{"command": "echo hi"}'), {})],
  ['POST /tasks with a JSON array', 400, createRaw('[{"command": "echo hi"}]')],
  ['POST /tasks with JSON null', 400, createRaw('null')],
  ['POST /tasks with a JSON string', 400, createRaw('"echo hi"')],
  ['POST /tasks with an empty body', 400, createRaw('')],
  ['POST /tasks without a command', 400, create({ timeoutSeconds: 5 })],
  ['POST /tasks with a numeric command', 400, create({ command: 42 })],
  ['POST /tasks with an array command', 400, create({ command: ['echo', 'hi'] })],
  ['POST /tasks with an empty command', 400, create({ command: '' })],
  ['POST /tasks with a whitespace command', 400, create({ command: '  \n\t' })],
  ['POST /tasks with a command over 64 KiB', 400, create({ command: 'x'.repeat(64 * 1024 + 1) })],
  ['POST /tasks with a NUL in the command', 400, create({ command: 'echo a\u0000b' })],
  ['POST /tasks with an unknown field', 400, create({ command: 'true', prio: 1 })],
  ['POST /tasks with priority 1001', 400, create({ command: 'true', priority: 1001 })],
  ['POST /tasks with priority -1001', 400, create({ command: 'true', priority: -1001 })],
  ['POST /tasks with priority 1.5', 400, create({ command: 'true', priority: 1.5 })],
  ['POST /tasks with priority "5"', 400, create({ command: 'true', priority: '5' })],
  ['POST /tasks with priority null', 400, create({ command: 'true', priority: null })],
  ['POST /tasks with labels a string', 400, create({ command: 'true', labels: 'gpu' })],
  ['POST /tasks with a numeric label', 400, create({ command: 'true', labels: [1] })],
  ['POST /tasks with an empty label', 400, create({ command: 'true', labels: [''] })],
  ['POST /tasks with a label of 64 characters', 400, create({ command: 'true', labels: ['a'.repeat(64)] })],
  ['POST /tasks with a label starting with a dot', 400, create({ command: 'true', labels: ['.gpu'] })],
  ['POST /tasks with a label holding a comma', 400, create({ command: 'true', labels: ['a,b'] })],
  ['POST /tasks with a label holding a space', 400, create({ command: 'true', labels: ['a b'] })],
  ['POST /tasks with a non-ASCII label', 400, create({ command: 'true', labels: ['gpü'] })],
  ['POST /tasks with 17 labels', 400, create({ command: 'true', labels: Array.from({ length: 17 }, (_, i) => `l${i}`) })],
  ['POST /tasks with runAt without a zone', 400, create({ command: 'true', runAt: '2027-01-01T09:00:00' })],
  ['POST /tasks with runAt a date only', 400, create({ command: 'true', runAt: '2027-01-01' })],
  ['POST /tasks with runAt on February 30', 400, create({ command: 'true', runAt: '2027-02-30T09:00:00Z' })],
  ['POST /tasks with runAt at hour 24', 400, create({ command: 'true', runAt: '2027-01-01T24:00:00Z' })],
  ['POST /tasks with runAt a number', 400, create({ command: 'true', runAt: 1798794000000 })],
  [
    'POST /tasks with runAt more than a year ahead',
    400,
    create({ command: 'true', runAt: new Date(Date.now() + 367 * 86400_000).toISOString() }),
  ],
  ['POST /tasks with runAt in words', 400, create({ command: 'true', runAt: 'tomorrow' })],
  ['GET /tasks with an empty label', 400, list('label=')],
  ['GET /tasks with a bad label', 400, list('label=%2Egpu')],
  ['GET /tasks with a scheduled state misspelt', 400, list('state=schedule')],
  [
    'GET /tasks/pick with a bad X-Agent-Labels',
    400,
    (url) => call(url, 'GET', '/tasks/pick', { headers: agentHeaders('agent-b', { 'x-agent-labels': 'gpu,-x' }) }),
  ],
  [
    'GET /tasks/pick with 17 X-Agent-Labels',
    400,
    (url) =>
      call(url, 'GET', '/tasks/pick', {
        headers: agentHeaders('agent-b', { 'x-agent-labels': Array.from({ length: 17 }, (_, i) => `l${i}`).join(',') }),
      }),
  ],
  ['POST /tasks with timeoutSeconds 0', 400, create({ command: 'true', timeoutSeconds: 0 })],
  ['POST /tasks with timeoutSeconds 86401', 400, create({ command: 'true', timeoutSeconds: 86401 })],
  ['POST /tasks with timeoutSeconds 1.5', 400, create({ command: 'true', timeoutSeconds: 1.5 })],
  ['POST /tasks with timeoutSeconds "10"', 400, create({ command: 'true', timeoutSeconds: '10' })],
  [
    'POST /tasks with a body that is not UTF-8',
    400,
    createRaw(Buffer.from([...Buffer.from('{"command": "echo '), 0xff, 0xfe, ...Buffer.from('"}')])),
  ],
  ['POST /tasks with a __proto__ field', 400, createRaw('{"command": "true", "__proto__": {"x": 1}}')],
  [
    'POST /tasks with an empty Idempotency-Key',
    400,
    (url) => call(url, 'POST', '/tasks', { body: { command: 'true' }, headers: { 'idempotency-key': ' ' } }),
  ],
  ['POST /tasks with a body over 1 MiB', 413, create({ command: `echo ${'x'.repeat(MiB)}` })],
  ['GET /tasks with an unknown parameter', 400, list('status=queued')],
  ['GET /tasks with an unknown state', 400, list('state=done')],
  ['GET /tasks with one unknown state among good ones', 400, list('state=queued,done')],
  ['GET /tasks with limit 0', 400, list('limit=0')],
  ['GET /tasks with limit 1001', 400, list('limit=1001')],
  ['GET /tasks with limit abc', 400, list('limit=abc')],
  ['GET /tasks with a tampered cursor', 400, list('cursor=djE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5')],
  ['GET /tasks with a repeated limit', 400, list('limit=5&limit=6')],
  ['GET /tasks with an empty cursor', 400, list('cursor=')],
  ['GET /tasks with a state that is not UTF-8', 400, list('state=%FF')],
  ['GET /tasks/{a malformed escape}', 400, (url) => call(url, 'GET', '/tasks/%zz')],
  ['GET /tasks/not-a-uuid', 400, (url) => call(url, 'GET', '/tasks/not-a-uuid')],
  ['GET /tasks/{unknown uuid}', 404, (url) => call(url, 'GET', '/tasks/7d0c7a34-3c55-4c0e-9d43-000000000000')],
  ['GET /tasks/pick without X-Agent-Id', 400, (url) => call(url, 'GET', '/tasks/pick')],
  ['POST /tasks/pick without X-Agent-Id', 400, (url) => call(url, 'POST', '/tasks/pick')],
  [
    'GET /tasks/pick with an X-Agent-Id over 200 characters',
    400,
    (url) => call(url, 'GET', '/tasks/pick', { headers: agentHeaders('a'.repeat(201)) }),
  ],
  ['GET /tasks/pick with wait=abc', 400, (url) => call(url, 'GET', '/tasks/pick?wait=abc', { headers: agentHeaders('agent-b') })],
  [
    'POST /tasks/pick with a body field',
    400,
    (url) => call(url, 'POST', '/tasks/pick', { body: { limit: 1 }, headers: agentHeaders('agent-b') }),
  ],
  [
    'GET /tasks/pick with an unknown parameter',
    400,
    (url) => call(url, 'GET', '/tasks/pick?limit=5', { headers: agentHeaders('agent-b') }),
  ],
  ['finish without exitCode', 400, finishRunning({ stdout: '', stderr: '' })],
  ['finish with an unknown state', 400, finishRunning({ ...OK_FINISH, state: 'done' })],
  ['finish with state running', 400, finishRunning({ ...OK_FINISH, state: 'running' })],
  ['finish with an exitCode beyond int32', 400, finishRunning({ ...OK_FINISH, exitCode: 1e300 })],
  ['finish with stdout null', 400, finishRunning({ ...OK_FINISH, stdout: null })],
  ['finish with state succeeded and exit code 1', 400, finishRunning({ ...OK_FINISH, exitCode: 1, state: 'succeeded' })],
  ['finish with an unknown field', 400, finishRunning({ ...OK_FINISH, exit_code: 0 })],
  [
    'finish with malformed JSON',
    400,
    (url, s) => call(url, 'POST', `/tasks/${s.running}/finish`, { raw: '{"exitCode": 0,', headers: agentHeaders('agent-a', JSON_TYPE) }),
  ],
  ['finish without X-Agent-Id', 400, finishRunning(OK_FINISH, (s) => ({ 'x-lease-token': s.leaseToken }))],
  ['finish with a body over 6 MiB', 413, finishRunning({ ...OK_FINISH, stdout: 'x'.repeat(6 * MiB) })],
  [
    'finish of a queued task',
    409,
    (url, s) => call(url, 'POST', `/tasks/${s.queued}/finish`, { body: OK_FINISH, headers: agentHeaders('agent-a') }),
  ],
  [
    'finish of a finished task with another result',
    409,
    (url, s) => call(url, 'POST', `/tasks/${s.finished}/finish`, { body: { ...OK_FINISH, exitCode: 1 }, headers: agentHeaders('agent-a') }),
  ],
  ['finish by another agent', 409, finishRunning(OK_FINISH, () => agentHeaders('agent-b'))],
  [
    'finish by another agent with the right lease token',
    409,
    finishRunning(OK_FINISH, (s) => agentHeaders('agent-b', { 'x-lease-token': s.leaseToken })),
  ],
  [
    'finish with a wrong X-Lease-Token',
    409,
    finishRunning(OK_FINISH, () => agentHeaders('agent-a', { 'x-lease-token': '3f8a1e2c-5b7d-4e9f-8a6b-1c2d3e4f5a6b' })),
  ],
  [
    'finish with a malformed X-Lease-Token',
    409,
    finishRunning(OK_FINISH, () => agentHeaders('agent-a', { 'x-lease-token': 'not-a-token' })),
  ],
  [
    'finish of an unknown id',
    404,
    (url) => call(url, 'POST', '/tasks/7d0c7a34-3c55-4c0e-9d43-000000000000/finish', { body: OK_FINISH, headers: agentHeaders('agent-a') }),
  ],
  [
    'finish of a task id that is not a UUID',
    400,
    (url) => call(url, 'POST', '/tasks/xyz/finish', { body: OK_FINISH, headers: agentHeaders('agent-a') }),
  ],
  ['finish with a negative usage.cpuUserSeconds', 400, finishRunning({ ...OK_FINISH, usage: { cpuUserSeconds: -0.1 } })],
  ['finish with a text usage.cpuSystemSeconds', 400, finishRunning({ ...OK_FINISH, usage: { cpuSystemSeconds: '0.1' } })],
  ['finish with a fractional usage.maxRssBytes', 400, finishRunning({ ...OK_FINISH, usage: { maxRssBytes: 10.5 } })],
  ['finish with an unknown usage field', 400, finishRunning({ ...OK_FINISH, usage: { cpuSeconds: 1 } })],
  ['finish with usage as an array', 400, finishRunning({ ...OK_FINISH, usage: [0.1, 0, 1] })],
  ['GET /agents with a query parameter', 400, (url) => call(url, 'GET', '/agents?state=idle')],
  ['GET /metrics with a query parameter', 400, (url) => call(url, 'GET', '/metrics?format=json')],
  [
    'POST /agents/{id}/stop of another agent',
    400,
    (url) => call(url, 'POST', '/agents/agent-b/stop', { headers: agentHeaders('agent-a') }),
  ],
  ['POST /agents/{id}/stop without X-Agent-Id', 400, (url) => call(url, 'POST', '/agents/agent-a/stop')],
  [
    'POST /agents/{id}/stop with a body field',
    400,
    (url) => call(url, 'POST', '/agents/agent-a/stop', { body: { now: true }, headers: agentHeaders('agent-a') }),
  ],
  [
    'POST /agents/{id}/stop with malformed JSON',
    400,
    (url) => call(url, 'POST', '/agents/agent-a/stop', { raw: '{', headers: { ...JSON_TYPE, ...agentHeaders('agent-a') } }),
  ],
  ['POST /schedules with a 4-field cron', 400, schedule({ cron: '* * * *' })],
  ['POST /schedules with a cron minute of 60', 400, schedule({ cron: '60 * * * *' })],
  ['POST /schedules with a "?" in cron', 400, schedule({ cron: '0 0 ? * *' })],
  ['POST /schedules with @daily', 400, schedule({ cron: '@daily' })],
  ['POST /schedules with a cron that never fires', 400, schedule({ cron: '0 0 31 2 *' })],
  ['POST /schedules with an unknown timezone', 400, schedule({ timezone: 'Mars/Olympus' })],
  ['POST /schedules with an offset timezone', 400, schedule({ timezone: '+01:00' })],
  ['POST /schedules with an empty name', 400, schedule({ name: '' })],
  ['POST /schedules with a name over 200 characters', 400, schedule({ name: 'n'.repeat(201) })],
  ['POST /schedules with a NUL in the command', 400, schedule({ command: 'echo a\u0000b' })],
  ['POST /schedules with an unknown field', 400, schedule({ every: '1h' })],
  ['POST /schedules with a body over 1 MiB', 413, schedule({ command: 'x'.repeat(MiB) })],
  ['PATCH /schedules/{id} of an unknown id', 404, (url) => call(url, 'PATCH', `/schedules/${NO_SCHEDULE}`, { body: { paused: true } })],
  ['PATCH /schedules/{id} with an empty body object', 400, (url) => call(url, 'PATCH', `/schedules/${NO_SCHEDULE}`, { body: {} })],
  ['DELETE /schedules/{id} of an id that is not a UUID', 400, (url) => call(url, 'DELETE', '/schedules/xyz')],
  ['GET /schedules with a query parameter', 400, (url) => call(url, 'GET', '/schedules?limit=1')],
];

describe.each(stores)('bad input on $name', (store) => {
  let server: TestServer;
  let seeded: Seeded;

  /** Every row of the tasks table, every column, in creation order. */
  const snapshot = async () => [
    await server.db.query('select * from tasks order by seq'),
    await server.db.query('select * from schedules order by name'),
  ];

  beforeAll(async () => {
    server = await startTestServer(store);
    const post = async (command: string) => ((await call(server.url, 'POST', '/tasks', { body: { command } })).body as { id: string }).id;
    const finished = await post('echo finished');
    const picked1 = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('agent-a') });
    expect(picked1.status).toBe(200);
    const done = await call(server.url, 'POST', `/tasks/${finished}/finish`, {
      body: OK_FINISH,
      headers: agentHeaders('agent-a', { 'x-lease-token': (picked1.body as { leaseToken: string }).leaseToken }),
    });
    expect(done.status).toBe(200);
    const running = await post('sleep 100');
    const picked2 = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('agent-a') });
    expect(picked2.body).toMatchObject({ id: running, state: 'running' });
    const queued = await post('echo queued');
    seeded = { running, queued, finished, leaseToken: (picked2.body as { leaseToken: string }).leaseToken };
  });

  afterAll(async () => {
    await server.stop();
  });

  it.each(CASES)('%s answers %i problem+json and changes nothing', async (_name, status, send) => {
    const before = await snapshot();
    const reply = await send(server.url, seeded);
    expectProblem(reply, status);
    expect(await snapshot()).toEqual(before);
  });

  it('still works after all the bad input', async () => {
    const finished = await call(server.url, 'POST', `/tasks/${seeded.running}/finish`, {
      body: OK_FINISH,
      headers: agentHeaders('agent-a', { 'x-lease-token': seeded.leaseToken }),
    });
    expect(finished.status).toBe(200);
    expect(finished.body).toMatchObject({ id: seeded.running, state: 'succeeded' });
  });
});
