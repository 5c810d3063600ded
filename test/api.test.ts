/**
 * The positive contract of docs/api.md (the task resource, user and agent endpoints) over HTTP, on every store.
 */

import type { TaskPage } from '../contract/task';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, type Reply, startTestServer, type TestServer } from './support/server';
import { buildTask, type PickedTask, type TaskWithOutput } from './support/tasks';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OUTPUT_LIMIT = 2048;

describe.each(stores)('the API on $name', (store) => {
  let server: TestServer;
  const create = async (command: string, extra: Record<string, unknown> = {}) => {
    const reply = await call(server.url, 'POST', '/tasks', { body: { command, ...extra } });
    expect(reply.status).toBe(201);
    return reply.body as TaskWithOutput;
  };
  const pick = async (agent = 'agent-a') => call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders(agent) });
  const pickTask = async (agent = 'agent-a') => {
    const reply = await pick(agent);
    expect(reply.status).toBe(200);
    return reply.body as PickedTask;
  };
  const finish = (task: Pick<PickedTask, 'id'> & Partial<Pick<PickedTask, 'leaseToken'>>, body: unknown, agent = 'agent-a') =>
    call(server.url, 'POST', `/tasks/${task.id}/finish`, {
      body,
      headers: agentHeaders(agent, task.leaseToken ? { 'x-lease-token': task.leaseToken } : {}),
    });
  const list = async (query = '') => {
    const reply = await call(server.url, 'GET', `/tasks${query}`);
    expect(reply.status).toBe(200);
    return reply.body as TaskPage;
  };
  const countRows = async () => Number((await server.db.query<{ n: string }>('select count(*) as n from tasks'))[0]?.n);

  beforeAll(async () => {
    server = await startTestServer(store, { OUTPUT_LIMIT_BYTES: String(OUTPUT_LIMIT) });
  });
  beforeEach(async () => {
    await server.db.query('delete from tasks');
  });
  afterAll(async () => {
    await server.stop();
  });

  describe('POST /tasks', () => {
    it('creates a queued task with the default timeout, ISO timestamps and a Location header', async () => {
      const reply = await call(server.url, 'POST', '/tasks', { body: { command: 'echo hello' } });
      expect(reply.status).toBe(201);
      expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
      const task = reply.body as TaskWithOutput;
      expect(task).toEqual({
        ...buildTask({
          id: expect.stringMatching(UUID),
          command: 'echo hello',
          createdAt: expect.stringMatching(ISO_MS),
          runAt: expect.stringMatching(ISO_MS),
        }),
        stdout: '',
        stderr: '',
      });
      expect(reply.headers.get('location')).toBe(`/tasks/${task.id}`);
    });

    it('keeps the timeoutSeconds given', async () => {
      expect((await create('sleep 1', { timeoutSeconds: 5 })).timeoutSeconds).toBe(5);
    });

    it('answers 200 with the same task and creates nothing when an Idempotency-Key repeats with the same body', async () => {
      const send = () =>
        call(server.url, 'POST', '/tasks', { body: { command: 'echo once', timeoutSeconds: 9 }, headers: { 'idempotency-key': 'k-1' } });
      const first = await send();
      expect(first.status).toBe(201);
      const again = await send();
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('location')).toBe(`/tasks/${(first.body as TaskWithOutput).id}`);
      expect(await countRows()).toBe(1);
    });

    it('answers 409 problem+json and creates nothing when an Idempotency-Key repeats with another body', async () => {
      const headers = { 'idempotency-key': 'k-2' };
      expect((await call(server.url, 'POST', '/tasks', { body: { command: 'echo a' }, headers })).status).toBe(201);
      expectProblem(await call(server.url, 'POST', '/tasks', { body: { command: 'echo b' }, headers }), 409);
      expectProblem(await call(server.url, 'POST', '/tasks', { body: { command: 'echo a', timeoutSeconds: 5 }, headers }), 409);
      expect(await countRows()).toBe(1);
    });

    it('creates one task per key for the same body under different keys', async () => {
      for (const key of ['k-3', 'k-4']) {
        const reply = await call(server.url, 'POST', '/tasks', { body: { command: 'echo same' }, headers: { 'idempotency-key': key } });
        expect(reply.status).toBe(201);
      }
      expect(await countRows()).toBe(2);
    });
  });

  describe('GET /tasks/{id}', () => {
    it('shows a task with its (empty) output', async () => {
      const task = await create('echo show');
      const reply = await call(server.url, 'GET', `/tasks/${task.id}`);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ ...task, stdout: '', stderr: '' });
    });

    it('finds a task by its id written in capitals', async () => {
      const task = await create('echo caps');
      const reply = await call(server.url, 'GET', `/tasks/${task.id.toUpperCase()}`);
      expect(reply.status).toBe(200);
      expect((reply.body as TaskWithOutput).id).toBe(task.id);
    });
  });

  describe('GET /tasks', () => {
    it('answers an empty page with a null cursor when there are no tasks', async () => {
      expect(await list()).toEqual({ tasks: [], nextCursor: null });
    });

    it('lists tasks newest first, without stdout and stderr', async () => {
      const made = [];
      for (const n of [1, 2, 3]) made.push(await create(`echo ${n}`));
      const page = await list();
      expect(page.nextCursor).toBeNull();
      expect(page.tasks.map((t) => t.id)).toEqual(made.map((t) => t.id).reverse());
      for (const item of page.tasks) {
        expect(item).not.toHaveProperty('stdout');
        expect(item).not.toHaveProperty('stderr');
        expect(item.createdAt).toMatch(ISO_MS);
      }
    });

    it('filters by state, comma-separated or repeated', async () => {
      const succeeded = await create('echo ok');
      const failed = await create('exit 2');
      const running = await create('sleep 100');
      const queued = await create('echo later');
      expect((await finish(await pickTask(), { exitCode: 0, stdout: '', stderr: '' })).status).toBe(200);
      expect((await finish(await pickTask(), { exitCode: 2, stdout: '', stderr: '' })).status).toBe(200);
      await pickTask();

      const ids = (page: TaskPage) => page.tasks.map((t) => t.id);
      expect(ids(await list('?state=queued'))).toEqual([queued.id]);
      expect(ids(await list('?state=running'))).toEqual([running.id]);
      expect(ids(await list('?state=queued,running'))).toEqual([queued.id, running.id]);
      expect(ids(await list('?state=queued&state=running'))).toEqual([queued.id, running.id]);
      expect(ids(await list('?state=succeeded,failed'))).toEqual([failed.id, succeeded.id]);
      expect(ids(await list('?state=canceled'))).toEqual([]);
      expect(ids(await list())).toEqual([queued.id, running.id, failed.id, succeeded.id]);
    });

    it('walks every task exactly once with limit and nextCursor', async () => {
      const made: string[] = [];
      for (let n = 0; n < 23; n++) made.push((await create(`echo ${n}`)).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: TaskPage = await list(`?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(page.tasks.length).toBeLessThanOrEqual(5);
        seen.push(...page.tasks.map((t) => t.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 50);
      expect(pages).toBe(5);
      expect(seen).toEqual([...made].reverse());
    });

    it('paginates within a state filter', async () => {
      const queued: string[] = [];
      for (let n = 0; n < 7; n++) queued.push((await create(`echo ${n}`)).id);
      await pickTask(); // the oldest is now running
      const first = await list('?state=queued&limit=4');
      const second = await list(`?state=queued&limit=4&cursor=${first.nextCursor}`);
      expect(second.nextCursor).toBeNull();
      expect([...first.tasks, ...second.tasks].map((t) => t.id)).toEqual(queued.slice(1).reverse());
    });

    it('does not show tasks created after a page in its later pages twice', async () => {
      for (let n = 0; n < 4; n++) await create(`echo ${n}`);
      const first = await list('?limit=2');
      await create('echo newest');
      const second = await list(`?limit=2&cursor=${first.nextCursor}`);
      const ids = [...first.tasks, ...second.tasks].map((t) => t.id);
      expect(new Set(ids).size).toBe(4);
      expect(second.tasks.map((t) => t.command)).toEqual(['echo 1', 'echo 0']);
    });
  });

  describe('GET /tasks/pick', () => {
    it('hands out the earliest-created queued task, running, with agentId, startedAt and leaseToken', async () => {
      const first = await create('echo first');
      const second = await create('echo second');
      const picked = await pickTask('agent-7');
      expect(picked).toMatchObject({ id: first.id, command: 'echo first', state: 'running', agentId: 'agent-7', timeoutSeconds: 3600 });
      expect(picked.startedAt).toMatch(ISO_MS);
      expect(picked.leaseToken).toMatch(UUID);
      expect((await pickTask('agent-8')).id).toBe(second.id);
      const shown = (await call(server.url, 'GET', `/tasks/${first.id}`)).body as TaskWithOutput;
      expect(shown).toMatchObject({ state: 'running', agentId: 'agent-7', startedAt: picked.startedAt });
    });

    it('answers 204 with an empty body when nothing is queued', async () => {
      const reply = await pick();
      expect(reply.status).toBe(204);
      expect(reply.text).toBe('');
    });

    it('answers 204 when every task is running or ended', async () => {
      await create('echo only');
      await finish(await pickTask(), { exitCode: 0, stdout: '', stderr: '' });
      await create('echo other');
      await pickTask();
      expect((await pick()).status).toBe(204);
    });

    it('picks with POST as with GET', async () => {
      const task = await create('echo post');
      const reply = await call(server.url, 'POST', '/tasks/pick', { headers: agentHeaders('agent-post') });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ id: task.id, state: 'running', agentId: 'agent-post' });
      const empty = await call(server.url, 'POST', '/tasks/pick', { headers: agentHeaders('agent-post'), body: {} });
      expect(empty.status).toBe(204);
    });

    it('is never routed to getTask', async () => {
      // getTask would answer 400 "not a UUID" for both of these.
      const withoutAgent = await call(server.url, 'GET', '/tasks/pick');
      expectProblem(withoutAgent, 400);
      expect((withoutAgent.body as { detail: string }).detail).toMatch(/X-Agent-Id/);
      expect((await pick()).status).toBe(204);
    });
  });

  describe('POST /tasks/{id}/finish', () => {
    it('ends a task with exit code 0 as succeeded, with its output', async () => {
      await create('echo hi');
      const picked = await pickTask();
      const reply = await finish(picked, { exitCode: 0, stdout: 'hi\n', stderr: 'warn\n' });
      expect(reply.status).toBe(200);
      const task = reply.body as TaskWithOutput;
      expect(task).toMatchObject({
        id: picked.id,
        state: 'succeeded',
        exitCode: 0,
        stdout: 'hi\n',
        stderr: 'warn\n',
        outputTruncated: false,
        error: null,
        agentId: 'agent-a',
        startedAt: picked.startedAt,
      });
      expect(task.finishedAt).toMatch(ISO_MS);
      expect((await call(server.url, 'GET', `/tasks/${picked.id}`)).body).toMatchObject({ state: 'succeeded', stdout: 'hi\n' });
    });

    it.each([1, 2, 127, 255])('ends a task with exit code %i as failed', async (exitCode) => {
      await create(`exit ${exitCode}`);
      const reply = await finish(await pickTask(), { exitCode, stdout: '', stderr: 'boom\n' });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ state: 'failed', exitCode, stderr: 'boom\n' });
    });

    it('accepts an explicit state timed_out with an error', async () => {
      await create('sleep 100', { timeoutSeconds: 5 });
      const reply = await finish(await pickTask(), {
        exitCode: null,
        stdout: 'partial',
        stderr: '',
        state: 'timed_out',
        error: 'timed out after 5s',
      });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ state: 'timed_out', exitCode: null, error: 'timed out after 5s', stdout: 'partial' });
    });

    it('answers 409 to a finish without X-Lease-Token, even from the agent that holds the task, and ends nothing', async () => {
      await create('echo plain');
      const { leaseToken, ...picked } = await pickTask();
      expectProblem(await finish(picked, { exitCode: 0, stdout: '', stderr: '' }), 409, /X-Lease-Token is missing/);
      expect((await call(server.url, 'GET', `/tasks/${picked.id}`)).body).toMatchObject({ state: 'running' });
      expect((await finish({ ...picked, leaseToken }, { exitCode: 0, stdout: '', stderr: '' })).status).toBe(200);
    });

    it('answers 409 to a repeated finish without X-Lease-Token', async () => {
      await create('echo once');
      const picked = await pickTask();
      const body = { exitCode: 0, stdout: 'once\n', stderr: '' };
      expect((await finish(picked, body)).status).toBe(200);
      const { leaseToken: _, ...withoutToken } = picked;
      expectProblem(await finish(withoutToken, body), 409);
    });

    it('answers an identical repeated finish with 200 and the same task', async () => {
      await create('echo twice');
      const picked = await pickTask();
      const body = { exitCode: 0, stdout: 'twice\n', stderr: '' };
      const first = await finish(picked, body);
      expect(first.status).toBe(200);
      const again = await finish(picked, body);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
    });

    it('caps oversized output head-and-tail and says so', async () => {
      await create('seq 100000');
      const stdout = `HEAD${'x'.repeat(20000)}TAIL\n`;
      const reply = await finish(await pickTask(), { exitCode: 0, stdout, stderr: 'short' });
      expect(reply.status).toBe(200);
      const task = reply.body as TaskWithOutput;
      expect(task.outputTruncated).toBe(true);
      expect(task.stderr).toBe('short');
      const stored = task.stdout as string;
      expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(OUTPUT_LIMIT);
      expect(stored.startsWith('HEAD')).toBe(true);
      expect(stored.endsWith('TAIL\n')).toBe(true);
      const marker = /\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/.exec(stored);
      expect(marker).not.toBeNull();
      const omitted = Number(marker?.[1]);
      expect(omitted).toBe(Buffer.byteLength(stdout) - (Buffer.byteLength(stored) - Buffer.byteLength(marker?.[0] ?? '')));
    });

    it('keeps output within the limit when NUL bytes are replaced', async () => {
      await create('printf "\\0"');
      const reply = await finish(await pickTask(), { exitCode: 0, stdout: '\u0000'.repeat(1500), stderr: '' });
      expect(reply.status).toBe(200);
      const stored = (reply.body as TaskWithOutput).stdout as string;
      expect(stored).not.toContain('\u0000');
      expect(stored).toContain('\uFFFD');
      expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(OUTPUT_LIMIT);
    });

    it('keeps the agent’s own outputTruncated', async () => {
      await create('yes | head -c 10000000');
      const reply = await finish(await pickTask(), {
        exitCode: 0,
        stdout: 'head\n[... 9 bytes omitted ...]\ntail',
        stderr: '',
        outputTruncated: true,
      });
      expect(reply.body).toMatchObject({ outputTruncated: true });
    });
  });

  describe('service endpoints', () => {
    it('answers GET / with 200', async () => {
      const reply = await call(server.url, 'GET', '/');
      expect(reply.status).toBe(200);
    });

    it('answers GET /health with 200 {"status":"ok"}', async () => {
      const reply = await call(server.url, 'GET', '/health');
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ status: 'ok' });
    });

    it.each([
      ['GET', '/nope'],
      ['GET', '/tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11/output'],
      ['POST', '/tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11/finish/again'],
    ])('answers %s %s with 404 problem+json', async (method, path) => {
      expectProblem(await call(server.url, method, path), 404);
    });

    it.each([
      ['DELETE', '/tasks', 'GET, POST'],
      ['PUT', '/tasks/pick', 'GET, POST'],
      ['DELETE', '/tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11', 'GET'],
      ['GET', '/tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11/finish', 'POST'],
      ['POST', '/health', 'GET'],
    ])('answers %s %s with 405 problem+json and the allowed methods', async (method, path, allowed) => {
      const reply = await call(server.url, method, path);
      expectProblem(reply, 405);
      for (const m of allowed.split(', ')) expect(reply.headers.get('allow')).toContain(m);
    });
  });
});

describe.each(stores)('authentication on $name', (store) => {
  const API_TOKEN = 'api-token-for-tests';
  const AGENT_TOKEN = 'agent-token-for-tests';
  const user = { authorization: `Bearer ${API_TOKEN}` };
  const agent = (id = 'agent-auth') => agentHeaders(id, { authorization: `Bearer ${AGENT_TOKEN}` });
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN });
  });
  afterAll(async () => {
    await server.stop();
  });

  const expectUnauthorized = (reply: Reply) => {
    expectProblem(reply, 401);
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(reply.text).not.toContain(API_TOKEN);
    expect(reply.text).not.toContain(AGENT_TOKEN);
  };

  const USER_REQUESTS: [string, string, unknown][] = [
    ['POST', '/tasks', { command: 'echo hi' }],
    ['GET', '/tasks', undefined],
    ['GET', '/tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11', undefined],
  ];
  const AGENT_REQUESTS: [string, string, unknown][] = [
    ['GET', '/tasks/pick', undefined],
    ['POST', '/tasks/pick', undefined],
    ['POST', '/tasks/0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11/finish', { exitCode: 0, stdout: '', stderr: '' }],
  ];

  it.each([...USER_REQUESTS, ...AGENT_REQUESTS])('answers %s %s without a bearer token with 401', async (method, path, body) => {
    expectUnauthorized(await call(server.url, method, path, { body, headers: agentHeaders('agent-auth') }));
  });

  it.each(USER_REQUESTS)('answers %s %s with a wrong or agent token with 401', async (method, path, body) => {
    expectUnauthorized(await call(server.url, method, path, { body, headers: { authorization: 'Bearer wrong' } }));
    expectUnauthorized(await call(server.url, method, path, { body, headers: { authorization: `Bearer ${AGENT_TOKEN}` } }));
    expectUnauthorized(await call(server.url, method, path, { body, headers: { authorization: API_TOKEN } }));
  });

  it.each(AGENT_REQUESTS)('answers %s %s with a wrong or user token with 401', async (method, path, body) => {
    expectUnauthorized(await call(server.url, method, path, { body, headers: agentHeaders('a', { authorization: 'Bearer wrong' }) }));
    expectUnauthorized(
      await call(server.url, method, path, { body, headers: agentHeaders('a', { authorization: `Bearer ${API_TOKEN}` }) }),
    );
  });

  it('creates nothing for an unauthorized create', async () => {
    await call(server.url, 'POST', '/tasks', { body: { command: 'echo sneaky' } });
    const page = (await call(server.url, 'GET', '/tasks', { headers: user })).body as TaskPage;
    expect(page.tasks.map((t) => t.command)).not.toContain('echo sneaky');
  });

  it('serves users and agents who send the right tokens', async () => {
    const created = await call(server.url, 'POST', '/tasks', { body: { command: 'echo authed' }, headers: user });
    expect(created.status).toBe(201);
    const task = created.body as TaskWithOutput;
    expect((await call(server.url, 'GET', '/tasks', { headers: user })).status).toBe(200);
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agent() });
    expect(picked.status).toBe(200);
    expect((picked.body as TaskWithOutput).id).toBe(task.id);
    const finished = await call(server.url, 'POST', `/tasks/${task.id}/finish`, {
      body: { exitCode: 0, stdout: 'authed\n', stderr: '' },
      headers: { ...agent(), 'x-lease-token': (picked.body as { leaseToken: string }).leaseToken },
    });
    expect(finished.status).toBe(200);
    const shown = await call(server.url, 'GET', `/tasks/${task.id}`, { headers: user });
    expect(shown.body).toMatchObject({ state: 'succeeded', stdout: 'authed\n' });
  });

  it('keeps / and /health open', async () => {
    expect((await call(server.url, 'GET', '/')).status).toBe(200);
    expect((await call(server.url, 'GET', '/health')).status).toBe(200);
  });
});
