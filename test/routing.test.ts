/**
 * docs/routing.md (routing, retention) and §12 (runAt, `scheduled`) through the real app on both
 * stores: pick order by priority, then runAt, then creation; labels; promotion at runAt with the
 * clock moved either side of the boundary; cancel of a scheduled task; retention's cutoff.
 */
import { requestLog } from '../functions/shared/logger';
import { promoteDue } from '../functions/shared/promotion';
import { applyRetention } from '../functions/shared/retention';
import { movableClock } from './support/clock';
import { stores } from './support/databases';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';

type T = { id: string; state: string; priority: number; labels: string[]; runAt: string; leaseToken: string; startedAt: string | null };

describe.each(stores)('routing and delayed tasks on $name', (store) => {
  let server: TestServer;
  const clock = movableClock();
  beforeAll(async () => {
    // TASK_RETENTION=0: the server's own reaper deletes nothing; the retention test calls it itself.
    server = await startTestServer(store, { TASK_RETENTION: '0' }, clock.now);
  });
  afterAll(async () => {
    await server.stop();
  });

  const create = async (body: Record<string, unknown>) => {
    const reply = await call(server.url, 'POST', '/tasks', { body: { command: 'true', ...body } });
    expect(reply.status).toBe(201);
    return reply.body as T;
  };
  const pick = async (labels?: string, agent = 'a1', wait?: number) => {
    const headers = agentHeaders(agent, labels === undefined ? {} : { 'x-agent-labels': labels });
    const reply = await call(server.url, 'GET', `/tasks/pick${wait === undefined ? '' : `?wait=${wait}`}`, { headers });
    return reply.status === 204 ? null : (reply.body as T);
  };
  const get = async (id: string) => (await call(server.url, 'GET', `/tasks/${id}`)).body as T;
  const log = () => requestLog(server.deps.logger, { test: 'routing' });
  /** A promotion run whose clock reads `at` (the server's own timer keeps the test clock). */
  const promoteAt = (at: Date) => promoteDue({ db: server.db, now: () => at, log: log() });
  const drain = async (labels = 'a,b,gpu,linux,x') => {
    while ((await pick(labels, 'drain')) !== null) {}
    while ((await pick(undefined, 'drain')) !== null) {}
  };
  beforeEach(() => drain());

  it('hands out the highest priority first, then the earliest runAt, then the earliest created', async () => {
    const past = new Date(clock.now().getTime() - 60_000).toISOString();
    const low = await create({ priority: -5 });
    const plain = await create({});
    const high = await create({ priority: 1000 });
    const plain2 = await create({ priority: 0 });
    const earlier = await create({ runAt: past });
    const high2 = await create({ priority: 1000 });
    expect(earlier.state).toBe('queued');
    const order: string[] = [];
    for (let t = await pick(); t !== null; t = await pick()) order.push(t.id);
    expect(order).toEqual([high.id, high2.id, earlier.id, plain.id, plain2.id, low.id]);
  });

  it('gives a labelled task only to an agent that has every one of its labels, and an unlabelled one to any agent', async () => {
    const gpu = await create({ labels: ['linux', 'gpu', 'gpu'] });
    expect(gpu.labels).toEqual(['gpu', 'linux']);
    expect(await pick()).toBeNull();
    expect(await pick('gpu')).toBeNull();
    const plain = await create({ priority: -1 });
    expect((await pick('gpu,linux,x'))?.id).toBe(gpu.id);
    expect((await pick('gpu'))?.id).toBe(plain.id);
  });

  it('lets a labelled agent take the better task across the label sets it covers', async () => {
    const plain = await create({ priority: 1 });
    const a = await create({ labels: ['a'], priority: 5 });
    const ab = await create({ labels: ['a', 'b'], priority: 3 });
    const b = await create({ labels: ['b'], priority: 9 });
    expect((await pick('a'))?.id).toBe(a.id);
    expect((await pick('a'))?.id).toBe(plain.id);
    expect(await pick('a')).toBeNull();
    expect((await pick('b,a'))?.id).toBe(b.id);
    expect((await pick('a,b'))?.id).toBe(ab.id);
  });

  it('wakes a held pick whose agent may run the new task, passing over one that may not', async () => {
    const unlabelled = pick(undefined, 'plain', 3);
    await new Promise((r) => setTimeout(r, 300)); // the unlabelled pick is first in line
    const labelled = pick('gpu', 'gpu-agent', 15);
    await new Promise((r) => setTimeout(r, 300));
    const task = await create({ labels: ['gpu'] });
    // Woken for it: a pick that was not would hold its full 15 s and answer 204.
    expect((await labelled)?.id).toBe(task.id);
    expect(await unlabelled).toBeNull();
  });

  it('filters the list by label', async () => {
    const x = await create({ labels: ['x', 'a'] });
    await create({ labels: ['a'] });
    const reply = await call(server.url, 'GET', '/tasks?label=x');
    expect(reply.status).toBe(200);
    const ids = (reply.body as { tasks: T[] }).tasks.map((t) => t.id);
    expect(ids).toEqual([x.id]);
    const both = (await call(server.url, 'GET', '/tasks?label=a,x')).body as { tasks: T[] };
    expect(both.tasks.map((t) => t.id)).toEqual([x.id]);
  });

  it('keeps a task scheduled until its runAt, then queues it at exactly that moment (clock moved)', async () => {
    const runAt = new Date(clock.now().getTime() + 3600_000);
    const t = await create({ runAt: runAt.toISOString(), priority: 2 });
    expect(t).toMatchObject({ state: 'scheduled', runAt: runAt.toISOString(), priority: 2 });
    expect(await pick()).toBeNull();
    expect(await promoteAt(new Date(runAt.getTime() - 1))).toBe(0);
    expect((await get(t.id)).state).toBe('scheduled');
    expect(await pick()).toBeNull();
    expect(await promoteAt(runAt)).toBe(1);
    expect((await get(t.id)).state).toBe('queued');
    clock.advance(3600);
    const picked = await pick();
    expect(picked?.id).toBe(t.id);
    expect(Date.parse(picked?.startedAt as string)).toBeGreaterThanOrEqual(runAt.getTime());
  });

  it('wakes a held pick when a scheduled task it may run is promoted', async () => {
    const t = await create({ runAt: new Date(clock.now().getTime() + 600_000).toISOString(), labels: ['gpu'] });
    const held = pick('gpu', 'held', 15);
    await new Promise((r) => setTimeout(r, 300));
    await promoteAt(new Date(Date.parse(t.runAt)));
    expect((await held)?.id).toBe(t.id);
  });

  it('cancels a scheduled task at once, and it is never queued afterwards', async () => {
    const t = await create({ runAt: new Date(clock.now().getTime() + 60_000).toISOString() });
    const reply = await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ state: 'canceled', error: 'canceled by user' });
    expect(await promoteAt(new Date(Date.parse(t.runAt) + 60_000))).toBe(0);
    expect((await get(t.id)).state).toBe('canceled');
    expect((await call(server.url, 'GET', '/tasks?state=scheduled')).body).toMatchObject({ tasks: [] });
  });

  it('queues a task whose runAt has passed at once', async () => {
    const t = await create({ runAt: '2020-01-01T00:00:00+02:00' });
    expect(t).toMatchObject({ state: 'queued', runAt: '2019-12-31T22:00:00.000Z' });
  });

  it('deletes, under TASK_RETENTION, the tasks that ended before the cutoff and nothing else', async () => {
    const finish = async (t: T) =>
      call(server.url, 'POST', `/tasks/${t.id}/finish`, {
        headers: agentHeaders('r1', { 'x-lease-token': t.leaseToken }),
        body: { exitCode: 0, stdout: 'x', stderr: '' },
      });
    /** A retention run whose clock reads `at`. */
    const retentionAt = (at: number) =>
      applyRetention({
        db: server.db,
        now: () => new Date(at),
        config: { ...server.deps.config, taskRetentionSeconds: 3600 },
        metrics: server.deps.metrics,
        log: log(),
      });
    await server.db.query('delete from tasks where finished_at is not null'); // what earlier tests ended
    await create({ command: 'echo old' });
    const old = (await pick(undefined, 'r1')) as T;
    const oldEnd = Date.parse(((await finish(old)).body as { finishedAt: string }).finishedAt);
    await server.db.query(`insert into task_output (task_id, stream, start_offset, data) values ($1::uuid, 'stdout', 0, 'x')`, [old.id]);
    clock.advance(1800);
    await create({ command: 'echo newer' });
    const newer = (await pick(undefined, 'r1')) as T;
    expect((await finish(newer)).status).toBe(200);
    const running = await create({ command: 'echo running' });
    await pick(undefined, 'r2');
    const queued = await create({ command: 'echo queued' });
    const canceled = await create({ command: 'echo canceled' });
    await call(server.url, 'POST', `/tasks/${canceled.id}/cancel`);
    // old ended exactly 3600 s ago: not before the cutoff yet; a millisecond later it is
    expect(await retentionAt(oldEnd + 3600_000)).toBe(0);
    expect(await retentionAt(oldEnd + 3600_001)).toBe(1);
    expect((await call(server.url, 'GET', `/tasks/${old.id}`)).status).toBe(404);
    expect(await server.db.query('select 1 from task_output where task_id = $1::uuid', [old.id])).toEqual([]);
    for (const t of [newer, running, queued, canceled]) expect((await call(server.url, 'GET', `/tasks/${t.id}`)).status).toBe(200);
    // newer and canceled ended over an hour ago then; the running and the queued task stay
    expect(await retentionAt(oldEnd + 1800_000 + 3600_000 + 60_000)).toBe(2);
    expect((await get(running.id)).state).toBe('running');
    expect((await get(queued.id)).state).toBe('queued');
  });
});
