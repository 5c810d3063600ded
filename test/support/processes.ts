/**
 * Real child processes of this repository (the agent, the server, the bench's workers): one
 * spawner for the tests, the bench and the soak. Every process started here is tracked, so a
 * test's afterAll (or the bench's Ctrl-C) can stop whatever is still running.
 */
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { waitFor } from './clock';
import { freePort } from './net';

export const ROOT = join(__dirname, '..', '..');

/**
 * What a child gets of this process's environment: nothing that could select a database, a
 * token or a log level (NODE_OPTIONS included), only what a shell and node need.
 */
export const baseEnv: Readonly<Record<string, string>> = Object.freeze({
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME: process.env.HOME ?? tmpdir(),
  TMPDIR: process.env.TMPDIR ?? tmpdir(),
  LANG: process.env.LANG ?? 'C.UTF-8',
});

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type Proc = {
  name: string;
  pid: number;
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** everything written so far, stdout and stderr interleaved ('' when started with keepOutput: false) */
  output(): string;
  /** resolves once the process is gone */
  exited: Promise<Exit>;
  alive(): boolean;
};

export type SpawnOptions = {
  /** added to baseEnv; the child sees nothing else */
  env?: Record<string, string>;
  /** node options before `--import tsx` (the bench's --cpu-prof) */
  nodeArgs?: string[];
  /** also append the output to this file */
  logPath?: string;
  /** keep the output in memory for output() (default true; the bench's long runs log to a file instead) */
  keepOutput?: boolean;
  /** sees each stdout line (the server announces its URL there) */
  onStdoutLine?: (line: string) => void;
  /**
   * Run the shipped bundle of this entry (`node bin/bundled <name>`, as npm start, npm run server
   * and npm run agent do) instead of its source under tsx: the bench measures what ships.
   */
  bundle?: 'server' | 'agent';
};

const live = new Set<Proc>();

/** Starts `node [nodeArgs] --import tsx <script>` (or `bin/bundled <bundle>`) in the repository root. */
export function spawnScript(name: string, script: string, options: SpawnOptions = {}): Proc {
  const run = options.bundle ? ['bin/bundled', options.bundle] : ['--import', 'tsx', script];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...run], {
    cwd: ROOT,
    env: { ...baseEnv, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${script})`);
  const log = options.logPath === undefined ? null : createWriteStream(options.logPath, { flags: 'a' });
  const keep = options.keepOutput ?? true;
  let output = '';
  let partial = '';
  const append = (chunk: Buffer) => {
    log?.write(chunk);
    if (keep) output += chunk.toString();
  };
  child.stdout.on('data', (chunk: Buffer) => {
    append(chunk);
    if (!options.onStdoutLine) return;
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) options.onStdoutLine(line);
  });
  child.stderr.on('data', append);
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(proc);
      log?.end();
      resolve({ code, signal });
    }),
  );
  const proc: Proc = {
    name,
    pid: child.pid,
    child,
    output: () => output,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
  live.add(proc);
  return proc;
}

/** The agent's settings for tests: quick polls and short graces; `env` overrides any of them. */
export const AGENT_TEST_ENV: Readonly<Record<string, string>> = Object.freeze({
  AGENT_HEALTH_PORT: '0',
  POLL_INTERVAL: '100ms',
  POLL_WAIT: '5s',
  AGENT_STOP_GRACE: '10s',
  AGENT_KILL_GRACE: '2s',
  LOG_LEVEL: 'info',
});

/** Starts a real agent process (`agent/main.ts`) with AGENT_ID `id` against `backendUrl`. */
export function startAgent(id: string, backendUrl: string, env: Record<string, string> = {}, options: SpawnOptions = {}): Proc {
  return spawnScript(id, 'agent/main.ts', { ...options, env: { ...AGENT_TEST_ENV, AGENT_ID: id, BACKEND_URL: backendUrl, ...env } });
}

export type ServerProc = Proc & { url: string; port: number };

/**
 * Starts `infra/local/server-main.ts` on `port` (else a free one) and resolves once it announced
 * that it listens; rejects with its output if it exits first or takes longer than `timeoutMs`.
 */
export async function startServerProcess(
  env: Record<string, string>,
  port?: number,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<ServerProc> {
  const listenOn = port ?? (await freePort());
  let url: string | null = null;
  const proc = spawnScript('server', 'infra/local/server-main.ts', {
    ...options,
    env: { SERVER_PORT: String(listenOn), LOG_LEVEL: 'info', ...env },
    onStdoutLine: (line) => {
      url ??= /listening on (http:\/\/\S+)/.exec(line)?.[1] ?? null;
      options.onStdoutLine?.(line);
    },
  });
  await waitFor('the server to listen', () => url !== null || !proc.alive(), options.timeoutMs ?? 60000);
  if (url === null) throw new Error(`the server exited before listening:\n${proc.output().slice(-4000)}`);
  return { ...proc, url, port: Number(new URL(url).port) };
}

/**
 * Stops a process: SIGTERM, then (`againAfterMs`) a second, deliberate SIGTERM, which makes an
 * agent stop its command at once and report it; SIGKILL after `graceMs`. Resolves once it exited.
 */
export async function stopProcess(p: Proc | undefined, graceMs = 15000, againAfterMs?: number): Promise<Exit | undefined> {
  if (p === undefined) return undefined;
  if (!p.alive()) return p.exited;
  p.child.kill('SIGTERM');
  const timers = [setTimeout(() => p.child.kill('SIGKILL'), graceMs)];
  if (againAfterMs !== undefined) timers.push(setTimeout(() => p.child.kill('SIGTERM'), againAfterMs));
  const exit = await p.exited;
  for (const t of timers) clearTimeout(t);
  return exit;
}

/** Stops every process started here that still runs (afterAll, the bench's cleanup). */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((p) => stopProcess(p, graceMs)));
}

/** SIGKILLs every process started here that still runs (the bench's second Ctrl-C). */
export function killAll(): void {
  for (const p of live) p.child.kill('SIGKILL');
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
