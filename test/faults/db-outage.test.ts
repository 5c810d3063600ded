/**
 * Database outages (issue 3 item 6) against a private PostgreSQL that the test stops, starts,
 * freezes and whose connections it terminates: every endpoint answers 503 problem+json within
 * a bounded time, /health says 503, nothing crashes (an unhandled 'error' event of a pg client
 * would kill this jest worker), and everything, the LISTEN connection included, recovers by itself.
 */
import type { Client } from 'pg';
import type { PickedTask, Task } from '../../contract/task';
import { loadConfig } from '../../functions/shared/config';
import { openPostgres } from '../../functions/shared/db/postgres';
import { UnavailableError } from '../../functions/shared/errors';
import { type RunningServer, startServer } from '../../infra/local/server';
import { eventually } from '../support/clock';
import { describeUnless } from '../support/conditional';
import { freePort } from '../support/net';
import { type PrivatePostgres, privatePostgresUnavailable, startPrivatePostgres } from '../support/private-postgres';
import { expectProblem } from '../support/problem';
import { spawnScript, stopProcess } from '../support/processes';
import { createScratchDatabase, withClient } from '../support/scratch-database';
import { agentHeaders, call, type Reply } from '../support/server';

const DB = 'te_outage';
/** connectionTimeoutMillis (5 s) plus slack for a busy 2-core CI box. */
const BOUND_MS = 8000;
const unavailable = privatePostgresUnavailable();
const describeIf = describeUnless(unavailable === null ? null : `private PostgreSQL unavailable (${unavailable})`);

/** Runs `fn` on a connection to the private server's `postgres` database. */
const admin = <T>(pg: PrivatePostgres, fn: (c: Client) => Promise<T>) => withClient(pg.url(), fn, 3000);

/** Terminates every connection to the test database, and only those. */
const terminateAll = (pg: PrivatePostgres) =>
  admin(pg, async (c) => {
    const r = await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [DB]);
    return r.rowCount ?? 0;
  });

/** Whether the server's LISTEN connection is (back) in place. */
const listening = (pg: PrivatePostgres) =>
  admin(pg, async (c) => {
    const r = await c.query("select 1 from pg_stat_activity where datname = $1 and query ilike 'listen %'", [DB]);
    return (r.rowCount ?? 0) > 0;
  }).catch(() => false);

const timed = async (p: Promise<Reply>) => {
  const t = Date.now();
  const reply = await p;
  return { reply, ms: Date.now() - t };
};

