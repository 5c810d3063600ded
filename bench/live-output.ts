/**
 * Live output, measured (not in CI): `npx tsx bench/live-output.ts`.
 *
 * Runs the real server (`infra/local/server-main.ts`) and one real agent (the shipped bundle,
 * `dist/agent.js`, built first) as child processes, on a fresh embedded database (default) or,
 * with --postgres URL, on a fresh database of that PostgreSQL server, and prints:
 *
 * 1. latency: a command prints a timestamped line every 50 ms (200 lines); a reader follows it
 *    with held reads (GET /tasks/{id}/output?wait=20) and notes when each line arrives: p50, p99;
 * 2. memory: VmRSS of the agent and the server, sampled every 50 ms from /proc/<pid>/status, idle
 *    and while a task prints 50 MB (`head -c 50000000 /dev/urandom | base64`), with the peak of
 *    the task_output table and, on the embedded store, the data directory's growth.
 *
 * The pipeline with streaming on and off is measured with the agents of `npm start` run as they
 * are and with AGENT_LIVE_OUTPUT=false (docs/performance.md).
 *
 * Options: --postgres URL, --lines N (200), --every-ms N (50), --megabytes N (50).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../test/support/net';

const ROOT = join(__dirname, '..');
const { values } = parseArgs({
  options: {
    postgres: { type: 'string' },
    lines: { type: 'string', default: '200' },
    'every-ms': { type: 'string', default: '50' },
    megabytes: { type: 'string', default: '50' },
  },
});
const LINES = Number(values.lines);
const EVERY_MS = Number(values['every-ms']);
const MEGABYTES = Number(values.megabytes);

const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
const pct = (values: number[], p: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
};

type Proc = { child: ChildProcess; output: () => string };

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  return { child, output: () => output };
}

/** VmRSS of a process, in bytes (0 once it is gone). */
function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function submit(base: string, command: string): Promise<string> {
  const r = await api(base, 'POST', '/tasks', { command, timeoutSeconds: 600 });
  if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { id: string }).id;
}

/** Follows a stream with held reads until it is complete; onPiece gets each body as it arrives. */
async function follow(base: string, id: string, onPiece: (text: string) => void): Promise<void> {
  let offset = 0;
  for (;;) {
    const r = await api(base, 'GET', `/tasks/${id}/output?offset=${offset}&wait=20`);
    const text = await r.text();
    if (r.status !== 200) throw new Error(`read answered ${r.status}: ${text}`);
    if (text !== '') onPiece(text);
    offset = Number(r.headers.get('x-next-offset'));
    if (r.headers.get('x-output-complete') === 'true') return;
  }
}

