/**
 * `npm run bench [-- --embedded] [-- --quick] [-- --verbose] [-- --profile]`
 *
 * Starts the whole system on a fresh database (PostgreSQL: a database created on
 * BENCH_DATABASE_URL / TEST_DATABASE_URL and dropped at the end; --embedded: PGlite in a temp
 * DATA_DIR), the API server as a child process (`node --import tsx infra/local/server-main.ts`)
 * and real agent processes where agents are involved, measures every figure of issue 6 in one
 * run and prints one table. Everything it started is stopped and dropped at the end, on
 * failure and on Ctrl-C.
 *
 * --profile instead runs the server under `node --cpu-prof` through a pick+finish load, then one
 * agent under it through the 1-agent pipeline, and prints the top frames of each phase.
 *
 * The bench shares the machine with what it measures (its HTTP clients run in this process), and
 * its figures are only as quiet as the machine: the header prints the load average.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { Client as PgClient, Pool } from 'pg';
import type { Db, Queryable } from '../functions/shared/db/db';
import { migrate } from '../functions/shared/db/migrate';
import { claimNextQueuedTask, endRunningTask, insertTask, selectTaskPage } from '../functions/shared/db/tasks';
import { Client, concurrently, ms, num, percentile, sleep, until } from './http';
import {
  type CpuShare,
  connectedTo,
  cpuMeter,
  cpuSeconds,
  killAllProcs,
  type Proc,
  rssSampler,
  spawnNode,
  statusKb,
  stopAllProcs,
  stopProc,
} from './procs';
import { monotonicUs, summariseProfile } from './profile';

// ---------------------------------------------------------------------------------------------
// Options and sizes

const USAGE = `usage: npm run bench [-- --embedded] [-- --quick] [-- --verbose] [-- --profile]
  --embedded  run on the embedded PGlite instead of PostgreSQL
  --quick     smaller counts: a smoke run of every phase (about two minutes)
  --verbose   progress details, tasks per agent, and the EXPLAIN of the pick and list queries
  --profile   instead of the table: CPU profiles (node --cpu-prof) of the server during pick+finish
              and of one agent during the full pipeline, top frames of each
PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres
            (a fresh database is created there and dropped at the end).
BENCH_LOG_LEVEL: LOG_LEVEL of the server and agents (default warn).`;

const args = process.argv.slice(2);
const unknown = args.filter((a) => !['--embedded', '--quick', '--verbose', '--profile', '--help', '-h'].includes(a));
if (unknown.length > 0 || args.includes('--help') || args.includes('-h')) {
  process.stderr.write(`${unknown.length > 0 ? `unknown option ${unknown.join(' ')}\n` : ''}${USAGE}\n`);
  process.exit(unknown.length > 0 ? 2 : 0);
}
const EMBEDDED = args.includes('--embedded');
const QUICK = args.includes('--quick');
const VERBOSE = args.includes('--verbose');
const PROFILE = args.includes('--profile');
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const ROOT = resolve(__dirname, '..');
const CLIENTS = 10;
const AGENTS = 10;

const SIZES = QUICK
  ? {
      warmup: 100,
      latency: 30,
      floor: 1000,
      creates: 1000,
      pipe1: 200,
      pipe10: 500,
      longPoll: 15,
      polling: 4,
      backlog: 100_000,
      backlogQueued: 200,
      idleMs: 5000,
      coldRuns: 1,
      profile: 2000,
    }
  : {
      warmup: 300,
      latency: 50,
      floor: 5000,
      creates: 5000,
      pipe1: 1000,
      pipe10: 3000,
      longPoll: 40,
      polling: 12,
      backlog: 1_000_000,
      backlogQueued: 1000,
      idleMs: 10000,
      coldRuns: 3,
      profile: 10000,
    };
/** untimed picks and lists before each latency measurement */
const LATENCY_WARM = 10;

const say = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const detail = (msg: string) => VERBOSE && say(`  ${msg}`);
const loadavg = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

// ---------------------------------------------------------------------------------------------
// Cleanup: processes first, then databases and temp files, once, whatever happens.

const cleanups: { name: string; fn: () => Promise<void> | void }[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAllProcs(5000);
    for (const c of cleanups.reverse()) {
      try {
        await c.fn();
      } catch (error) {
        say(`cleanup of ${c.name} failed: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
/** Ctrl-C, SIGTERM, or the wrapper process gone: stop everything, drop the database, exit 130. */
function interrupt(why: string): void {
  if (interrupted) {
    killAllProcs();
    process.exit(130);
  }
  interrupted = true;
  say(`${why}: stopping every process and dropping the database (again to force)`);
  void cleanup().finally(() => process.exit(130));
}

let tmp = '';

/** Environment for children: nothing inherited that could select a database or a token. */
const baseEnv: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME: process.env.HOME ?? os.tmpdir(),
  TMPDIR: process.env.TMPDIR ?? os.tmpdir(),
  LANG: process.env.LANG ?? 'C.UTF-8',
};

// ---------------------------------------------------------------------------------------------
// The database the bench talks to directly (floor, backlog, EXPLAIN)

type Captured = { text: string; params: readonly unknown[] };
/** The exact SQL a tasks.ts function sends, without running it. */
async function captureSql(fn: (q: Queryable) => Promise<unknown>): Promise<Captured> {
  let captured: Captured | undefined;
  await fn({
    query: async <R>(text: string, params?: readonly unknown[]) => {
      captured = { text, params: params ?? [] };
      return [] as R[];
    },
  });
  if (!captured) throw new Error('no SQL captured');
  return captured;
}

type Direct = {
  /** 10 connections (pg Pool) or the PGlite instance */
  q: Queryable;
  /** one statement without a statement timeout (bulk insert, analyze) */
  run(text: string, params?: unknown[]): Promise<void>;
  /** EXPLAIN (ANALYZE, BUFFERS) of a statement inside a transaction that is rolled back */
  explain(c: Captured): Promise<string>;
  /** The PostgreSQL server processes serving this database (none for PGlite: it runs inside the server). */
  backendPids(): Promise<number[]>;
  /**
   * Milliseconds of each of `n` runs of a statement, committed each (`commit`), or each in a
   * transaction that is rolled back; null when the database cannot be reached from here.
   */
  timeSql: ((c: Captured, n: number, commit: boolean) => Promise<number[]>) | null;
  /**
   * `vacuum (analyze) tasks`; returns what PostgreSQL said about the table's indexes (whether
   * it cleaned them or bypassed them), when it says so.
   */
  vacuum(): Promise<string | null>;
  version: string;
  /** settings that matter to the figures */
  settings: string;
  close(): Promise<void>;
};

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function directPostgres(url: string): Promise<Direct> {
  const pool = new Pool({ connectionString: url, max: CLIENTS, application_name: 'task-executor-bench' });
  const one = new PgClient({ connectionString: url, application_name: 'task-executor-bench' });
  await one.connect();
  const version = ((await one.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?').split(
    ' ',
  )[0] as string;
  const settings = (
    await one.query<{ a: string; s: string; b: string }>(
      "select current_setting('autovacuum') as a, current_setting('synchronous_commit') as s, current_setting('shared_buffers') as b",
    )
  ).rows[0];
  return {
    settings: `autovacuum ${settings?.a}, synchronous_commit ${settings?.s}, shared_buffers ${settings?.b}`,
    async vacuum() {
      const said: string[] = [];
      const onNotice = (n: { message?: string }) => {
        if (/public\.tasks"/.test(n.message ?? '')) said.push(...(n.message ?? '').split('\n').filter((l) => /index scan/.test(l)));
      };
      one.on('notice', onNotice);
      try {
        await one.query('vacuum (verbose, analyze) tasks');
      } finally {
        one.off('notice', onNotice);
      }
      return said.length > 0 ? said.join('; ') : null;
    },
    q: { query: async <R>(text: string, params?: readonly unknown[]) => (await pool.query(text, params as unknown[])).rows as R[] },
    async run(text, params) {
      await one.query(text, params);
    },
    async explain(c) {
      await one.query('begin');
      try {
        const rows = (await one.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${c.text}`, c.params as unknown[])).rows;
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await one.query('rollback');
      }
    },
    async backendPids() {
      const rows = (await one.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database()')).rows;
      return rows.map((r) => r.pid);
    },
    async timeSql(c, n, commit) {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        if (!commit) await one.query('begin');
        const t0 = performance.now();
        await one.query(c.text, c.params as unknown[]);
        out.push(performance.now() - t0);
        if (!commit) await one.query('rollback');
      }
      return out;
    },
    version: `PostgreSQL ${version}`,
    async close() {
      await one.end();
      await pool.end();
    },
  };
}

