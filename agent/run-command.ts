/**
 * Runs one command with /bin/sh -c in its own process group, capturing stdout and stderr
 * head-and-tail, enforcing the timeout, and stopping the whole group on cancel or shutdown.
 */
import { type BigIntStats, lstatSync, readdirSync, rmSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputCapture } from '../contract/output-limit';
import type { StreamName, TaskUsage, TerminalState } from '../contract/task';
import { type Containment, processGroup, type TaskProcess } from './containment';

export type RunResult = {
  state: TerminalState;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputTruncated: boolean;
  error: string | null;
  /** what the command's process tree used, where the containment measures it (agent/containment.ts) */
  usage?: TaskUsage | null;
  /**
   * The captured bytes, to cut the output further (a smaller limit) where its JSON-escaped form
   * would not fit the finish body; absent when the command never ran.
   */
  capture?: Record<StreamName, OutputCapture>;
};

/** Why a running command is being stopped early; becomes the task's state and error. */
export type StopReason = { state: TerminalState; error: string };

export type RunOptions = {
  command: string;
  timeoutSeconds: number;
  env: Readonly<Record<string, string>>;
  outputLimitBytes: number;
  /** SIGTERM, then SIGKILL after this long */
  killGraceMs: number;
  /** Aborting it stops the command; its reason must be a StopReason. */
  signal?: AbortSignal;
  /** How long to wait for the pipes to close once the shell has exited. */
  drainMs?: number;
  /** Run the command as this user (AGENT_RUN_AS; the agent must be root). */
  runAs?: { uid: number; gid: number } | null;
  /** How the command is contained (agent/containment.ts); the process group when not given. */
  containment?: Containment;
  /** Called with each piece of output as the command writes it (live output). */
  onOutput?: (stream: StreamName, chunk: Buffer) => void;
};

const PROCESS_GROUP = processGroup();

/** The result of a command that never ran (no working directory, or the system refused to execute it). */
function notStarted(error: unknown): RunResult {
  const message = error instanceof Error ? error.message : String(error);
  return { state: 'failed', exitCode: null, stdout: '', stderr: '', outputTruncated: false, error: `could not start: ${message}` };
}

type WorkDir = { path: string; owner: string; made: BigIntStats };
const ownerKey = (runAs: RunOptions['runAs']) => (runAs ? `${runAs.uid}:${runAs.gid}` : '');

/**
 * A finished command's working directory, kept for the next one while it is exactly as it was
 * made: empty, and neither it nor its metadata changed (its ctime and mtime are those it was
 * made with; any entry made or removed, chmod, chown, an ACL or an xattr moves them). A command
 * therefore always starts in an empty directory of its own that no earlier command touched, as
 * with one mkdtemp and rm per task, which cost 2.2 ms of a 22 ms task in the agent's profile (and
 * 3-4 ms of wall time on this disk).
 */
let spare: WorkDir | null = null;
process.once('exit', () => {
  if (spare) rmSync(spare.path, { recursive: true, force: true });
});

async function takeWorkDir(runAs: RunOptions['runAs']): Promise<WorkDir> {
  const owner = ownerKey(runAs);
  if (spare !== null && spare.owner === owner) {
    const dir = spare;
    spare = null;
    return dir;
  }
  const path = await mkdtemp(join(tmpdir(), 'task-'));
  if (runAs) await chown(path, runAs.uid, runAs.gid);
  return { path, owner, made: lstatSync(path, { bigint: true }) };
}

async function giveBackWorkDir(dir: WorkDir): Promise<void> {
  try {
    const now = lstatSync(dir.path, { bigint: true });
    const untouched =
      now.isDirectory() &&
      now.ino === dir.made.ino &&
      now.mode === dir.made.mode &&
      now.uid === dir.made.uid &&
      now.gid === dir.made.gid &&
      now.ctimeNs === dir.made.ctimeNs &&
      now.mtimeNs === dir.made.mtimeNs &&
      readdirSync(dir.path).length === 0;
    if (untouched && spare === null) {
      spare = dir;
      return;
    }
  } catch {
    // gone or unreadable: made anew for the next command
  }
  await rm(dir.path, { recursive: true, force: true }).catch(() => {});
}

