import { stores } from './support/databases';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';

describe.each(stores)('the walk-through on $name', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('creates, picks, finishes and shows a task', async () => {
    const created = await call(server.url, 'POST', '/tasks', { body: { command: 'echo hello' } });
    expect(created.status).toBe(201);
    const task = created.body as { id: string; state: string };
    expect(created.headers.get('location')).toBe(`/tasks/${task.id}`);
    expect(task.state).toBe('queued');

    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders() });
    expect(picked.status).toBe(200);
    expect(picked.body).toMatchObject({ id: task.id, state: 'running', agentId: 'test-agent' });

    const finished = await call(server.url, 'POST', `/tasks/${task.id}/finish`, {
      headers: agentHeaders('test-agent', { 'x-lease-token': (picked.body as { leaseToken: string }).leaseToken }),
      body: { exitCode: 0, stdout: 'hello\n', stderr: '' },
    });
    expect(finished.status).toBe(200);
    const got = await call(server.url, 'GET', `/tasks/${task.id}`);
    expect(got.body).toMatchObject({ state: 'succeeded', exitCode: 0, stdout: 'hello\n', stderr: '', error: null });
  });
});
