/**
 * Deps are a value per server, not a process-wide one: two servers in one process, each on its
 * own database, never serve each other's data, and stopping one leaves the other working.
 */
import { stores } from './support/databases';
import { call, startTestServer, type TestServer } from './support/server';

describe.each(stores)('two servers in one process ($name)', (store) => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startTestServer(store);
    b = await startTestServer(store);
  });
  afterAll(async () => {
    await a.stop();
    await b.stop().catch(() => {});
  });

  it('store a task only in the database of the server it was sent to', async () => {
    const created = await call(a.url, 'POST', '/tasks', { body: { command: 'echo only-in-a' } });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    expect((await call(a.url, 'GET', `/tasks/${id}`)).status).toBe(200);
    expect((await call(b.url, 'GET', `/tasks/${id}`)).status).toBe(404);
    expect(await a.db.query('select id from tasks')).toEqual([{ id }]);
    expect(await b.db.query('select id from tasks')).toEqual([]);
  });

  it('hand a task queued on one server only to agents of that server', async () => {
    await call(b.url, 'POST', '/tasks', { body: { command: 'echo only-in-b' } });
    const fromA = await call(a.url, 'GET', '/tasks/pick', { headers: { 'x-agent-id': 'agent-a' } });
    // a's one task (from the test above) is the only one a can hand out.
    expect(fromA.status).toBe(200);
    expect((fromA.body as { command: string }).command).toBe('echo only-in-a');
    const fromB = await call(b.url, 'GET', '/tasks/pick', { headers: { 'x-agent-id': 'agent-b' } });
    expect((fromB.body as { command: string }).command).toBe('echo only-in-b');
    expect((await call(a.url, 'GET', '/tasks/pick', { headers: { 'x-agent-id': 'agent-a' } })).status).toBe(204);
  });

  it('keep serving from one server after the other stopped', async () => {
    await b.stop();
    const created = await call(a.url, 'POST', '/tasks', { body: { command: 'echo after-b-stopped' } });
    expect(created.status).toBe(201);
    expect((await call(a.url, 'GET', '/health')).status).toBe(200);
    const rows = await a.db.query<{ command: string }>('select command from tasks order by seq');
    expect(rows.map((r) => r.command)).toEqual(['echo only-in-a', 'echo after-b-stopped']);
  });
});
