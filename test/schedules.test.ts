/**
 * /schedules over HTTP on every store (docs/api.md, Schedules): create, list, get, patch, delete, their
 * token rule and bad input, and the ticks with the clock moved (never slept): one task per tick,
 * pause, resume, delete, and a server down for three periods making one catch-up task.
 */
import { MAX_SCHEDULES_LISTED, USER_BODY_LIMIT } from '../contract/http';
import type { Schedule, ScheduleList } from '../contract/schedule';
import type { Task } from '../contract/task';
import { listSchedules } from '../functions/list-schedules/list-schedules';
import { requestLog } from '../functions/shared/logger';
import { runScheduleTicks, type TickOptions } from '../functions/shared/schedule-ticks';
import { movableClock } from './support/clock';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { call, startTestServer, type TestServer } from './support/server';

const TOKEN = 'schedules-api-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

describe.each(stores)('/schedules on $name', (store) => {
  let server: TestServer;
  const clock = movableClock();
  let n = 0;

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN: TOKEN }, clock.now);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const create = async (body: Record<string, unknown> = {}) => {
    n += 1;
    const reply = await call(server.url, 'POST', '/schedules', {
      body: { name: `s-${n}`, cron: '0 3 * * *', command: `echo tick ${n}`, ...body },
      headers: auth,
    });
    expect(reply.status).toBe(201);
    return reply.body as Schedule;
  };
  const get = async (id: string) => (await call(server.url, 'GET', `/schedules/${id}`, { headers: auth })).body as Schedule;
  const patch = async (id: string, body: unknown) => {
    const reply = await call(server.url, 'PATCH', `/schedules/${id}`, { body, headers: auth });
    expect(reply.status).toBe(200);
    return reply.body as Schedule;
  };
  /** Runs one round of ticks now (the server's own timer may run one too: claims make that harmless). */
  const tick = (options: TickOptions = {}) =>
    runScheduleTicks(
      {
        db: server.db,
        now: clock.now,
        metrics: server.deps.metrics,
        log: requestLog(server.deps.logger, { handler: 'test' }),
      },
      options,
    );
  const tasksOf = async (scheduleId: string) => {
    const rows = await server.db.query<{ id: string }>('select id from tasks where schedule_id = $1::uuid order by scheduled_for', [
      scheduleId,
    ]);
    return Promise.all(rows.map(async (r) => (await call(server.url, 'GET', `/tasks/${r.id}`, { headers: auth })).body as Task));
  };
  /** Moves the clock to `seconds` after the schedule's next tick. */
  const moveTo = async (id: string, seconds: number) => {
    const next = (await get(id)).nextRunAt as string;
    clock.advance((Date.parse(next) - clock.now().getTime()) / 1000 + seconds);
  };

  it('creates a schedule with its defaults and first tick, answering 201 with Location', async () => {
    const before = clock.now();
    const reply = await call(server.url, 'POST', '/schedules', {
      body: { name: 'nightly', cron: '30 2 * * *', command: 'echo nightly', timezone: 'Europe/Berlin' },
      headers: auth,
    });
    expect(reply.status).toBe(201);
    const s = reply.body as Schedule;
    expect(reply.headers.get('location')).toBe(`/schedules/${s.id}`);
    expect(s).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'nightly',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      command: 'echo nightly',
      timeoutSeconds: 3600,
      priority: 0,
      labels: [],
      paused: false,
      nextRunAt: expect.any(String),
      lastRunAt: null,
      skippedTicks: 0,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const next = Date.parse(s.nextRunAt as string);
    expect(next).toBeGreaterThan(before.getTime());
    expect(next - before.getTime()).toBeLessThanOrEqual(25 * 3600 * 1000);
    // 02:30 in Berlin is 00:30 or 01:30 UTC
    expect(new Date(next).toISOString()).toMatch(/T0[01]:30:00\.000Z$/);
    expect(await get(s.id)).toEqual(s);
  });

  it('answers 409 for a repeated name, storing nothing', async () => {
    const s = await create();
    const reply = await call(server.url, 'POST', '/schedules', {
      body: { name: s.name, cron: '* * * * *', command: 'true' },
      headers: auth,
    });
    expectProblem(reply, 409, /already exists/);
    const again = await call(server.url, 'PATCH', `/schedules/${(await create()).id}`, { body: { name: s.name }, headers: auth });
    expectProblem(again, 409, /already exists/);
  });

  it('lists schedules by name with nextRunAt and lastRunAt, bounded', async () => {
    const reply = await call(server.url, 'GET', '/schedules', { headers: auth });
    expect(reply.status).toBe(200);
    const list = reply.body as ScheduleList;
    expect(list.truncated).toBe(false);
    const names = list.schedules.map((s) => s.name);
    expect(names).toEqual([...names].sort());
    for (const s of list.schedules) {
      expect(s).toHaveProperty('nextRunAt');
      expect(s).toHaveProperty('lastRunAt');
    }
    expect(MAX_SCHEDULES_LISTED).toBe(500);
    const capped = await listSchedules({ db: server.db }, 2);
    expect(capped.schedules).toHaveLength(2);
    expect(capped.truncated).toBe(true);
  });

  it('makes one task per tick with scheduleId and scheduledFor, however often the ticks run', async () => {
    const s = await create({ command: 'echo per-tick', timeoutSeconds: 60 });
    await moveTo(s.id, 1);
    await Promise.all([tick(), tick(), tick()]);
    await tick();
    const tasks = await tasksOf(s.id);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ command: 'echo per-tick', timeoutSeconds: 60, scheduleId: s.id, scheduledFor: s.nextRunAt });
    const after = await get(s.id);
    expect(after.lastRunAt).toBe(s.nextRunAt);
    expect(Date.parse(after.nextRunAt as string) - Date.parse(s.nextRunAt as string)).toBe(24 * 3600 * 1000);
  });

  it('creates nothing while paused, and resumes at the next tick without catching up on the pause', async () => {
    const s = await create();
    const paused = await patch(s.id, { paused: true });
    expect(paused).toMatchObject({ paused: true, nextRunAt: null });
    clock.advance(2 * 86400);
    await tick();
    expect(await tasksOf(s.id)).toHaveLength(0);
    const resumed = await patch(s.id, { paused: false });
    expect(resumed.paused).toBe(false);
    expect(Date.parse(resumed.nextRunAt as string)).toBeGreaterThan(clock.now().getTime());
    await tick();
    expect(await tasksOf(s.id)).toHaveLength(0);
    await moveTo(s.id, 1);
    await tick();
    expect(await tasksOf(s.id)).toHaveLength(1);
  });

  it('creates a schedule paused, and recomputes the next tick when cron or timezone change', async () => {
    const s = await create({ paused: true });
    expect(s.nextRunAt).toBeNull();
    const changed = await patch(s.id, { paused: false, cron: '0 12 * * *', timezone: 'America/New_York' });
    expect(changed).toMatchObject({ cron: '0 12 * * *', timezone: 'America/New_York', paused: false });
    // noon in New York is 16:00 or 17:00 UTC
    expect(changed.nextRunAt).toMatch(/T1[67]:00:00\.000Z$/);
    const renamed = await patch(s.id, { command: 'echo renamed', name: `${s.name}-renamed` });
    expect(renamed).toMatchObject({ command: 'echo renamed', name: `${s.name}-renamed`, nextRunAt: changed.nextRunAt });
  });

  it('creates no task after a DELETE, and answers 404 for it afterwards', async () => {
    const s = await create();
    const del = await call(server.url, 'DELETE', `/schedules/${s.id}`, { headers: auth });
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    clock.advance((Date.parse(s.nextRunAt as string) - clock.now().getTime()) / 1000 + 1);
    await tick();
    expect(await tasksOf(s.id)).toHaveLength(0);
    expectProblem(await call(server.url, 'GET', `/schedules/${s.id}`, { headers: auth }), 404, /No schedule/);
    expectProblem(await call(server.url, 'DELETE', `/schedules/${s.id}`, { headers: auth }), 404);
    expectProblem(await call(server.url, 'PATCH', `/schedules/${s.id}`, { body: { paused: true }, headers: auth }), 404);
  });

  it('makes one catch-up task, not three, after every server was down for three periods, and counts the skipped ticks', async () => {
    const s = await create({ cron: '0 3 * * *' });
    const first = Date.parse(s.nextRunAt as string);
    // down from before the first tick to an hour past the fourth
    await moveTo(s.id, 3 * 86400 + 3600);
    await tick();
    const tasks = await tasksOf(s.id);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.scheduledFor).toBe(new Date(first + 3 * 86400 * 1000).toISOString());
    const after = await get(s.id);
    expect(after.skippedTicks).toBe(3);
    expect(after.nextRunAt).toBe(new Date(first + 4 * 86400 * 1000).toISOString());
    // counted in the metrics of the server whose round claimed it (this test's, or the server's own timer: one process)
    const metrics = await call(server.url, 'GET', '/metrics', { headers: auth });
    expect(Number(/^taskexec_schedule_ticks_skipped_total (\d+)$/m.exec(metrics.text)?.[1])).toBeGreaterThanOrEqual(3);
    expect(Number(/^taskexec_schedule_ticks_created_total (\d+)$/m.exec(metrics.text)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('gives every tick its task when the loop runs but a round comes late: a 1-second schedule, the round 2.6 s after the last', async () => {
    const s = await create({ cron: '* * * * * *' });
    const first = Date.parse(s.nextRunAt as string);
    await moveTo(s.id, -0.1);
    const since = clock.now();
    clock.advance(2.6);
    await tick({ watchedSince: since });
    const tasks = await tasksOf(s.id);
    expect(tasks.map((t) => t.scheduledFor)).toEqual([0, 1, 2].map((k) => new Date(first + k * 1000).toISOString()));
    const after = await get(s.id);
    expect(after.skippedTicks).toBe(0);
    expect(after.nextRunAt).toBe(new Date(first + 3000).toISOString());
  });

  it('treats the ticks more than 90 s before a late round as missed while down: skipped, and each of the last 90 s gets its task', async () => {
    const s = await create({ cron: '* * * * * *' });
    const first = Date.parse(s.nextRunAt as string);
    await moveTo(s.id, -0.1);
    const since = clock.now();
    clock.advance(600.5);
    await tick({ watchedSince: since });
    const tasks = await tasksOf(s.id);
    // the ticks of the last 90 s each get a task; the 510 before them are skipped
    expect(tasks.length).toBeGreaterThanOrEqual(90);
    expect(tasks.length).toBeLessThanOrEqual(91);
    expect(tasks.at(-1)?.scheduledFor).toBe(new Date(first + 600 * 1000).toISOString());
    expect((await get(s.id)).skippedTicks).toBe(601 - tasks.length);
  });

  it('needs API_TOKEN on every schedule endpoint', async () => {
    const s = await create();
    for (const [method, path] of [
      ['POST', '/schedules'],
      ['GET', '/schedules'],
      ['GET', `/schedules/${s.id}`],
      ['PATCH', `/schedules/${s.id}`],
      ['DELETE', `/schedules/${s.id}`],
    ] as const) {
      const body = method === 'GET' ? undefined : { paused: true };
      expectProblem(await call(server.url, method, path, { body }), 401);
      expectProblem(await call(server.url, method, path, { body, headers: { authorization: 'Bearer wrong' } }), 401);
    }
    expect((await get(s.id)).paused).toBe(false);
  });

  it.each([
    ['a bad cron', { cron: '61 * * * *' }, /cron/],
    ['a 4-field cron', { cron: '* * * *' }, /cron/],
    ['a cron that never fires', { cron: '0 0 30 2 *' }, /never fires/],
    ['an unknown timezone', { timezone: 'Mars/Olympus' }, /timezone/],
    ['an offset for a timezone', { timezone: '+02:00' }, /timezone/],
    ['an empty name', { name: '' }, /name/],
    ['a name with a newline', { name: 'a\nb' }, /name/],
    ['a name over 200 characters', { name: 'n'.repeat(201) }, /name/],
    ['an empty command', { command: ' ' }, /command/],
    ['a command over 64 KiB', { command: 'x'.repeat(64 * 1024 + 1) }, /command/],
    ['timeoutSeconds 0', { timeoutSeconds: 0 }, /timeoutSeconds/],
    ['priority 1001', { priority: 1001 }, /priority/],
    ['labels not an array', { labels: 'gpu' }, /labels/],
    ['paused "yes"', { paused: 'yes' }, /paused/],
    ['an unknown field', { every: '1h' }, /"every"/],
  ])('answers 400 naming the field for %s, storing nothing', async (_what, change, problem) => {
    const before = (await listSchedules({ db: server.db })).schedules.length;
    const body = { name: `bad-${n++}`, cron: '0 3 * * *', command: 'true', ...change };
    expectProblem(await call(server.url, 'POST', '/schedules', { body, headers: auth }), 400, problem);
    const s = await create();
    if (!('name' in change && change.name === '') && !('every' in change)) {
      expectProblem(await call(server.url, 'PATCH', `/schedules/${s.id}`, { body: change, headers: auth }), 400, problem);
      expect(await get(s.id)).toEqual(s);
    }
    expect((await listSchedules({ db: server.db })).schedules.length).toBe(before + 1);
  });

  it('answers 400 for missing fields, an empty PATCH, a bad id and a query string', async () => {
    expectProblem(
      await call(server.url, 'POST', '/schedules', { body: { name: 'x', cron: '* * * * *' }, headers: auth }),
      400,
      /"command"/,
    );
    const s = await create();
    expectProblem(await call(server.url, 'PATCH', `/schedules/${s.id}`, { body: {}, headers: auth }), 400, /changes nothing/);
    expectProblem(await call(server.url, 'GET', '/schedules/not-a-uuid', { headers: auth }), 400, /not a UUID/);
    expectProblem(await call(server.url, 'GET', '/schedules?limit=5', { headers: auth }), 400, /limit/);
    expectProblem(await call(server.url, 'DELETE', `/schedules/${s.id}`, { body: { force: true }, headers: auth }), 400, /"force"/);
  });

  it('answers 413 for a body over the route limit, before reading it', async () => {
    const huge = JSON.stringify({ name: 'huge', cron: '* * * * *', command: 'x'.repeat(USER_BODY_LIMIT) });
    const reply = await call(server.url, 'POST', '/schedules', { raw: huge, headers: { ...auth, 'content-type': 'application/json' } });
    expectProblem(reply, 413);
    const s = await create();
    const del = await call(server.url, 'DELETE', `/schedules/${s.id}`, { raw: 'x'.repeat(5000), headers: auth });
    expectProblem(del, 413);
    expect((await get(s.id)).id).toBe(s.id);
  });
});
