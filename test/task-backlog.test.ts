/**
 * insertTaskBacklog, the bulk load `npm run bench` builds its million-task table with, on every
 * store: the tasks it writes are ones the API serves as it would have left them.
 */
import type { PickedTask, TaskPage } from '../contract/task';
import { insertTaskBacklog } from '../functions/shared/db/backlog';
import { stores } from './support/databases';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';
import { getTask } from './support/tasks';

describe.each(stores)('a backlog loaded on $name', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
    await insertTaskBacklog(server.db, { succeeded: 30, queued: 3, from: new Date('2026-01-01T00:00:00.000Z') });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('lists the finished tasks, then the queued ones, a millisecond apart, newest first', async () => {
    const page = (await call(server.url, 'GET', '/tasks?limit=100')).body as TaskPage;
    expect(page.tasks.map((t) => t.state)).toEqual([...Array(3).fill('queued'), ...Array(30).fill('succeeded')]);
    expect(page.tasks.at(-1)).toMatchObject({
      command: 'echo backlog 1',
      exitCode: 0,
      attempts: 1,
      maxAttempts: 1,
      agentId: 'bench-backlog-1',
      createdAt: '2026-01-01T00:00:00.001Z',
      startedAt: '2026-01-01T00:00:00.003Z',
      finishedAt: '2026-01-01T00:00:00.005Z',
    });
    expect(page.tasks[0]).toMatchObject({ command: 'echo backlog 33', state: 'queued', attempts: 0, agentId: null, startedAt: null });
  });

  it('stores the output of each finished task', async () => {
    const page = (await call(server.url, 'GET', '/tasks?state=succeeded&limit=1')).body as TaskPage;
    const newest = await getTask(server.url, (page.tasks[0] as { id: string }).id);
    expect(newest).toMatchObject({ command: 'echo backlog 30', stdout: 'backlog 30\n', stderr: '', outputTruncated: false });
  });

  it('hands the oldest queued task to the next pick', async () => {
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders() });
    expect(picked.status).toBe(200);
    expect(picked.body as PickedTask).toMatchObject({ command: 'echo backlog 31', state: 'running', attempts: 1 });
  });
});
