/**
 * Real processes for the fault-injection tests: agents (`node --import tsx agent/main.ts`), the
 * server (`infra/local/server-main.ts`) when a test must kill it or read its log, and a TCP
 * proxy that can drop a connection at a chosen moment.
 */
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { freePort } from '../support/net';
import { call } from '../support/server';

const ROOT = join(__dirname, '..', '..');
export const ENDED = ['succeeded', 'failed', 'timed_out', 'canceled'];

export type TaskView = {
  id: string;
  command: string;
  state: string;
  exitCode: number | null;
  stdout?: string;
  stderr?: string;
  error: string | null;
  agentId: string | null;
  cancelRequested: boolean;
  finishedAt: string | null;
};

export type Proc = {
  name: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** everything written so far, stdout and stderr interleaved */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
};

const procs = new Set<Proc>();

function startProcess(name: string, script: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    // Built from scratch: nothing of the test runner's environment (NODE_OPTIONS included) leaks in.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (c: Buffer) => {
    output += c.toString();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc: Proc = {
    name,
    child,
    output: () => output,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
  procs.add(proc);
  void exited.then(() => procs.delete(proc));
  return proc;
}

/** Starts a real agent process against `backendUrl`. */
export function startAgent(id: string, backendUrl: string, env: Record<string, string> = {}): Proc {
  return startProcess(id, 'agent/main.ts', {
    AGENT_ID: id,
    BACKEND_URL: backendUrl,
    AGENT_HEALTH_PORT: '0',
    POLL_INTERVAL: '100ms',
    POLL_WAIT: '5s',
    AGENT_STOP_GRACE: '10s',
    AGENT_KILL_GRACE: '2s',
    LOG_LEVEL: 'info',
    ...env,
  });
}

export type ServerProc = Proc & { url: string };

/** Starts `infra/local/server-main.ts` as a child process (on `port`, else a free one) and waits until it listens. */
export async function startServerProcess(env: Record<string, string>, port?: number): Promise<ServerProc> {
  port ??= await freePort();
  const proc = startProcess('server', 'infra/local/server-main.ts', { SERVER_PORT: String(port), LOG_LEVEL: 'info', ...env });
  await waitFor('the server to listen', () => /listening on/.test(proc.output()) || !proc.alive(), 60000);
  if (!proc.alive()) throw new Error(`the server exited:\n${proc.output().slice(-4000)}`);
  return { ...proc, url: `http://127.0.0.1:${port}` };
}

/** SIGTERM, then SIGKILL after a bounded wait; resolves once it exited. */
export async function stopProcess(p: Proc | undefined, graceMs = 15000): Promise<void> {
  if (p === undefined || !p.alive()) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** Stops every process these helpers started and that still runs (afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...procs].map((p) => stopProcess(p, 5000)));
}

/** Polls until `probe` returns something truthy; fails after `timeoutMs` naming what it waited for. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Creates a task; fails the test unless it was created. */
export async function submit(base: string, body: Record<string, unknown>): Promise<TaskView> {
  const res = await call(base, 'POST', '/tasks', { body });
  if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${res.text}`);
  return res.body as TaskView;
}

export async function getTask(base: string, id: string): Promise<TaskView> {
  const res = await call(base, 'GET', `/tasks/${id}`);
  if (res.status !== 200) throw new Error(`GET /tasks/${id} answered ${res.status}: ${res.text}`);
  return res.body as TaskView;
}

/** Waits until the task reaches `state` (any terminal state when omitted). */
export function waitState(base: string, id: string, state?: string, timeoutMs = 30000): Promise<TaskView> {
  return waitFor(
    `task ${id} to be ${state ?? 'ended'}`,
    async () => {
      const t = await getTask(base, id);
      return (state === undefined ? ENDED.includes(t.state) : t.state === state) ? t : null;
    },
    timeoutMs,
  );
}

/** Whether a process is still there (a zombie waiting for its reaper counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    const stat = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)])
      .toString()
      .trim();
    return stat !== '' && !stat.startsWith('Z');
  } catch {
    return false; // ps exits 1 when there is no such process
  }
}

/** Kills what a test left behind (the process group of an orphaned command). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

export type DroppingProxy = {
  url: string;
  /** requests of the chosen kind seen, and the status the server gave each (the first one's is never relayed) */
  finishes: { status: number | null; dropped: boolean }[];
  close(): Promise<void>;
};

/**
 * A TCP proxy in front of `target`: it relays everything, except that the server's answer to
 * the first `POST /tasks/{id}/finish` (or the first `POST /tasks/{id}/<endpoint>`) is swallowed
 * and that connection cut. The server did the request; the agent saw a network error and must
 * retry, and the retry must be answered as success.
 */
export async function startDroppingProxy(target: string, endpoint = 'finish'): Promise<DroppingProxy> {
  const request = new RegExp(`^POST /tasks/[^/ ]+/${endpoint} `);
  const { hostname, port } = new URL(target);
  const finishes: DroppingProxy['finishes'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.once('close', () => sockets.delete(client));
    upstream.once('close', () => sockets.delete(upstream));
    /** the finish whose answer is awaited on this connection */
    let pending: { status: number | null; dropped: boolean } | null = null;
    client.on('data', (chunk: Buffer) => {
      if (request.test(chunk.subarray(0, 200).toString('latin1'))) {
        pending = { status: null, dropped: finishes.length === 0 };
        finishes.push(pending);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const head = /^HTTP\/1\.1 (\d{3})/.exec(chunk.subarray(0, 20).toString('latin1'));
      if (pending !== null && head) {
        pending.status = Number(head[1]);
        const drop = pending.dropped;
        pending = null;
        if (drop) {
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      client.write(chunk);
    });
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port: proxyPort } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    finishes,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
