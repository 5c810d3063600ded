import { leasePolicy, loadConfig } from '../functions/shared/config';
import { expireLeases } from '../functions/shared/lease-expiry';
import { requestLog } from '../functions/shared/logger';
import { eventually, movableClock } from './support/clock';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';

type T = {
  id: string;
  state: string;
  error: string | null;
  leaseToken: string;
  cancelRequested: boolean;
  attempts: number;
  agentId: string | null;
};

describe.each(stores)('leases, heartbeats, cancel and expiry on $name', (store) => {
  let server: TestServer;
  const clock = movableClock();
  const LEASE = 30;
  beforeAll(async () => {
    server = await startTestServer(store, { LEASE_SECONDS: String(LEASE) }, clock.now);
  });
  afterAll(async () => {
    await server.stop();
  });

  const create = async (body: Record<string, unknown> = { command: 'true' }) =>
    (await call(server.url, 'POST', '/tasks', { body })).body as T;
  const pick = async (agent = 'a1') => (await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders(agent) })).body as T;
  const get = async (id: string) => (await call(server.url, 'GET', `/tasks/${id}`)).body as T;
  const heartbeat = (t: T, agent = 'a1', token = t.leaseToken) =>
    call(server.url, 'POST', `/tasks/${t.id}/heartbeat`, { headers: agentHeaders(agent, { 'x-lease-token': token }) });
  const lease = leasePolicy(loadConfig({ LEASE_SECONDS: String(LEASE) }));
  const expire = () =>
    expireLeases({
      db: server.db,
      now: clock.now,
      lease,
      metrics: server.deps.metrics,
      log: requestLog(server.deps.logger, { test: 'leases' }),
    });
  /** Moves the clock with the reaper watching (a run every 5 s of clock), as in a live server. */
  const watch = async (seconds: number) => {
    const ended: Awaited<ReturnType<typeof expire>> = [];
    for (let s = 0; s < seconds; s += 5) {
      clock.advance(Math.min(5, seconds - s));
      ended.push(...(await expire()));
    }
    return ended;
  };
  const drain = async () => {
    while ((await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('drain') })).status === 200) {}
  };

  beforeEach(async () => {
    await drain();
    await watch(1); // the reaper has been watching
  });

  it('gives running tasks one more lease, instead of ending them, when expiry had not run for longer than the watch gap', async () => {
    await create();
    const t = await pick();
    // nobody watched for 10 leases (the database or every server was down)
    clock.advance(LEASE * 10);
    expect(await expire()).toEqual([]);
    expect((await get(t.id)).state).toBe('running');
    // its agent checks in again and keeps it
    expect((await heartbeat(t)).status).toBe(200);
    await watch(LEASE - 5);
    expect((await get(t.id)).state).toBe('running');
  });

  it('ends a task one lease after such a gap when its agent does not check in', async () => {
    await create();
    const t = await pick();
    clock.advance(LEASE * 10);
    await expire();
    await watch(LEASE + 5);
    expect(await get(t.id)).toMatchObject({ state: 'failed', error: 'agent lost: lease expired' });
  });

  it('keeps a heartbeated task running past its first lease', async () => {
    await create();
    const t = await pick();
    await watch(LEASE - 5);
    expect((await heartbeat(t)).status).toBe(200);
    await watch(LEASE - 5);
    await expire();
    expect((await get(t.id)).state).toBe('running');
  });

  it('ends a task failed with "agent lost: lease expired" one moment after the lease, not before', async () => {
    await create();
    const t = await pick();
    await watch(LEASE - 1);
    await expire();
    expect((await get(t.id)).state).toBe('running');
    const expired = await watch(2);
    expect(expired.map((r) => r.id)).toContain(t.id);
    expect(await get(t.id)).toMatchObject({ state: 'failed', error: 'agent lost: lease expired' });
  });

  it('answers 409 to a heartbeat and a finish after the lease expired', async () => {
    await create();
    const t = await pick();
    await watch(LEASE + 1);
    await expire();
    expect((await heartbeat(t)).status).toBe(409);
    const fin = await call(server.url, 'POST', `/tasks/${t.id}/finish`, {
      headers: agentHeaders('a1', { 'x-lease-token': t.leaseToken }),
      body: { exitCode: 0, stdout: '', stderr: '' },
    });
    expect(fin.status).toBe(409);
    expect((await get(t.id)).state).toBe('failed');
  });

  it('answers 409 to a heartbeat with a stale lease token or from another agent', async () => {
    await create();
    const t = await pick();
    expect((await heartbeat(t, 'a1', '00000000-0000-4000-8000-000000000000')).status).toBe(409);
    expect((await heartbeat(t, 'someone-else')).status).toBe(409);
    expect((await heartbeat(t, 'a1', 'not-a-token')).status).toBe(409);
    expect((await heartbeat(t)).status).toBe(200);
  });

  it('answers 409 to a heartbeat without X-Lease-Token, from the agent that holds the task, and does not extend its lease', async () => {
    await create();
    const t = await pick();
    const before = (await server.db.query<{ lease_expires_at: Date }>('select lease_expires_at from tasks where id = $1::uuid', [t.id]))[0];
    clock.advance(10);
    const reply = await call(server.url, 'POST', `/tasks/${t.id}/heartbeat`, { headers: agentHeaders('a1') });
    expect(reply.status).toBe(409);
    expect((reply.body as { detail: string }).detail).toMatch(/X-Lease-Token is missing/);
    const after = (await server.db.query<{ lease_expires_at: Date }>('select lease_expires_at from tasks where id = $1::uuid', [t.id]))[0];
    expect(after).toEqual(before);
  });

  it('queues a lost task again while attempts remain, and a new agent gets a new lease token', async () => {
    const created = await create({ command: 'true', maxAttempts: 2 });
    const first = await pick('a1');
    await watch(LEASE + 1);
    await expire();
    expect(await get(created.id)).toMatchObject({ state: 'queued', agentId: null, attempts: 1 });
    const second = await pick('a2');
    expect(second.id).toBe(created.id);
    expect(second.leaseToken).not.toBe(first.leaseToken);
    // the first agent's late finish is refused: it can never overwrite the new attempt
    const late = await call(server.url, 'POST', `/tasks/${created.id}/finish`, {
      headers: agentHeaders('a1', { 'x-lease-token': first.leaseToken }),
      body: { exitCode: 0, stdout: 'late', stderr: '' },
    });
    expect(late.status).toBe(409);
    await watch(LEASE + 1);
    await expire();
    expect(await get(created.id)).toMatchObject({ state: 'failed', error: 'agent lost: lease expired', attempts: 2 });
  });

  it('never re-queues a task whose command failed, whatever maxAttempts says', async () => {
    const created = await create({ command: 'false', maxAttempts: 3 });
    const t = await pick();
    await call(server.url, 'POST', `/tasks/${t.id}/finish`, {
      headers: agentHeaders('a1', { 'x-lease-token': t.leaseToken }),
      body: { exitCode: 1, stdout: '', stderr: '' },
    });
    await watch(LEASE * 10);
    await expire();
    expect(await get(created.id)).toMatchObject({ state: 'failed', error: null, attempts: 1 });
  });

  it('ends a heartbeated task timed_out once its timeout plus the grace has passed without a finish', async () => {
    await create({ command: 'sleep 100', timeoutSeconds: 60 });
    const t = await pick();
    const grace = leasePolicy({ leaseSeconds: LEASE }).deadlineGraceSeconds;
    for (let s = 0; s < 60 + grace - 10; s += 10) {
      await watch(10);
      expect((await heartbeat(t)).status).toBe(200);
    }
    expect((await get(t.id)).state).toBe('running');
    await watch(11);
    expect(await get(t.id)).toMatchObject({ state: 'timed_out', error: 'timed out after 60s (the agent did not report in time)' });
    expect((await heartbeat(t)).status).toBe(409);
  });

  it('cancels a queued task at once', async () => {
    const t = await create();
    const res = await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'canceled', error: 'canceled by user' });
    expect((await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders() })).status).toBe(204);
  });

  it('flags a running task, tells its agent through the heartbeat, and accepts its canceled finish', async () => {
    await create();
    const t = await pick();
    const res = await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'running', cancelRequested: true });
    const hb = await heartbeat(t);
    expect(hb.body).toMatchObject({ cancelRequested: true });
    const fin = await call(server.url, 'POST', `/tasks/${t.id}/finish`, {
      headers: agentHeaders('a1', { 'x-lease-token': t.leaseToken }),
      body: { exitCode: null, stdout: '', stderr: '', state: 'canceled', error: 'canceled by user' },
    });
    expect(fin.body).toMatchObject({ state: 'canceled', error: 'canceled by user' });
  });

  it('ends a task canceled while it ran as canceled even when the command had already succeeded', async () => {
    await create();
    const t = await pick();
    await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    const fin = await call(server.url, 'POST', `/tasks/${t.id}/finish`, {
      headers: agentHeaders('a1', { 'x-lease-token': t.leaseToken }),
      body: { exitCode: 0, stdout: 'done\n', stderr: '' },
    });
    expect(fin.body).toMatchObject({
      state: 'canceled',
      exitCode: 0,
      stdout: 'done\n',
      error: 'canceled by user (the command had already ended: succeeded)',
    });
  });

  it('ends a canceled running task as canceled when its agent stays silent past the cancel grace', async () => {
    await create();
    const t = await pick();
    await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    await watch(LEASE - 10);
    expect((await heartbeat(t)).status).toBe(200);
    expect((await get(t.id)).state).toBe('running');
    await watch(11);
    expect(await get(t.id)).toMatchObject({ state: 'canceled', error: 'canceled by user' });
    expect((await heartbeat(t)).status).toBe(409);
  });

  it('answers 409 to a cancel of an ended task and 404 to an unknown one', async () => {
    const t = await create();
    await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    const again = await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    expectProblem(again, 409);
    const unknown = await call(server.url, 'POST', '/tasks/00000000-0000-4000-8000-000000000000/cancel');
    expectProblem(unknown, 404);
  });

  it("ends a lost agent's task through the server's own reaper, with no endpoint called", async () => {
    const fast = await startTestServer(store, { LEASE_SECONDS: '3' }, clock.now);
    try {
      await call(fast.url, 'POST', '/tasks', { body: { command: 'true' } });
      const t = (await call(fast.url, 'GET', '/tasks/pick', { headers: agentHeaders() })).body as T;
      clock.advance(10);
      const ended = await eventually(async () => {
        const rows = await fast.db.query<{ state: string; error: string }>('select state, error from tasks where id = $1::uuid', [t.id]);
        return rows[0]?.state === 'failed' ? rows[0] : null;
      });
      expect(ended.error).toBe('agent lost: lease expired');
    } finally {
      await fast.stop();
    }
  });
});
