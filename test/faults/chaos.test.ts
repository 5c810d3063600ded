/**
 * 1,000 tasks, 8 real agents, the real server as a child process, a private PostgreSQL: in the
 * middle of the run every server connection is terminated, later PostgreSQL is stopped and
 * started again (issue 3 item 7). Afterwards: every task ended in exactly one terminal state,
 * none ran twice (each command appends its TASK_ID to a file), no 500 was answered, no agent exited.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { TERMINAL_STATES } from '../../contract/task';
import { waitFor } from '../support/clock';
import { describeUnless } from '../support/conditional';
import { type PrivatePostgres, privatePostgresUnavailable, startPrivatePostgres } from '../support/private-postgres';
import { type Proc, type ServerProc, startAgent, startServerProcess, stopAll, stopProcess } from '../support/processes';
import { createScratchDatabase, withClient } from '../support/scratch-database';
import { submit } from '../support/tasks';

const TASKS = 1000;
const AGENTS = 8;
const DB = 'te_chaos';
const unavailable = privatePostgresUnavailable();
const describeIf = describeUnless(unavailable === null ? null : `private PostgreSQL unavailable (${unavailable})`);

/** Runs `fn` on a connection to a database of the private server (`postgres` unless named). */
const admin = <T>(pg: PrivatePostgres, fn: (c: Client) => Promise<T>, database = 'postgres') => withClient(pg.url(database), fn, 3000);

const lines = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describeIf(`${TASKS} tasks, ${AGENTS} agents, connections terminated and PostgreSQL restarted mid-run`, () => {
  let pg: PrivatePostgres;
  let server: ServerProc;
  const agents: Proc[] = [];
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'te-chaos-'));
    pg = (await startPrivatePostgres()) as PrivatePostgres;
    await createScratchDatabase(pg.url(), { name: DB });
    // A short lease so that a pick whose answer was lost in the outage ends within the test.
    server = await startServerProcess({ DATABASE_URL: pg.url(DB), LEASE_SECONDS: '5' });
  }, 90000);

  afterAll(async () => {
    await stopAll();
    await pg?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('ends every task exactly once, runs none twice, answers no 500 and loses no agent', async () => {
    const ran = join(scratch, 'ran.txt');
    const ids = new Set<string>();
    for (let i = 0; i < TASKS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, TASKS - i) }, () => submit(server.url, { command: `echo "$TASK_ID" >> ${ran}` })),
      );
      for (const t of batch) ids.add(t.id);
    }
    const started = Date.now();
    for (let i = 0; i < AGENTS; i++) agents.push(startAgent(`chaos-${i + 1}`, server.url, { POLL_WAIT: '5s' }));

    await waitFor('a quarter of the tasks to run', () => lines(ran).length >= TASKS / 4, 60000, 20);
    const terminated = await admin(pg, async (c) => {
      const r = await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [DB]);
      return r.rowCount ?? 0;
    });
    const atTerminate = lines(ran).length;
    const terminateAt = Date.now();

    await waitFor('half of the tasks to run', () => lines(ran).length >= TASKS / 2, 60000, 20);
    const atStop = lines(ran).length;
    const stopAt = Date.now();
    await pg.stop('fast');
    await new Promise((r) => setTimeout(r, 3000));
    await pg.start();

    const counts = await waitFor(
      'every task to end',
      () =>
        admin(
          pg,
          async (c) => {
            const r = await c.query<{ state: string; n: string }>('select state, count(*) as n from tasks group by state');
            const byState = Object.fromEntries(r.rows.map((row) => [row.state, Number(row.n)]));
            return TERMINAL_STATES.reduce((sum, s) => sum + (byState[s] ?? 0), 0) === TASKS ? byState : null;
          },
          DB,
        ).catch(() => null),
      120000,
      250,
    );
    const seconds = (Date.now() - started) / 1000;
    const s = (t: number) => ((t - started) / 1000).toFixed(1);

    // Exactly one terminal state each, and none ran twice.
    const rows = await admin(
      pg,
      async (c) => (await c.query<{ id: string; state: string; error: string | null }>('select id, state, error from tasks')).rows,
      DB,
    );
    expect(rows).toHaveLength(TASKS);
    const runs = new Map<string, number>();
    for (const id of lines(ran)) runs.set(id, (runs.get(id) ?? 0) + 1);
    const twice = [...runs].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    expect([...runs.keys()].filter((id) => !ids.has(id))).toEqual([]);
    const unexpected = rows.filter(
      (r) => !(r.state === 'succeeded' && runs.get(r.id) === 1) && !(r.state === 'failed' && r.error === 'agent lost: lease expired'),
    );
    expect(unexpected).toEqual([]);
    const lostRan = rows.filter((r) => r.state === 'failed' && runs.has(r.id)).length;
    const lostNotRun = rows.filter((r) => r.state === 'failed' && !runs.has(r.id)).length;

    // No 500 anywhere, no error logged, every agent still there.
    const serverLog = server.output();
    expect(serverLog.match(/"status":500|"level":"ERROR".*/g) ?? []).toEqual([]);
    for (const a of agents) {
      expect({ agent: a.name, alive: a.alive() }).toEqual({ agent: a.name, alive: true });
      expect(a.output().match(/answered 500.*|"level":"ERROR".*/g) ?? []).toEqual([]);
    }
    expect(server.alive()).toBe(true);
    const unavailable503 = serverLog.match(/"status":503/g)?.length ?? 0;
    const agentBackoffs = agents.reduce((n, a) => n + (a.output().match(/server unreachable; backing off/g)?.length ?? 0), 0);
    console.log(
      [
        `${TASKS} tasks, ${AGENTS} agents: all ended in ${seconds.toFixed(1)} s (${(TASKS / seconds).toFixed(0)} tasks/s, outage included)`,
        `  pg_terminate_backend of ${terminated} connections at ${s(terminateAt)} s (${atTerminate} tasks ran); PostgreSQL stopped for 3 s at ${s(stopAt)} s (${atStop} ran)`,
        `  states: ${JSON.stringify(counts)}; ran twice: ${twice.length}; ended "agent lost" after running: ${lostRan}, without running: ${lostNotRun}`,
        `  503 answers: ${unavailable503}; agent back-off episodes: ${agentBackoffs}; 500 answers: 0; agents exited: 0`,
      ].join('\n'),
    );

    for (const a of agents) await stopProcess(a);
    for (const a of agents) expect((await a.exited).code).toBe(0);
  }, 240000);
});
