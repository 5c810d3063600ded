/**
 * The command line as a user runs it: `bin/taskexec` as a child process, its stdout and stderr
 * kept apart and recorded in the order they arrived. TASKEXEC_FROM_SOURCE=1 makes it run the
 * TypeScript of this checkout, never a bundle left in dist/ by an earlier build.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export const TASKEXEC = join(__dirname, '..', '..', 'bin', 'taskexec');

export type Piece = { stream: 'stdout' | 'stderr'; text: string };
export type Ended = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

export type TaskexecProcess = {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout(): string;
  stderr(): string;
  /** every piece of output in the order it arrived, each with its stream */
  pieces: Piece[];
  ended: Promise<Ended>;
};

const running = new Set<TaskexecProcess>();

/** The environment of a taskexec process: built from scratch, so nothing of jest's (NODE_OPTIONS, API_TOKEN) leaks in. */
export function taskexecEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', TASKEXEC_FROM_SOURCE: '1', ...env };
}

/** Starts taskexec with these arguments; killed in stopTaskexecs() if still running. */
export function spawnTaskexec(args: string[], env: Record<string, string> = {}): TaskexecProcess {
  const child = spawn(process.execPath, [TASKEXEC, ...args], { env: taskexecEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const pieces: Piece[] = [];
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    pieces.push({ stream: 'stdout', text: c.toString() });
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    pieces.push({ stream: 'stderr', text: c.toString() });
  });
  const proc: TaskexecProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    pieces,
    ended: new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }))),
  };
  running.add(proc);
  void proc.ended.then(() => running.delete(proc));
  return proc;
}

/** Runs taskexec to its end (killed after `timeoutMs`, which then fails the test that waited). */
export async function taskexec(args: string[], env: Record<string, string> = {}, timeoutMs = 60000): Promise<Ended> {
  const proc = spawnTaskexec(args, env);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const ended = await proc.ended;
  clearTimeout(timer);
  return ended;
}

/** Kills every taskexec process a test left running (afterAll). */
export async function stopTaskexecs(): Promise<void> {
  await Promise.all(
    [...running].map((p) => {
      p.child.kill('SIGKILL');
      return p.ended;
    }),
  );
}

/** Quotes a word for /bin/sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