async function main(): Promise<void> {
  say('building the agent bundle (npm run build:agent)');
  execFileSync('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT, stdio: 'inherit' });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'te-bench-live-'));
  let dbName: string | null = null;
  const dbEnv: Record<string, string> = {};
  if (values.postgres) {
    dbName = `te_bench_live_${randomBytes(4).toString('hex')}`;
    const admin = new Client({ connectionString: values.postgres });
    await admin.connect();
    await admin.query(`create database ${dbName}`).finally(() => admin.end());
    const u = new URL(values.postgres);
    u.pathname = `/${dbName}`;
    dbEnv.DATABASE_URL = u.toString();
  } else {
    dbEnv.DATA_DIR = dataDir;
  }
  const server = start(['--import', 'tsx', 'infra/local/server-main.ts'], { SERVER_PORT: String(port), LOG_LEVEL: 'warn', ...dbEnv });
  let agent: Proc | null = null;
  try {
    for (let i = 0; !/listening on/.test(server.output()); i++) {
      if (i > 1200 || server.child.exitCode !== null) throw new Error(`the server did not start:\n${server.output()}`);
      await sleep(50);
    }
    agent = start(['dist/agent.js'], { BACKEND_URL: base, AGENT_ID: 'bench-live', AGENT_HEALTH_PORT: '0', LOG_LEVEL: 'warn' });
    const store = values.postgres ? `PostgreSQL (${new URL(values.postgres).host})` : `embedded PGlite in ${dataDir}`;
    say(`server on ${base}, ${store}; agent: node dist/agent.js (pid ${agent.child.pid})`);

    // 1. latency from a line written to a held reader seeing it
    const command = `for i in $(seq 1 ${LINES}); do echo "$(date +%s%N)"; sleep ${EVERY_MS / 1000}; done`;
    const id = await submit(base, command);
    const delays: number[] = [];
    await follow(base, id, (text) => {
      const now = BigInt(Date.now()) * 1000000n;
      for (const line of text.split('\n')) if (/^\d{19}$/.test(line)) delays.push(Number(now - BigInt(line)) / 1e6);
    });
    say(
      `latency, line written -> seen by a held reader (${delays.length} lines, one every ${EVERY_MS} ms): p50 ${pct(delays, 0.5).toFixed(0)} ms, p99 ${pct(delays, 0.99).toFixed(0)} ms, max ${Math.max(...delays).toFixed(0)} ms`,
    );

    // 2. memory while a task prints MEGABYTES MB
    await sleep(1000);
    const agentPid = agent.child.pid as number;
    const serverPid = server.child.pid as number;
    const idle = { agent: rss(agentPid), server: rss(serverPid) };
    const dirBefore = values.postgres ? 0 : Number(execFileSync('du', ['-sb', dataDir]).toString().split('\t')[0]);
    const big = await submit(base, `head -c ${MEGABYTES * 1000000} /dev/urandom | base64`);
    const peak = { agent: 0, server: 0, stored: 0 };
    let sampling = true;
    const db = values.postgres ? new Client({ connectionString: dbEnv.DATABASE_URL }) : null;
    await db?.connect();
    const sampler = (async () => {
      while (sampling) {
        peak.agent = Math.max(peak.agent, rss(agentPid));
        peak.server = Math.max(peak.server, rss(serverPid));
        if (db) {
          const r = await db.query<{ n: string }>('select coalesce(sum(octet_length(data)), 0) as n from task_output');
          peak.stored = Math.max(peak.stored, Number(r.rows[0]?.n));
        }
        await sleep(50);
      }
    })();
    const t0 = performance.now();
    let streamed = 0;
    await follow(base, big, (text) => {
      streamed += Buffer.byteLength(text);
    });
    const seconds = (performance.now() - t0) / 1000;
    sampling = false;
    await sampler;
    await db?.end();
    const task = (await (await api(base, 'GET', `/tasks/${big}`)).json()) as { state: string; stdout: string };
    const markers = (task.stdout.match(/\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n/g) ?? []).length;
    say(
      `${MEGABYTES} MB of base64 in ${seconds.toFixed(1)} s: agent VmRSS idle ${mib(idle.agent)}, peak ${mib(peak.agent)}; server VmRSS idle ${mib(idle.server)}, peak ${mib(peak.server)}`,
    );
    say(
      `  ended ${task.state}, stdout ${mib(Buffer.byteLength(task.stdout))} with ${markers} marker line; a reader following it got ${mib(streamed)}${db ? `; task_output peak ${mib(peak.stored)}` : ''}`,
    );
    if (!values.postgres) {
      const dirAfter = Number(execFileSync('du', ['-sb', dataDir]).toString().split('\t')[0]);
      const wal = Number(
        execFileSync('du', ['-sb', join(dataDir, 'pgdata', 'pg_wal')])
          .toString()
          .split('\t')[0],
      );
      say(`  embedded data directory: ${mib(dirBefore)} before, ${mib(dirAfter)} after (of which pg_wal ${mib(wal)})`);
    }
  } finally {
    agent?.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    await sleep(2000);
    agent?.child.kill('SIGKILL');
    server.child.kill('SIGKILL');
    if (dbName && values.postgres) {
      const admin = new Client({ connectionString: values.postgres });
      await admin.connect();
      await admin.query(`drop database if exists ${dbName} with (force)`).finally(() => admin.end());
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