describeIf('database outages (private PostgreSQL)', () => {
  let pg: PrivatePostgres;
  let server: RunningServer;
  let task: Task;
  let picked: PickedTask;

  beforeAll(async () => {
    pg = (await startPrivatePostgres()) as PrivatePostgres;
    await createScratchDatabase(pg.url(), { name: DB });
    const config = loadConfig({ DATABASE_URL: pg.url(DB), SERVER_PORT: '0', LOG_LEVEL: 'error', LEASE_SECONDS: '30' });
    server = await startServer(config);
    // One running task (picked) and one queued (task) to aim the per-task endpoints at.
    await call(server.url, 'POST', '/tasks', { body: { command: 'true' } });
    picked = (await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a1') })).body as PickedTask;
    task = (await call(server.url, 'POST', '/tasks', { body: { command: 'true' } })).body as Task;
  }, 90000);

  afterAll(async () => {
    await server?.close(1000);
    await pg?.destroy();
  });

  const requests = (): [string, () => Promise<Reply>][] => [
    ['GET /health', () => call(server.url, 'GET', '/health')],
    ['POST /tasks', () => call(server.url, 'POST', '/tasks', { body: { command: 'echo hi' } })],
    ['GET /tasks', () => call(server.url, 'GET', '/tasks')],
    ['GET /tasks/{id}', () => call(server.url, 'GET', `/tasks/${task.id}`)],
    ['POST /tasks/{id}/cancel', () => call(server.url, 'POST', `/tasks/${task.id}/cancel`)],
    ['GET /tasks/pick', () => call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a2') })],
    ['GET /tasks/pick?wait=2', () => call(server.url, 'GET', '/tasks/pick?wait=2', { headers: agentHeaders('a2') })],
    [
      'POST /tasks/{id}/heartbeat',
      () =>
        call(server.url, 'POST', `/tasks/${picked.id}/heartbeat`, { headers: agentHeaders('a1', { 'x-lease-token': picked.leaseToken }) }),
    ],
    [
      'POST /tasks/{id}/finish',
      () =>
        call(server.url, 'POST', `/tasks/${picked.id}/finish`, {
          headers: agentHeaders('a1', { 'x-lease-token': picked.leaseToken }),
          body: { exitCode: 0, stdout: 'ok', stderr: '' },
        }),
    ],
  ];

  /** Every endpoint, one after the other: each must be a 503 problem+json within BOUND_MS. */
  const expectAll503 = async () => {
    const seen: string[] = [];
    for (const [name, send] of requests()) {
      const { reply, ms } = await timed(send());
      seen.push(`${name}: ${reply.status} in ${ms} ms`);
      expect({ name, status: reply.status }).toEqual({ name, status: 503 });
      expectProblem(reply, 503);
      expect(reply.body).toMatchObject({ title: 'Service unavailable' });
      expect(ms).toBeLessThan(BOUND_MS);
    }
    return seen;
  };

  /** With nothing queued, a held pick is woken by the insert's NOTIFY long before its 15 s wait is over. */
  const expectWokenPick = async () => {
    while ((await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('drain') })).status === 200) {}
    const held = timed(call(server.url, 'GET', '/tasks/pick?wait=15', { headers: agentHeaders('a3') }));
    await new Promise((r) => setTimeout(r, 500));
    const created = await call(server.url, 'POST', '/tasks', { body: { command: 'echo back' } });
    expect(created.status).toBe(201);
    const woken = await held;
    expect(woken.reply.status).toBe(200);
    expect((woken.reply.body as Task).id).toBe((created.body as Task).id);
    expect(woken.ms).toBeLessThan(5000);
  };

  it('answers 503 problem+json on every endpoint within a bounded time while PostgreSQL is stopped', async () => {
    await pg.stop('fast');
    const seen = await expectAll503();
    console.log(`PostgreSQL stopped:\n  ${seen.join('\n  ')}`);
    // The one route without the database still answers.
    expect((await call(server.url, 'GET', '/')).status).toBe(200);
  });

  it('recovers by itself once PostgreSQL is back, held picks included (the LISTEN connection reconnects)', async () => {
    await pg.start();
    await eventually(async () => (await call(server.url, 'GET', '/health')).status === 200, 20000, 200);
    await eventually(() => listening(pg), 20000, 200);
    await expectWokenPick();
    // The task held before the outage can still be finished by its agent.
    const fin = await call(server.url, 'POST', `/tasks/${picked.id}/finish`, {
      headers: agentHeaders('a1', { 'x-lease-token': picked.leaseToken }),
      body: { exitCode: 0, stdout: 'ok', stderr: '' },
    });
    expect(fin.status).toBe(200);
  });

  it('never answers 500 when all its connections are terminated, and recovers, LISTEN included', async () => {
    await eventually(() => listening(pg), 20000, 200);
    expect(await terminateAll(pg)).toBeGreaterThan(0);
    const statuses: number[] = [];
    for (const [, send] of requests()) statuses.push((await send()).status);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    await eventually(async () => (await call(server.url, 'GET', '/health')).status === 200, 20000, 200);
    await eventually(() => listening(pg), 20000, 200);
    await expectWokenPick();
  });

  it('answers 503, not 500, within the client timeouts while PostgreSQL is frozen (SIGSTOP)', async () => {
    // A frozen server (or a network that drops packets) answers nothing: pooled connections
    // wait for the query timeout, new ones for the connection timeout.
    // Idle pooled connections (the pool holds 10): requests meet both kinds.
    await Promise.all(Array.from({ length: 5 }, () => server.db.query('select pg_sleep(0.2)')));
    const pids = pg.pids();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      const replies = await Promise.all([
        timed(call(server.url, 'GET', '/health')),
        timed(call(server.url, 'GET', `/tasks/${task.id}`)),
        timed(call(server.url, 'GET', '/tasks')),
        timed(call(server.url, 'POST', '/tasks', { body: { command: 'true' } })),
        timed(
          call(server.url, 'POST', `/tasks/${picked.id}/heartbeat`, {
            headers: agentHeaders('a1', { 'x-lease-token': picked.leaseToken }),
          }),
        ),
        timed(call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a5') })),
        timed(call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a6') })),
        timed(call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a7') })),
      ]);
      for (const { reply, ms } of replies) {
        expectProblem(reply, 503);
        expect(ms).toBeLessThan(30000);
      }
      console.log(`PostgreSQL frozen: 503 after ${replies.map((r) => r.ms).join(', ')} ms`);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await eventually(async () => (await call(server.url, 'GET', '/health')).status === 200, 20000, 200);
  }, 60000);

  it('rolls back a transaction whose connection is terminated, with a 503 error and no crash', async () => {
    const db = openPostgres({ kind: 'postgres', connectionString: pg.url(DB) }, { poolMax: 2 });
    try {
      const failed = db
        .tx(async (q) => {
          const [row] = await q.query<{ pid: number }>('select pg_backend_pid() as pid');
          await admin(pg, (c) => c.query('select pg_terminate_backend($1::int)', [row?.pid]));
          await q.query('select 1');
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(await failed).toBeInstanceOf(UnavailableError);
      // The socket's 'end' arrives after the rejection: give it time to blow up if it would.
      await new Promise((r) => setTimeout(r, 500));
      expect(await db.query<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('leaves no LISTEN connection behind when unlisten comes while a reconnect is under way', async () => {
    const db = openPostgres({ kind: 'postgres', connectionString: pg.url(DB) }, { poolMax: 1 });
    const listens = () =>
      admin(
        pg,
        async (c) => (await c.query("select pid from pg_stat_activity where datname = $1 and query = 'listen te_probe'", [DB])).rowCount,
      );
    try {
      const unlisten = await db.listen(
        'te_probe',
        () => {},
        () => {},
      );
      expect(await listens()).toBe(1);
      await admin(pg, (c) =>
        c.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query = 'listen te_probe'", [DB]),
      );
      // The reconnect starts 400 ms later; a frozen server holds it in the middle of connecting.
      await new Promise((r) => setTimeout(r, 200));
      const pids = pg.pids();
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, 1000));
        await unlisten();
      } finally {
        for (const pid of pids) process.kill(pid, 'SIGCONT');
      }
      await new Promise((r) => setTimeout(r, 1500));
      expect(await listens()).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('waits for the database at start-up with clear log lines, then serves', async () => {
    await pg.stop('fast');
    const port = await freePort();
    const server = spawnScript('server', 'infra/local/server-main.ts', {
      env: { DATABASE_URL: pg.url(DB), SERVER_PORT: String(port), LOG_LEVEL: 'info' },
    });
    try {
      await eventually(async () => /waiting for the database/.test(server.output()), 30000, 100);
      const waiting = server
        .output()
        .split('\n')
        .find((l) => /waiting for the database/.test(l)) as string;
      console.log(`start-up while PostgreSQL is down:\n  ${waiting}`);
      expect(waiting).toMatch(/ECONNREFUSED/);
      expect(server.alive()).toBe(true);
      await pg.start();
      await eventually(async () => /listening on/.test(server.output()), 30000, 100);
      expect(server.output()).toMatch(/database reachable/);
      expect((await call(`http://127.0.0.1:${port}`, 'GET', '/health')).status).toBe(200);
    } finally {
      await stopProcess(server);
    }
    // One "waiting" line per outage, not one per attempt.
    expect(server.output().match(/waiting for the database/g)?.length).toBe(1);
  }, 90000);
});