class Rollback extends Error {}

async function directEmbedded(dataDir: string): Promise<Direct> {
  const { openEmbedded } = await import('../functions/shared/db/embedded');
  const db: Db = await openEmbedded({ dataDir });
  await migrate(db);
  const version = ((await db.query<{ v: string }>("select current_setting('server_version') as v"))[0]?.v ?? '?').split(' ')[0] as string;
  return {
    q: db,
    settings: 'no autovacuum worker (PGlite runs PostgreSQL single-user: nothing vacuums unless the application does)',
    async vacuum() {
      await db.query('vacuum (analyze) tasks');
      return null;
    },
    async run(text, params) {
      await db.query(text, params);
    },
    async explain(c) {
      let plan = '';
      await db
        .tx(async (q) => {
          const rows = await q.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${c.text}`, c.params);
          plan = rows.map((r) => r['QUERY PLAN']).join('\n');
          throw new Rollback();
        })
        .catch((error) => {
          if (!(error instanceof Rollback)) throw error;
        });
      return plan;
    },
    backendPids: async () => [],
    // The server's PGlite lives inside the server process: nothing to time from outside.
    timeSql: null,
    version: `PGlite (PostgreSQL ${version} in WASM)`,
    close: () => db.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Server and agents as child processes

type Server = { proc: Proc; url: string; port: number };
type TaskItem = {
  id: string;
  state: string;
  attempts: number;
  agentId: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
};
type Picked = { id: string; leaseToken: string };

let serverEnv: Record<string, string> = {};
let serverStarts = 0;

async function startServer(nodeArgs: string[] = []): Promise<Server> {
  serverStarts += 1;
  let announce: (url: string) => void = () => {};
  const announced = new Promise<string>((r) => {
    announce = r;
  });
  const proc = spawnNode('server', [...nodeArgs, '--import', 'tsx', 'infra/local/server-main.ts'], {
    cwd: ROOT,
    env: serverEnv,
    logPath: join(tmp, 'server.log'),
    onStdoutLine: (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m?.[1]) announce(m[1]);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    announced,
    proc.exited.then((code) => {
      throw new Error(`the server exited (${code}) before listening`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the server did not listen within 90 s')), 90000);
    }),
  ]).finally(() => clearTimeout(timer));
  detail(`server pid ${proc.pid} listening on ${url}`);
  return { proc, url, port: Number(new URL(url).port) };
}

async function stopServer(server: Server): Promise<void> {
  const code = await stopProc(server.proc, 'SIGTERM', 15000);
  if (code !== 0) say(`the server exited with ${code}`);
}

function startAgent(server: Server, id: string, env: Record<string, string> = {}): Proc {
  return spawnNode(id, ['--import', 'tsx', 'agent/main.ts'], {
    cwd: ROOT,
    env: {
      ...baseEnv,
      BACKEND_URL: server.url,
      AGENT_ID: id,
      AGENT_HEALTH_PORT: '0',
      POLL_WAIT: '20s',
      POLL_INTERVAL: '1s',
      LOG_LEVEL: LOG_LEVEL,
      ...env,
    },
    logPath: join(tmp, `${id}.log`),
  });
}

/** Waits until every agent holds a connection to the server (its first long-poll is in flight). */
async function waitAgentsPolling(server: Server, agents: Proc[]): Promise<void> {
  const t0 = performance.now();
  await until(
    `${agents.length} agent(s) to long-poll the server`,
    () => {
      for (const a of agents) if (a.child.exitCode !== null) throw new Error(`agent ${a.name} exited (${a.child.exitCode}); see its log`);
      return connectedTo(
        agents.map((a) => a.pid),
        server.port,
      ).every(Boolean);
    },
    90000,
    100,
  );
  detail(`${agents.length} agent(s) polling after ${ms(performance.now() - t0)}`);
}

async function stopAgents(agents: Proc[]): Promise<void> {
  const codes = await Promise.all(agents.map((a) => stopProc(a, 'SIGTERM', 30000)));
  const bad = codes.filter((c) => c !== 0);
  if (bad.length > 0) say(`${bad.length} agent(s) did not exit 0: ${bad.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// HTTP building blocks

const agentHeaders = (id: string) => ({ 'x-agent-id': id });

/** Creates `n` tasks with the clients (concurrently); returns ids and per-request latencies. */
async function createTasks(clients: Client[], n: number, command = 'true'): Promise<{ ids: string[]; latencies: number[] }> {
  const ids: string[] = new Array(n);
  const latencies: number[] = new Array(n);
  await concurrently(clients.length, n, async (i, w) => {
    const r = await (clients[w] as Client).json<{ id: string }>('POST', '/tasks', 201, { body: { command } });
    ids[i] = r.body.id;
    latencies[i] = r.ms;
  });
  return { ids, latencies };
}

/** Each client is an "agent": pick (no wait), finish at once, until the queue is empty. */
async function pickFinishLoops(clients: Client[]): Promise<{ count: number; elapsedMs: number }> {
  let count = 0;
  let last = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, w) => {
      const agentId = `bench-loop-${w}`;
      for (;;) {
        const r = await c.request('GET', '/tasks/pick', { headers: agentHeaders(agentId) });
        if (r.status === 204) return;
        if (r.status !== 200) throw new Error(`pick answered ${r.status}: ${r.text.slice(0, 300)}`);
        const task = JSON.parse(r.text) as Picked;
        await c.json('POST', `/tasks/${task.id}/finish`, 200, {
          headers: { ...agentHeaders(agentId), 'x-lease-token': task.leaseToken },
          body: { exitCode: 0, stdout: '', stderr: '' },
        });
        count += 1;
        last = performance.now();
      }
    }),
  );
  return { count, elapsedMs: last - t0 };
}

/** Waits until no task is queued or running. */
async function waitIdle(api: Client, timeoutMs: number): Promise<void> {
  await until(
    'every task to finish',
    async () => (await api.json<{ tasks: unknown[] }>('GET', '/tasks?state=queued,running&limit=1', 200)).body.tasks.length === 0,
    timeoutMs,
    250,
  );
}

/** The list items of these tasks (newest first, pages of 1000, until all are found). */
async function fetchTasks(api: Client, ids: readonly string[]): Promise<TaskItem[]> {
  const wanted = new Set(ids);
  const found: TaskItem[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { tasks: TaskItem[]; nextCursor: string | null } } = await api.json(
      'GET',
      `/tasks?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      200,
    );
    for (const t of page.body.tasks) if (wanted.has(t.id)) found.push(t);
    cursor = page.body.nextCursor;
  } while (cursor !== null && found.length < wanted.size);
  if (found.length !== wanted.size) throw new Error(`only ${found.length} of ${wanted.size} tasks found in the list`);
  return found;
}

/** Checks every task succeeded on its first pick; returns first create to last finish. */
function spanOf(tasks: TaskItem[]): { firstCreated: number; lastFinished: number } {
  const bad = tasks.filter((t) => t.state !== 'succeeded' || t.attempts !== 1);
  if (bad.length > 0) throw new Error(`${bad.length} task(s) did not succeed once, e.g. ${JSON.stringify(bad[0])}`);
  return {
    firstCreated: Math.min(...tasks.map((t) => Date.parse(t.createdAt))),
    lastFinished: Math.max(...tasks.map((t) => Date.parse(t.finishedAt as string))),
  };
}

/** Pick latency (one client, no wait) and GET /tasks first-page latency; needs latency+warm queued tasks. */
async function pickAndListLatency(api: Client, clients: Client[], n: number): Promise<{ pick: number[]; list: number[] }> {
  const picked: Picked[] = [];
  const pick: number[] = [];
  const list: number[] = [];
  for (let i = 0; i < n + LATENCY_WARM; i++) {
    const r = await api.json<Picked>('GET', '/tasks/pick', 200, { headers: agentHeaders('bench-latency') });
    picked.push(r.body);
    if (i >= LATENCY_WARM) pick.push(r.ms);
  }
  for (let i = 0; i < n + LATENCY_WARM; i++) {
    const r = await api.json<{ tasks: unknown[] }>('GET', '/tasks', 200);
    if (r.body.tasks.length === 0) throw new Error('GET /tasks answered an empty first page');
    if (i >= LATENCY_WARM) list.push(r.ms);
  }
  // Untimed: the picked tasks are finished so nothing is left running.
  await concurrently(clients.length, picked.length, async (i, w) => {
    const t = picked[i] as Picked;
    await (clients[w] as Client).json('POST', `/tasks/${t.id}/finish`, 200, {
      headers: { ...agentHeaders('bench-latency'), 'x-lease-token': t.leaseToken },
      body: { exitCode: 0, stdout: '', stderr: '' },
    });
  });
  return { pick, list };
}

// ---------------------------------------------------------------------------------------------
// Direct SQL: the floor and the backlog

async function floor(direct: Direct, n: number): Promise<{ insertRate: number; claimRate: number }> {
  const t0 = performance.now();
  await concurrently(CLIENTS, n, async () => {
    await insertTask(direct.q, {
      id: randomUUID(),
      command: 'true',
      timeoutSeconds: 3600,
      maxAttempts: 1,
      idempotencyKey: null,
      requestHash: null,
      now: new Date(),
    });
  });
  const insertMs = performance.now() - t0;
  let claimed = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, w) => {
      const agentId = `bench-floor-${w}`;
      for (;;) {
        const row = await claimNextQueuedTask(direct.q, {
          agentId,
          leaseToken: randomUUID(),
          leaseSeconds: 30,
          deadlineGraceSeconds: 30,
          now: new Date(),
        });
        if (row === null) return;
        const done = await endRunningTask(direct.q, {
          id: row.id,
          agentId,
          leaseToken: row.lease_token as string,
          state: 'succeeded',
          exitCode: 0,
          stdout: '',
          stderr: '',
          outputTruncated: false,
          error: null,
          finishHash: 'bench',
          now: new Date(),
        });
        if (done === null) throw new Error(`floor: finish of ${row.id} matched no row`);
        claimed += 1;
      }
    }),
  );
  const claimMs = performance.now() - t1;
  if (claimed !== n) throw new Error(`floor: claimed ${claimed} of ${n}`);
  return { insertRate: n / (insertMs / 1000), claimRate: n / (claimMs / 1000) };
}

/**
 * p50 of the pick statement (committed, like the server's: it claims latency+warm queued tasks,
 * finished afterwards untimed) and of the first-page list statement, run directly after a few
 * untimed runs.
 */
async function sqlLatency(direct: Direct): Promise<{ pick: number; list: number } | null> {
  if (direct.timeSql === null) return null;
  const pick = await captureSql((q) =>
    claimNextQueuedTask(q, { agentId: 'bench-sql', leaseToken: randomUUID(), leaseSeconds: 30, deadlineGraceSeconds: 30, now: new Date() }),
  );
  const list = await captureSql((q) => selectTaskPage(q, { states: null, beforeSeq: null, limit: 100 }));
  const p = await direct.timeSql(pick, SIZES.latency + LATENCY_WARM, true);
  await direct.run(
    `update tasks set state = 'succeeded', exit_code = 0, stdout = '', stderr = '', finished_at = now(), lease_expires_at = null, deadline_at = null
      where agent_id = 'bench-sql' and state = 'running'`,
  );
  const l = await direct.timeSql(list, SIZES.latency + LATENCY_WARM, false);
  return { pick: percentile(p.slice(LATENCY_WARM), 50), list: percentile(l.slice(LATENCY_WARM), 50) };
}

/** One statement: `finished` succeeded tasks, then `queued` queued ones, oldest first, all columns valid. */
const BACKLOG_SQL = `
insert into tasks (id, command, state, timeout_seconds, exit_code, stdout, stderr, output_truncated, error, agent_id,
                   attempts, max_attempts, finish_hash, created_at, started_at, finished_at)
select gen_random_uuid(),
       'echo backlog ' || i,
       case when i <= $1::int then 'succeeded' else 'queued' end,
       3600,
       case when i <= $1::int then 0 end,
       case when i <= $1::int then 'backlog ' || i || chr(10) end,
       case when i <= $1::int then '' end,
       false,
       null,
       case when i <= $1::int then 'bench-backlog-' || (i % 10) end,
       case when i <= $1::int then 1 else 0 end,
       1,
       case when i <= $1::int then md5(i::text) end,
       $3::timestamptz + make_interval(secs => i / 1000.0),
       case when i <= $1::int then $3::timestamptz + make_interval(secs => i / 1000.0 + 0.002) end,
       case when i <= $1::int then $3::timestamptz + make_interval(secs => i / 1000.0 + 0.004) end
  from generate_series(1, $1::int + $2::int) as i`;

async function insertBacklog(direct: Direct): Promise<{ ms: number; plans: string[]; vacuum: string | null }> {
  const total = SIZES.backlog + SIZES.backlogQueued;
  const base = new Date(Date.now() - (total / 1000 + 3600) * 1000);
  const t0 = performance.now();
  await direct.run(BACKLOG_SQL, [SIZES.backlog, SIZES.backlogQueued, base]);
  const insertMs = performance.now() - t0;
  // A backlog built up over weeks has long been vacuumed, analyzed and checkpointed; one loaded in
  // a single statement has not, and autovacuum and the checkpointer would then run through the
  // measurement (and slow the picks' commits, not the reads). Do that work now, outside it.
  const t1 = performance.now();
  const vacuum = await direct.vacuum();
  await direct.run('checkpoint').catch((error) => detail(`checkpoint skipped: ${(error as Error).message}`));
  detail(`backlog of ${num(total)} rows inserted in ${ms(insertMs)}; vacuum (analyze) and checkpoint ${ms(performance.now() - t1)}`);
  const plans: string[] = [];
  if (VERBOSE) {
    const pick = await captureSql((q) =>
      claimNextQueuedTask(q, {
        agentId: 'bench-explain',
        leaseToken: randomUUID(),
        leaseSeconds: 30,
        deadlineGraceSeconds: 30,
        now: new Date(),
      }),
    );
    const list = await captureSql((q) => selectTaskPage(q, { states: null, beforeSeq: null, limit: 100 }));
    plans.push(`pick (claimNextQueuedTask), EXPLAIN ANALYZE, rolled back:\n${await direct.explain(pick)}`);
    plans.push(`GET /tasks first page (selectTaskPage, limit 100):\n${await direct.explain(list)}`);
  }
  return { ms: insertMs, plans, vacuum };
}

// ---------------------------------------------------------------------------------------------
// The Lambda bundle

const COLD_START_RUNNER = `
const t0 = performance.now();
const { handler } = require(process.argv[2]);
const t1 = performance.now();
const now = new Date();
const event = {
  version: '2.0', routeKey: 'POST /tasks', rawPath: '/tasks', rawQueryString: '',
  headers: { 'content-type': 'application/json', host: 'bench.local' },
  requestContext: {
    accountId: 'bench', apiId: 'bench', domainName: 'bench.local', domainPrefix: 'bench',
    http: { method: 'POST', path: '/tasks', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
    requestId: 'bench-cold-start', routeKey: 'POST /tasks', stage: '$default', time: now.toUTCString(), timeEpoch: now.getTime(),
  },
  body: JSON.stringify({ command: 'true' }), isBase64Encoded: false,
};
const context = { awsRequestId: 'bench-cold-start', functionName: 'bench-create-task', getRemainingTimeInMillis: () => 30000, callbackWaitsForEmptyEventLoop: true };
handler(event, context).then(
  (r) => { process.stdout.write('BENCH_RESULT ' + JSON.stringify({ loadMs: t1 - t0, invokeMs: performance.now() - t1, status: r.statusCode }) + '\\n'); process.exit(0); },
  (e) => { process.stdout.write('BENCH_RESULT ' + JSON.stringify({ error: String(e && e.stack || e) }) + '\\n'); process.exit(1); },
);
`;

type ColdStart = { loadMs: number; invokeMs: number; wallMs: number };

async function lambdaBundle(databaseUrl: string | null): Promise<{ bytes: number; runs: ColdStart[] }> {
  const outfile = join(tmp, 'lambda', 'create-task.js');
  await build({
    entryPoints: [join(ROOT, 'functions/create-task/handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['@aws-sdk/*', '@electric-sql/pglite'],
    minify: true,
    outfile,
    logLevel: 'error',
  });
  const bytes = statSync(outfile).size;
  const runner = join(tmp, 'lambda', 'runner.js');
  writeFileSync(runner, COLD_START_RUNNER);
  const runs: ColdStart[] = [];
  if (databaseUrl === null) return { bytes, runs };
  for (let i = 0; i < SIZES.coldRuns; i++) {
    const t0 = performance.now();
    const stdout = await new Promise<string>((resolveRun, reject) => {
      execFile(
        process.execPath,
        [runner, outfile],
        {
          cwd: join(tmp, 'lambda'),
          timeout: 60000,
          env: {
            ...baseEnv,
            DATABASE_URL: databaseUrl,
            AWS_LAMBDA_FUNCTION_NAME: 'bench-create-task',
            LOG_LEVEL: 'warn',
            // Lambda's runtime provides the AWS SDK; here the project's node_modules stand in for it.
            NODE_PATH: join(ROOT, 'node_modules'),
          },
        },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${out}${err}`)) : resolveRun(out)),
      );
    });
    const wallMs = performance.now() - t0;
    const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    const result = line
      ? (JSON.parse(line.slice('BENCH_RESULT '.length)) as { loadMs: number; invokeMs: number; status?: number; error?: string })
      : null;
    if (!result || result.error || result.status !== 201)
      throw new Error(`the bundled handler failed: ${result?.error ?? stdout.slice(0, 500)}`);
    runs.push({ loadMs: result.loadMs, invokeMs: result.invokeMs, wallMs });
  }
  return { bytes, runs };
}

