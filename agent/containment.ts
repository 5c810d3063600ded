/**
 * How a task's command is contained, so that nothing it starts outlives it.
 *
 * - `pid-namespace`: the agent's commands run in a PID namespace of the agent's own (util-linux
 *   `unshare --pid --fork --kill-child --mount-proc`, as root or through an unprivileged user
 *   namespace) whose init is the task spawner (agent/spawner.ts). When a command ends, the
 *   spawner kills every other process left in the namespace, daemons that left the process
 *   group (`setsid`) included, before the end is reported; a private /proc shows the command
 *   only its own processes and the spawner (not the agent's, not the server's
 *   /proc/<pid>/environ).
 * - `process-group`: the command leads a process group of its own. Through the spawner (without
 *   a namespace, as the child subreaper of its commands) every process the command leaves is
 *   killed when it ends, unless the command kills the spawner first; where there is no spawner
 *   (no perl), the agent forks the command itself, its group is killed when it ends, and a
 *   process that leaves the group can outlive the task. Used where namespaces are refused (an
 *   unprivileged container), and said so in the agent's start-up log.
 *
 * With AGENT_RUN_AS both run the command through `setpriv --no-new-privs`: a setuid program
 * gains nothing.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { TaskUsage } from '../contract/task';
import { type SessionPriority, sessionYielder } from './priority';
import { PRCTL_SYSCALL, taskSpawner } from './spawner';

export type ContainmentKind = 'pid-namespace' | 'process-group';

/** AGENT_CONTAINMENT: `auto` takes the PID namespace where it works; the others insist. */
export type ContainmentMode = 'auto' | ContainmentKind;

export type TaskSpawnOptions = {
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** AGENT_RUN_AS: the user the command runs as (the agent is root then) */
  runAs?: { uid: number; gid: number } | null;
};

/**
 * How the command ended: its own exit code, or the signal that killed it; and, where the
 * containment can measure it, what its process tree used (null where it cannot).
 */
export type TaskExit = { code: number | null; signal: NodeJS.Signals | null; usage?: TaskUsage | null };

/** What the agent may send a running command: SIGTERM to its process group, SIGKILL to all of it. */
export type TaskSignal = 'SIGTERM' | 'SIGKILL';

export type TaskProcess = {
  stdout: Readable;
  stderr: Readable;
  /** resolves when the command has ended, with its status (not its wrapper's) */
  exited: Promise<TaskExit>;
  /** resolves when the command could not be started at all (and then `exited` never does) */
  failed: Promise<Error>;
  /** false once the command has ended */
  readonly running: boolean;
  /** SIGTERM reaches the command's process group; SIGKILL every process the command started */
  kill(signal: TaskSignal): void;
};

export type Containment = {
  kind: ContainmentKind;
  /** one line for the agent's start-up log: what holds */
  description: string;
  /** Starts `/bin/sh -c command`, contained. May throw what spawn throws (E2BIG, a NUL byte). */
  spawn(command: string, options: TaskSpawnOptions): TaskProcess;
};

