/**
 * GET /tasks/summary (the dashboard's overview) over HTTP on every store: counts per state,
 * the cap, the oldest queued task's age by the server's clock, its token rule and bad input.
 */
import { SUMMARY_COUNT_LIMIT } from '../contract/http';
import type { TaskOverview } from '../contract/task';
import { taskSummary } from '../functions/task-summary/task-summary';
import { movableClock } from './support/clock';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';

const TOKEN = 'summary-api-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

describe.each(stores)('GET /tasks/summary on $name', (store) => {
  let server: TestServer;
  const clock = movableClock();

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN: TOKEN }, clock.now);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const summary = async () => {
    const reply = await call(server.url, 'GET', '/tasks/summary', { headers: auth });
    expect(reply.status).toBe(200);
    return reply.body as TaskOverview;
  };
  const create = async (command: string) => {
    const reply = await call(server.url, 'POST', '/tasks', { body: { command }, headers: auth });
    expect(reply.status).toBe(201);
    return reply.body as { id: string; createdAt: string };
  };

  it('counts every state, zero included, and says nothing is queued on an empty table', async () => {
    expect(await summary()).toEqual({
      counts: { scheduled: 0, queued: 0, running: 0, succeeded: 0, failed: 0, timed_out: 0, canceled: 0 },
      capped: [],
      countLimit: SUMMARY_COUNT_LIMIT,
      oldestQueuedAt: null,
      oldestQueuedAgeSeconds: 0,
    });
  });

  it('counts tasks as they move through their states, and ages the oldest queued one by the server clock', async () => {
    const first = await create('echo first');
    clock.advance(30);
    await create('echo second');
    const third = await create('echo third');
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('summary-agent') });
    expect((picked.body as { id: string }).id).toBe(first.id);
    const lease = (picked.body as { leaseToken: string }).leaseToken;
    await call(server.url, 'POST', `/tasks/${third.id}/cancel`, { headers: auth });

    let s = await summary();
    expect(s.counts).toEqual({ scheduled: 0, queued: 1, running: 1, succeeded: 0, failed: 0, timed_out: 0, canceled: 1 });
    // The oldest still queued is the second (the first was picked); created 0 s ago by the moved clock.
    expect(s.oldestQueuedAgeSeconds).toBe(0);
    clock.advance(90);
    s = await summary();
    expect(s.oldestQueuedAgeSeconds).toBe(90);
    expect(Date.parse(s.oldestQueuedAt as string)).toBeGreaterThan(Date.parse(first.createdAt));

    const finished = await call(server.url, 'POST', `/tasks/${first.id}/finish`, {
      body: { exitCode: 1, stdout: '', stderr: 'no' },
      headers: { ...agentHeaders('summary-agent'), 'x-lease-token': lease },
    });
    expect(finished.status).toBe(200);
    expect((await summary()).counts).toEqual({ scheduled: 0, queued: 1, running: 0, succeeded: 0, failed: 1, timed_out: 0, canceled: 1 });
  });

  it('stops counting a state at the limit and lists it as capped', async () => {
    for (let i = 0; i < 3; i++) await create(`echo capped ${i}`);
    const s = await taskSummary({ db: server.db, now: clock.now }, 2);
    expect(s.counts.queued).toBe(2);
    expect(s.capped).toEqual(['queued']);
    expect(s.countLimit).toBe(2);
    expect(s.counts.failed).toBe(1);
  });

  it('needs the API token when the server has one', async () => {
    expectProblem(await call(server.url, 'GET', '/tasks/summary'), 401);
    expectProblem(await call(server.url, 'GET', '/tasks/summary', { headers: { authorization: 'Bearer wrong' } }), 401);
  });

  it('answers 400 naming the parameter for any query parameter, and 405 for POST', async () => {
    const reply = await call(server.url, 'GET', '/tasks/summary?state=queued', { headers: auth });
    expectProblem(reply, 400);
    expect((reply.body as { detail: string }).detail).toContain('"state"');
    expectProblem(await call(server.url, 'POST', '/tasks/summary', { headers: auth }), 405);
  });
});