/** Runs the command to its end and resolves with the result; never rejects. */
export async function runCommand(opts: RunOptions): Promise<RunResult> {
  let dir: WorkDir;
  try {
    dir = await takeWorkDir(opts.runAs);
  } catch (error) {
    return notStarted(error);
  }
  try {
    return await runIn(dir.path, opts);
  } finally {
    await giveBackWorkDir(dir);
  }
}

function runIn(cwd: string, opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const out = new OutputCapture(opts.outputLimitBytes);
    const err = new OutputCapture(opts.outputLimitBytes);
    let stopReason: StopReason | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    // The child leads a new process group (and, contained, a PID namespace), so signals reach
    // the command's children too; `exited` is the command's own status.
    const containment = opts.containment ?? PROCESS_GROUP;
    let task: TaskProcess;
    try {
      task = containment.spawn(opts.command, { cwd, env: opts.env, runAs: opts.runAs });
    } catch (error) {
      // Some exec failures (E2BIG: an argument over 128 KiB) and invalid arguments throw here
      // instead of emitting 'error'.
      resolve(notStarted(error));
      return;
    }
    const onOutput = opts.onOutput;
    const { stdout, stderr } = task;
    stdout.on('data', (chunk: Buffer) => {
      out.write(chunk);
      onOutput?.('stdout', chunk);
    });
    stderr.on('data', (chunk: Buffer) => {
      err.write(chunk);
      onOutput?.('stderr', chunk);
    });

    const stop = (reason: StopReason) => {
      if (stopReason !== null || !task.running) return;
      stopReason = reason;
      task.kill('SIGTERM');
      killTimer = setTimeout(() => task.kill('SIGKILL'), opts.killGraceMs);
    };
    const timeout = setTimeout(
      () => stop({ state: 'timed_out', error: `timed out after ${opts.timeoutSeconds}s` }),
      opts.timeoutSeconds * 1000,
    );
    const onAbort = () => stop((opts.signal?.reason as StopReason) ?? { state: 'failed', error: 'agent stopped' });
    if (opts.signal?.aborted) queueMicrotask(onAbort);
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (result: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };

    // spawn failed (no /bin/sh, no resources): nothing ran.
    void task.failed.then((error) => finish(notStarted(error)));

    // Whatever the shell left behind is stopped with it (by the containment, before `exited`):
    // a finished task leaves no processes running.
    void task.exited.then(({ code, signal, usage }) => {
      let drained = 0;
      const done = () => {
        const o = out.finish();
        const e = err.finish();
        const base = {
          exitCode: code,
          stdout: o.text,
          stderr: e.text,
          outputTruncated: o.truncated || e.truncated,
          usage: usage ?? null,
          capture: { stdout: out, stderr: err },
        };
        if (stopReason !== null) finish({ ...base, state: stopReason.state, error: stopReason.error });
        else if (signal !== null) finish({ ...base, state: 'failed', error: `killed by signal ${signal}` });
        else finish({ ...base, state: code === 0 ? 'succeeded' : 'failed', error: null });
      };
      const onClosed = () => {
        drained += 1;
        if (drained === 2) {
          clearTimeout(drainTimer);
          done();
        }
      };
      // A process that escaped the group could hold the pipes open forever: stop waiting.
      const drainTimer = setTimeout(() => {
        stdout.destroy();
        stderr.destroy();
        done();
      }, opts.drainMs ?? 2000);
      if (stdout.readableEnded || stdout.destroyed) drained += 1;
      else stdout.once('close', onClosed);
      if (stderr.readableEnded || stderr.destroyed) drained += 1;
      else stderr.once('close', onClosed);
      if (drained === 2) {
        clearTimeout(drainTimer);
        done();
      }
    });
  });
}