/** The absolute path of an executable on the agent's own PATH (never a task's), or null. */
export function findExecutable(name: string, path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * The command led by its shell as a process group, spawned by the agent itself; setpriv sets
 * no_new_privs under AGENT_RUN_AS. When the shell ends, what stayed in its group is killed.
 */
export function processGroup(setpriv: string | null = findExecutable('setpriv'), priority?: SessionPriority): Containment {
  // One try per command: a command is a session of its own, and short ones end within the
  // 100 ms the kernel makes an unprivileged user wait between two such writes.
  const yieldSessionOf = sessionYielder(priority, 1);
  return {
    kind: 'process-group',
    description: 'process group only: a process a command starts and moves out of its group (setsid, a daemon) can outlive its task',
    spawn(command, { cwd, env, runAs }): TaskProcess {
      // detached: the shell leads a new process group, so signals reach its children too.
      const [file, args] =
        runAs && setpriv !== null ? [setpriv, ['--no-new-privs', '--', '/bin/sh', '-c', command]] : ['/bin/sh', ['-c', command]];
      const child = spawn(file, args, {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
      yieldSessionOf(child.pid);
      const exited = new Promise<TaskExit>((resolve) =>
        child.once('exit', (code, signal) => {
          killGroup(child.pid, 'SIGKILL');
          resolve({ code, signal });
        }),
      );
      return {
        stdout: child.stdout,
        stderr: child.stderr,
        exited,
        failed: new Promise<Error>((resolve) => child.once('error', resolve)),
        get running() {
          return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
        },
        kill: (signal) => killGroup(child.pid, signal),
      };
    },
  };
}

/**
 * Runs `echo $$` contained; null when it answered as it must (exit 0, a small PID: the spawner
 * refuses to run unless it is PID 1 of its namespace), else why not.
 */
async function tryContainment(containment: Containment, runAs: TaskSpawnOptions['runAs']): Promise<string | null> {
  const inNamespace = containment.kind === 'pid-namespace';
  let started: TaskProcess;
  try {
    started = containment.spawn('echo $$', { cwd: '/', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, runAs });
  } catch (error) {
    return (error as Error).message;
  }
  let out = '';
  let err = '';
  started.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  started.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const failed = started.failed.then((error) => error.message);
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 10 s'), 10000).unref());
  const result = await Promise.race([started.exited.then((exit) => ({ exit })), failed, timeout]);
  if (typeof result === 'string') {
    started.kill('SIGKILL');
    return result;
  }
  if (result.exit.code === 0 && /^\d+$/.test(out.trim()) && (!inNamespace || Number(out.trim()) < 100)) return null;
  return err.trim().split('\n')[0] || `unexpected answer (exit ${result.exit.code ?? result.exit.signal}, pid ${out.trim() || 'none'})`;
}

/** Thrown when AGENT_CONTAINMENT asks for what this host cannot give. */
export class ContainmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainmentError';
  }
}

/**
 * Chooses the containment at agent start, by trying it: a PID namespace where this host
 * allows one (root, or unprivileged user namespaces), else the process group, with the reason.
 * Throws ContainmentError when `mode` insists on what cannot be had, or when AGENT_RUN_AS is
 * set and setpriv (util-linux) is missing: its commands must run with no_new_privs.
 */
export async function chooseContainment(
  mode: ContainmentMode,
  runAs: TaskSpawnOptions['runAs'],
  find: (name: string) => string | null = findExecutable,
  priority?: SessionPriority,
): Promise<{ containment: Containment; reason: string | null }> {
  const setpriv = find('setpriv');
  if (runAs && setpriv === null) {
    throw new ContainmentError(
      'AGENT_RUN_AS needs setpriv (util-linux) on the PATH: commands run as that user with no_new_privs, so setuid programs gain nothing',
    );
  }
  const perl = find('perl');
  // Without a namespace: the process group under a subreaper spawner where it works, else the
  // process group Node forks itself (no perl; no prctl number for this architecture).
  const groupOnly = async (why: string) => {
    if (process.platform === 'linux' && perl !== null && PRCTL_SYSCALL > 0) {
      const candidate = taskSpawner({ perl, setpriv }, false, undefined, priority);
      const refused = await tryContainment(candidate, runAs);
      if (refused === null) return { containment: candidate, reason: why };
      why = `${why}; the spawner refused: ${refused}`;
    }
    return { containment: processGroup(setpriv, priority), reason: why };
  };
  if (mode === 'process-group') return groupOnly('AGENT_CONTAINMENT=process-group');
  const unshare = find('unshare');
  let reason: string | null;
  if (process.platform !== 'linux') reason = `PID namespaces are Linux only (this is ${process.platform})`;
  else if (unshare === null) reason = 'no unshare (util-linux) on the PATH';
  else if (perl === null) reason = 'no perl on the PATH (the namespace’s init, the task spawner)';
  else {
    const candidate = taskSpawner({ unshare, perl, setpriv }, true, undefined, priority);
    reason = await tryContainment(candidate, runAs);
    if (reason === null) return { containment: candidate, reason: null };
    reason = `unshare refused: ${reason}`;
  }
  if (mode === 'pid-namespace') throw new ContainmentError(`AGENT_CONTAINMENT=pid-namespace, but ${reason}`);
  return groupOnly(reason);
}