// ---------------------------------------------------------------------------------------------
// The table

type Row = { what: string; result: string; target?: string; met?: boolean; vsFloor?: string };

/** A row saying where the CPU went during a phase: each group as % of one core (the machine has os.cpus().length). */
function cpuRow(m: { wallS: number; shares: Record<string, CpuShare> }): Row {
  const pct = (v: number) => `${Math.round(v)}%`;
  const parts = Object.entries(m.shares)
    .filter(([, v]) => v.user + v.sys >= 0.5)
    .map(([k, v]) => (k === 'everything else' ? `${k} ${pct(v.user)}` : `${k} ${pct(v.user + v.sys)} (sys ${pct(v.sys)})`));
  const total = Object.values(m.shares).reduce((a, v) => a + v.user + v.sys, 0);
  return { what: '  CPU, % of one core', result: `${parts.join(', ')}; machine ${pct(total)} of ${os.cpus().length * 100}%` };
}
const median = (xs: number[]) => percentile(xs, 50);

function printTable(header: string[], rows: Row[]): void {
  const cells = rows.map((r) => [r.what, r.result, r.target ?? '', r.met === undefined ? '' : r.met ? 'met' : 'MISSED', r.vsFloor ?? '']);
  const titles = ['measurement', 'result', 'target (PostgreSQL)', '', 'vs floor'];
  const widths = titles.map((t, i) => Math.max(t.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const out = [...header, '', line(titles), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// The run

async function setUpDatabase(): Promise<{ direct: Direct; databaseUrl: string | null; adminUrl: string }> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (EMBEDDED) {
    const dataDir = join(tmp, 'data');
    mkdirSync(dataDir, { recursive: true });
    serverEnv = { ...baseEnv, SERVER_PORT: '0', SERVER_HOST: '127.0.0.1', LOG_LEVEL, DATA_DIR: dataDir };
    // The floor runs on a PGlite of its own (the server's holds its directory's lock).
    const direct = await directEmbedded(join(tmp, 'floor-data'));
    cleanups.push({ name: 'floor PGlite', fn: () => direct.close() });
    return { direct, databaseUrl: null, adminUrl };
  }
  const name = `te_bench_${randomBytes(5).toString('hex')}`;
  const admin = new PgClient({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL does not answer at ${adminUrl.replace(/:[^:@/]*@/, ':***@')} (${(error as Error).message}); set BENCH_DATABASE_URL, or run with --embedded.`,
    );
  }
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  cleanups.push({
    name: `database ${name}`,
    fn: async () => {
      const c = new PgClient({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`).finally(() => c.end());
      detail(`database ${name} dropped`);
    },
  });
  const databaseUrl = withDatabase(adminUrl, name);
  serverEnv = { ...baseEnv, SERVER_PORT: '0', SERVER_HOST: '127.0.0.1', LOG_LEVEL, DATABASE_URL: databaseUrl };
  detail(`database ${name} created`);
  const direct = await directPostgres(databaseUrl);
  cleanups.push({ name: 'bench connections', fn: () => direct.close() });
  return { direct, databaseUrl, adminUrl };
}

async function warmUp(clients: Client[], api: Client): Promise<void> {
  await createTasks(clients, SIZES.warmup);
  await pickFinishLoops(clients);
  for (let i = 0; i < 50; i++) await api.json('GET', '/tasks', 200);
}

async function benchTable(): Promise<void> {
  const startLoad = loadavg();
  const rows: Row[] = [];
  const notes: string[] = [];
  const { direct, databaseUrl, adminUrl } = await setUpDatabase();

  say(`starting the server on ${EMBEDDED ? 'PGlite' : direct.version}`);
  let server = await startServer();
  let api = new Client(server.url);
  let clients = Array.from({ length: CLIENTS }, () => new Client(server.url));
  const closeClients = () => {
    api.close();
    for (const c of clients) c.close();
  };
  cleanups.push({ name: 'HTTP clients', fn: () => closeClients() });
  await warmUp(clients, api);

  say(`floor: claim+finish SQL directly, ${CLIENTS} connections`);
  const fl = await floor(direct, SIZES.floor);
  const vsFloor = (rate: number) => `${(rate / fl.claimRate).toFixed(2)}x`;

  say(`POST /tasks, ${CLIENTS} clients, ${num(SIZES.creates)} tasks`);
  const serverRss = rssSampler([server.proc.pid]);
  const groups = () => ({ server: [server.proc.pid], postgres: () => direct.backendPids() });
  let meter = await cpuMeter(groups());
  const t0 = performance.now();
  const created = await createTasks(clients, SIZES.creates);
  const createRate = SIZES.creates / ((performance.now() - t0) / 1000);
  const createCpu = await meter.stop();
  rows.push({
    what: `POST /tasks, ${CLIENTS} clients (${num(SIZES.creates)})`,
    result: `${num(createRate)}/s, p50 ${ms(percentile(created.latencies, 50))}, p99 ${ms(percentile(created.latencies, 99))}`,
    target: '>= 2,000/s',
    met: createRate >= 2000,
    vsFloor: `${vsFloor(createRate)} (${(createRate / fl.insertRate).toFixed(2)}x insert floor)`,
  });
  rows.push(cpuRow(createCpu));

  say(`pick+finish, ${CLIENTS} HTTP loops`);
  meter = await cpuMeter(groups());
  const pf = await pickFinishLoops(clients);
  const pfCpu = await meter.stop();
  if (pf.count !== SIZES.creates) throw new Error(`pick+finish: ${pf.count} tasks, expected ${SIZES.creates}`);
  const pfRate = pf.count / (pf.elapsedMs / 1000);
  rows.push({
    what: `pick+finish, ${CLIENTS} HTTP loops, no command (${num(pf.count)})`,
    result: `${num(pfRate)}/s`,
    target: '>= 1,000/s',
    met: pfRate >= 1000,
    vsFloor: vsFloor(pfRate),
  });
  rows.push(cpuRow(pfCpu));

  /** startedAt - createdAt of each task, as stored. */
  const pickup = async (ids: string[]) => {
    const out: number[] = [];
    for (const id of ids) {
      const t = (await api.json<TaskItem>('GET', `/tasks/${id}`, 200)).body;
      if (t.state !== 'succeeded' || t.startedAt === null) throw new Error(`task ${id} ended ${t.state}`);
      out.push(Date.parse(t.startedAt) - Date.parse(t.createdAt));
    }
    return out;
  };
  say(`pickup latency, polling POLL_WAIT=0 POLL_INTERVAL=5s (1 agent, ${SIZES.polling} tasks)`);
  const sentinel = (await api.json<{ id: string }>('POST', '/tasks', 201, { body: { command: 'true' } })).body.id;
  const poller = startAgent(server, 'bench-poller', { POLL_WAIT: '0', POLL_INTERVAL: '5s' });
  await until(
    'the polling agent to run its first task',
    async () => (await api.json<TaskItem>('GET', `/tasks/${sentinel}`, 200)).body.state === 'succeeded',
    90000,
    200,
  );
  const pollIds: string[] = [];
  for (let i = 0; i < SIZES.polling; i++) {
    await sleep(Math.random() * 5000);
    pollIds.push((await api.json<{ id: string }>('POST', '/tasks', 201, { body: { command: 'true' } })).body.id);
  }
  await waitIdle(api, 30000);
  const pl = await pickup(pollIds);
  await stopAgents([poller]);
  const pollingRow: Row = {
    what: `pickup latency, polling POLL_WAIT=0 POLL_INTERVAL=5s, 1 agent (${pl.length})`,
    result: `p50 ${ms(percentile(pl, 50))}, p99 ${ms(percentile(pl, 99))}`,
    target: '(comparison)',
  };

  // Full pipeline: the agents wait (long-poll), tasks are created by 10 clients, each is run with sh -c true.
  const pipeline = async (agents: Proc[], n: number) => {
    const { ids } = await createTasks(clients, n);
    await waitIdle(api, Math.max(120000, n * 100));
    const tasks = await fetchTasks(api, ids);
    const span = spanOf(tasks);
    const perAgent = new Map<string, number>();
    for (const t of tasks) perAgent.set(t.agentId as string, (perAgent.get(t.agentId as string) ?? 0) + 1);
    if (perAgent.size > agents.length) throw new Error(`tasks ran on ${perAgent.size} agents, ${agents.length} were started`);
    detail(`tasks per agent: ${[...perAgent.entries()].map(([a, c]) => `${a}=${c}`).join(' ')}`);
    return { rate: n / ((span.lastFinished - span.firstCreated) / 1000), ms: span.lastFinished - span.firstCreated };
  };

  say('full pipeline, 1 agent');
  const agents: Proc[] = [startAgent(server, 'bench-agent-0')];
  await waitAgentsPolling(server, agents);
  meter = await cpuMeter({ ...groups(), 'agent+sh': [(agents[0] as Proc).pid] });
  const p1 = await pipeline(agents, SIZES.pipe1);
  const p1Cpu = await meter.stop();
  rows.push({
    what: `pipeline create->pick->sh -c true->finish, 1 agent (${num(SIZES.pipe1)})`,
    result: `${num(p1.rate)}/s (${num(p1.ms / 1000, 1)} s)`,
    target: '>= 150/s',
    met: p1.rate >= 150,
    vsFloor: vsFloor(p1.rate),
  });
  rows.push(cpuRow(p1Cpu));

  say(`full pipeline, ${AGENTS} agents`);
  for (let i = 1; i < AGENTS; i++) agents.push(startAgent(server, `bench-agent-${i}`));
  await waitAgentsPolling(server, agents);
  const loadRss = rssSampler([server.proc.pid, (agents[0] as Proc).pid]);
  meter = await cpuMeter({ ...groups(), 'agents+sh': agents.map((a) => a.pid) });
  const p10 = await pipeline(agents, SIZES.pipe10);
  const p10Cpu = await meter.stop();
  const [serverPipeRss, agentRss] = loadRss.stop();
  const [serverLoadRss] = serverRss.stop();
  rows.push({
    what: `pipeline create->pick->sh -c true->finish, ${AGENTS} agents (${num(SIZES.pipe10)})`,
    result: `${num(p10.rate)}/s (${num(p10.ms / 1000, 1)} s)`,
    target: '>= 300/s',
    met: p10.rate >= 300,
    vsFloor: vsFloor(p10.rate),
  });
  rows.push(cpuRow(p10Cpu));

  say(`idle CPU: ${AGENTS} agents long-polling, ${SIZES.idleMs / 1000} s`);
  await sleep(3000); // let the agents' and the server's garbage collection after the load settle
  const pids = [server.proc.pid, ...agents.map((a) => a.pid)];
  const cpu0 = pids.map(cpuSeconds);
  const i0 = performance.now();
  await sleep(SIZES.idleMs);
  const cpu1 = pids.map(cpuSeconds);
  const idleS = (performance.now() - i0) / 1000;
  const pct = pids.map((_, i) => (((cpu1[i] as number) - (cpu0[i] as number)) / idleS) * 100);
  const serverPct = pct[0] as number;
  const agentsPct = pct.slice(1).reduce((a, b) => a + b, 0);

  say(`pickup latency, long-poll (${AGENTS} agents, ${SIZES.longPoll} tasks one at a time)`);
  const longPollIds: string[] = [];
  for (let i = 0; i < SIZES.longPoll; i++) {
    await sleep(50 + Math.random() * 200);
    longPollIds.push((await api.json<{ id: string }>('POST', '/tasks', 201, { body: { command: 'true' } })).body.id);
  }
  await waitIdle(api, 60000);
  const lp = await pickup(longPollIds);
  await stopAgents(agents);
  // Every agent is gone now. A task created at this point should stay queued; if a pick the
  // server still holds for a gone agent claims it, it sits running until its lease expires.
  const probe = (await api.json<{ id: string }>('POST', '/tasks', 201, { body: { command: 'true' } })).body.id;
  await sleep(500);
  const probed = (await api.json<TaskItem>('GET', `/tasks/${probe}`, 200)).body;
  if (probed.state !== 'queued') {
    notes.push(
      `a task created after all ${AGENTS} agents had exited was claimed within 0.5 s by ${probed.agentId} (state ${probed.state}): ` +
        'the server still held that agent\'s long-poll pick and handed the task to a closed connection; it stays running until its lease expires (LEASE_SECONDS), then fails "agent lost".',
    );
  } else {
    await api.json('POST', `/tasks/${probe}/cancel`, 200);
  }
  rows.push({
    what: `pickup latency, long-poll POLL_WAIT=20s, idle, ${AGENTS} agents (${lp.length})`,
    result: `p50 ${ms(percentile(lp, 50))}, p99 ${ms(percentile(lp, 99))}`,
    target: 'p50 <= 3 ms, p99 <= 10 ms',
    met: percentile(lp, 50) <= 3 && percentile(lp, 99) <= 10,
  });
  rows.push(pollingRow);

  rows.push({
    what: `floor: claim+finish SQL, ${CLIENTS} connections, no HTTP (${num(SIZES.floor)})`,
    result: `${num(fl.claimRate)}/s (insertTask alone: ${num(fl.insertRate)}/s)`,
    vsFloor: '1.00x',
  });

  say('latency before the backlog (the table holds only the tasks of this run so far)');
  // Queued tasks for the picks: the SQL-alone picks (PostgreSQL) and the HTTP picks.
  await createTasks(clients, (SIZES.latency + LATENCY_WARM) * (EMBEDDED ? 1 : 2));
  // Rows in the table at this point: every task this run created (the floor's are in the table on PostgreSQL).
  const smallRows =
    SIZES.warmup +
    (EMBEDDED ? 0 : SIZES.floor) +
    SIZES.creates +
    1 +
    SIZES.polling +
    SIZES.pipe1 +
    SIZES.pipe10 +
    SIZES.longPoll +
    1 +
    (SIZES.latency + LATENCY_WARM) * (EMBEDDED ? 1 : 2);
  const emptySql = await sqlLatency(direct);
  const empty = await pickAndListLatency(api, clients, SIZES.latency);

  // Peak RSS of the server so far (before the backlog phase, which restarts it in embedded mode).
  const serverHwm = statusKb(server.proc.pid, 'VmHWM');

  say(`a ${num(SIZES.backlog)}-task table`);
  let backlog: { ms: number; plans: string[]; vacuum: string | null };
  if (EMBEDDED) {
    // The server's PGlite holds its directory: stop it, fill the table here, start it again.
    closeClients();
    await stopServer(server);
    const own = await directEmbedded(join(tmp, 'data'));
    try {
      backlog = await insertBacklog(own);
    } finally {
      await own.close();
    }
    server = await startServer();
    api = new Client(server.url);
    clients = Array.from({ length: CLIENTS }, () => new Client(server.url));
    for (let i = 0; i < 50; i++) await api.json('GET', '/tasks', 200);
  } else {
    backlog = await insertBacklog(direct);
  }
  const fullSql = EMBEDDED ? null : await sqlLatency(direct);
  const full = await pickAndListLatency(api, clients, SIZES.latency);
  const ratio = (a: number[], b: number[]) => median(a) / median(b);
  const pickRatio = ratio(full.pick, empty.pick);
  const listRatio = ratio(full.list, empty.list);
  rows.push({
    what: `pick latency, ${num(smallRows)} -> ${num(SIZES.backlog + SIZES.backlogQueued + smallRows)} tasks (p50 of ${SIZES.latency})`,
    result: `${ms(median(empty.pick))} -> ${ms(median(full.pick))} (${pickRatio.toFixed(2)}x)`,
    target: '<= 2x',
    met: pickRatio <= 2,
  });
  rows.push({
    what: `GET /tasks first page (100), ${num(smallRows)} -> ${num(SIZES.backlog + SIZES.backlogQueued + smallRows)} tasks (p50 of ${SIZES.latency})`,
    result: `${ms(median(empty.list))} -> ${ms(median(full.list))} (${listRatio.toFixed(2)}x)`,
    target: '<= 2x',
    met: listRatio <= 2,
  });
  const sqlMs = (v: number) => `${v.toFixed(2)} ms`;
  rows.push({
    what: `  the same SQL alone (direct, pick committed, p50 of ${SIZES.latency}): pick; list`,
    result:
      emptySql && fullSql
        ? `${sqlMs(emptySql.pick)} -> ${sqlMs(fullSql.pick)} (${(fullSql.pick / emptySql.pick).toFixed(2)}x); ` +
          `${sqlMs(emptySql.list)} -> ${sqlMs(fullSql.list)} (${(fullSql.list / emptySql.list).toFixed(2)}x)`
        : 'n/a (PGlite runs inside the server process)',
  });

  const mb = (kb: number | null | undefined) => (kb ? `${num(kb / 1024)} MB` : 'n/a');
  rows.push({
    what: 'RSS under load: server / one agent',
    result: `${mb(Math.max(serverLoadRss ?? 0, serverPipeRss ?? 0))} / ${mb(agentRss)} (server peak VmHWM ${mb(serverHwm)})`,
  });

  say('Lambda bundle of create-task: size and cold start');
  let coldUrl = databaseUrl;
  if (coldUrl === null) {
    // Lambda never runs PGlite: the cold start needs a PostgreSQL; use the local one when it answers.
    coldUrl = await scratchPostgres(adminUrl).catch((error) => {
      notes.push(`Lambda cold start not measured: ${(error as Error).message}`);
      return null;
    });
  }
  const lambda = await lambdaBundle(coldUrl);
  const cold = lambda.runs;
  rows.push({
    what: `Lambda create-task (esbuild, minified, cjs, node22)${cold.length > 0 ? `, cold start median of ${cold.length}` : ''}`,
    result:
      `${num(lambda.bytes / 1024)} KiB` +
      (cold.length > 0
        ? `; load ${ms(median(cold.map((c) => c.loadMs)))} + first call ${ms(median(cold.map((c) => c.invokeMs)))} (process wall ${ms(median(cold.map((c) => c.wallMs)))})`
        : ''),
  });

  const idleTotal = serverPct + agentsPct;
  rows.push({
    what: `idle CPU, ${AGENTS} agents long-polling ${SIZES.idleMs / 1000} s (% of one core)`,
    result: `server ${num(serverPct, 2)}%, ${AGENTS} agents ${num(agentsPct, 2)}% (${num(agentsPct / AGENTS, 2)}% each); total ${num(idleTotal, 2)}%`,
    target: '< 2%',
    met: idleTotal < 2,
  });

  closeClients();
  await stopServer(server);
  const header = [
    `task-executor bench${QUICK ? ' --quick' : ''}: ${direct.version}${EMBEDDED ? ' (--embedded; the targets are for PostgreSQL)' : ''}, server and agents LOG_LEVEL=${LOG_LEVEL}`,
    `node ${process.version}, ${os.cpus().length} cores, ${num(os.totalmem() / 2 ** 30, 0)} GiB RAM; load average ${startLoad} at start, ${loadavg()} at end; ${serverStarts} server start(s)`,
    `database: ${direct.settings}`,
  ];
  // The vacuum after the bulk insert: a table made mostly of finished tasks has few pages with
  // dead rows, and PostgreSQL then skips cleaning the indexes, the queue's partial index included.
  if (backlog.vacuum) notes.push(`vacuum (verbose) of tasks after the bulk insert: ${backlog.vacuum}`);
  printTable(header, rows);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  if (VERBOSE && backlog.plans.length > 0) {
    process.stdout.write(`\nEXPLAIN on the ${num(SIZES.backlog + SIZES.backlogQueued)}-task table (bulk insert ${ms(backlog.ms)}):\n`);
    for (const p of backlog.plans) process.stdout.write(`\n${p}\n`);
  }
}

/** A migrated scratch database on the PostgreSQL server (embedded mode's Lambda cold start). */
async function scratchPostgres(adminUrl: string): Promise<string> {
  const name = `te_bench_${randomBytes(5).toString('hex')}`;
  const admin = new PgClient({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`create database ${name}`);
  } catch (error) {
    await admin.end().catch(() => {});
    throw new Error(`no PostgreSQL at ${adminUrl.replace(/:[^:@/]*@/, ':***@')} (${(error as Error).message})`);
  }
  await admin.end();
  cleanups.push({
    name: `database ${name}`,
    fn: async () => {
      const c = new PgClient({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`).finally(() => c.end());
    },
  });
  const url = withDatabase(adminUrl, name);
  const { openPostgres } = await import('../functions/shared/db/postgres');
  const db = openPostgres({ kind: 'postgres', connectionString: url }, { poolMax: 1 });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  return url;
}

/** --profile: the server under --cpu-prof, the top frames of the pick+finish phase only. */
/** Prints a profile summary: CPU from /proc, then self time by package and by frame. */
function printProfile(title: string, file: string, window: { fromUs: number; toUs: number }, cpu: Row): void {
  const s = summariseProfile(file, ROOT, 25, window);
  const pctOf = (x: number) => `${((x / s.busyMs) * 100).toFixed(1)}%`.padStart(6);
  const out = [
    title,
    `CPU from /proc during the phase, % of one core: ${cpu.result}`,
    `profile window ${ms(s.totalMs)}, main thread not idle ${ms(s.busyMs)} (${((s.busyMs / s.totalMs) * 100).toFixed(0)}%; wall-clock samples, so time`,
    'spent descheduled inside a system call counts for that call); shares of that time:',
    '',
    'self time by package / folder:',
    ...s.packages.map((p) => `  ${pctOf(p.selfMs)}  ${p.name}`),
    '',
    'top frames by self time:',
    ...s.frames.map((f) => `  ${pctOf(f.selfMs)}  ${f.name}  ${f.where}`),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * --profile: the server under --cpu-prof during pick+finish (10 HTTP loops), then one agent
 * under --cpu-prof during the 1-agent pipeline; prints the top frames of each phase only.
 */
async function benchProfile(): Promise<void> {
  const { direct } = await setUpDatabase();
  const profDir = join(tmp, 'profile');
  const server = await startServer(['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  const api = new Client(server.url);
  const clients = Array.from({ length: CLIENTS }, () => new Client(server.url));
  cleanups.push({
    name: 'HTTP clients',
    fn: () => {
      api.close();
      for (const c of clients) c.close();
    },
  });
  await warmUp(clients, api);
  say(`queueing ${num(SIZES.profile)} tasks`);
  if (EMBEDDED) await createTasks(clients, SIZES.profile);
  else await direct.run(BACKLOG_SQL, [0, SIZES.profile, new Date()]);
  say(`pick+finish, ${CLIENTS} HTTP loops, server under --cpu-prof`);
  const groups = () => ({ server: [server.proc.pid], postgres: () => direct.backendPids() });
  let meter = await cpuMeter(groups());
  let from = monotonicUs();
  const pf = await pickFinishLoops(clients);
  let to = monotonicUs();
  const serverWindow = { fromUs: from, toUs: to };
  const serverCpu = cpuRow(await meter.stop());

  const n = Math.round(SIZES.profile / 5);
  say(`full pipeline, 1 agent under --cpu-prof, ${num(n)} tasks`);
  const agentDir = join(profDir, 'agent');
  const agent = spawnNode('bench-agent-prof', ['--cpu-prof', `--cpu-prof-dir=${agentDir}`, '--import', 'tsx', 'agent/main.ts'], {
    cwd: ROOT,
    env: { ...baseEnv, BACKEND_URL: server.url, AGENT_ID: 'bench-agent-prof', AGENT_HEALTH_PORT: '0', POLL_WAIT: '20s', LOG_LEVEL },
    logPath: join(tmp, 'bench-agent-prof.log'),
  });
  await waitAgentsPolling(server, [agent]);
  meter = await cpuMeter({ ...groups(), 'agent+sh': [agent.pid] });
  from = monotonicUs();
  const { ids } = await createTasks(clients, n);
  await waitIdle(api, Math.max(120000, n * 100));
  to = monotonicUs();
  const agentCpu = cpuRow(await meter.stop());
  const span = spanOf(await fetchTasks(api, ids));
  await stopAgents([agent]);
  api.close();
  for (const c of clients) c.close();
  await stopServer(server);

  const find = (dir: string) => {
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
    return join(dir, file);
  };
  printProfile(
    `SERVER during pick+finish (${num(pf.count)} tasks at ${num(pf.count / (pf.elapsedMs / 1000))}/s, ${direct.version}, load ${loadavg()})`,
    find(profDir),
    serverWindow,
    serverCpu,
  );
  printProfile(
    `ONE AGENT during the full pipeline (${num(n)} tasks at ${num(n / ((span.lastFinished - span.firstCreated) / 1000))}/s)`,
    find(agentDir),
    { fromUs: from, toUs: to },
    agentCpu,
  );
}

async function worker(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => interrupt(signal));
  // The wrapper went away (killed, even with SIGKILL): clean up all the same.
  process.once('disconnect', () => interrupted || interrupt('the bench process was stopped'));
  process.on('unhandledRejection', (error) => {
    say(`unhandled rejection: ${(error as Error)?.stack ?? String(error)}`);
    void cleanup().finally(() => process.exit(1));
  });
  tmp = mkdtempSync(join(os.tmpdir(), 'te-bench-'));
  cleanups.push({ name: 'temp files', fn: () => rmSync(tmp, { recursive: true, force: true }) });
  let code = 0;
  try {
    if (PROFILE) await benchProfile();
    else await benchTable();
  } catch (error) {
    if (!interrupted) {
      code = 1;
      say(`failed: ${(error as Error).stack ?? String(error)}`);
      try {
        const text = readFileSync(join(tmp, 'server.log'), 'utf8');
        say(`last lines of the server's log:\n${text.split('\n').slice(-15).join('\n')}`);
      } catch {
        // no log yet
      }
    }
  }
  if (interrupted) return; // interrupt() cleans up and exits
  await cleanup();
  process.exit(code);
}

/**
 * The bench runs in a worker process of its own session, and this process only relays signals
 * to it: tsx SIGKILLs its child when that does not acknowledge a Ctrl-C within 30 ms (easily
 * missed on a loaded machine), which would leave the database and the processes behind. The
 * worker also cleans up when this process disappears (its IPC channel closes).
 */
function wrapper(): void {
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, BENCH_WORKER: '1' },
  });
  // A Ctrl-C reaches this process twice (from the terminal and relayed by tsx): pass it on once;
  // a second one a second later means "force" to the worker.
  let last = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      child.kill(signal);
    });
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

if (process.env.BENCH_WORKER === '1') void worker();
else wrapper();
