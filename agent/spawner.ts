/**
 * The agent's side of the task spawner (agent/spawner.pl.ts): one Perl process per agent, PID 1
 * of a PID namespace of the agent's own (or, where namespaces are refused, the child subreaper
 * of its commands: taskSpawner's `namespace` false), started at the first command and kept; each
 * command is a request to it, and its output and status come back as frames on one pipe. What
 * follows is the namespace's case; the subreaper's differs in what /proc shows (every process)
 * and in that a command can kill the spawner.
 *
 * What a command gets is what the earlier namespace per task gave it: it starts in an empty directory,
 * with the agent's environment for it and an empty stdin, as the leader of its own process
 * group; its /proc shows only the spawner (PID 1, not dumpable: nothing of it can be read) and
 * the task's own processes; when it ends, every other process in the namespace is killed before
 * its end is reported, daemons that left the group (setsid) included; and what its whole tree
 * used is measured. Should the agent die (kill -9), `setpriv --pdeathsig` has unshare killed,
 * and with it (--kill-child) the spawner and the whole namespace: nothing runs on unwatched.
 * Should the spawner die, the task it ran ends as failed and the next command starts a new one.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { TaskUsage } from '../contract/task';
import type { Containment, TaskExit, TaskProcess, TaskSignal, TaskSpawnOptions } from './containment';
import { type SessionPriority, sessionYielder } from './priority';
import { SPAWNER } from './spawner.pl';

/**
 * wait4's system call number where struct rusage is 18 64-bit words (64-bit Linux): x86-64 61,
 * arm64 260 (the generic table); 0 elsewhere (no usage measured).
 */
const WAIT4_SYSCALL = process.platform === 'linux' ? (({ x64: 61, arm64: 260 } as Record<string, number>)[process.arch] ?? 0) : 0;

/** prctl's system call number: x86-64 157, arm64 167; 0 elsewhere (the spawner then stays dumpable). */
export const PRCTL_SYSCALL = process.platform === 'linux' ? (({ x64: 157, arm64: 167 } as Record<string, number>)[process.arch] ?? 0) : 0;

/** The spawner's usage line, as the task's usage (maxrss comes in KiB). */
function parseUsageLine(line: string): TaskUsage | null {
  const m = /^usage (\d+\.\d+) (\d+\.\d+) (\d+)$/.exec(line);
  if (!m) return null;
  return { cpuUserSeconds: Number(m[1]), cpuSystemSeconds: Number(m[2]), maxRssBytes: Number(m[3]) * 1024 };
}

/**
 * The spawner's status of an ended task (agent/spawner.pl.ts): `usage ...` and `exit N` or
 * `signal N`; or `error ERRNO MESSAGE` when the command could not be executed. Without an end
 * line, killed by SIGKILL.
 */
function parseStatus(text: string): { exit: TaskExit; error?: string } {
  let usage: TaskUsage | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('error ')) return { exit: { code: null, signal: null, usage: null }, error: line.slice(6) };
    if (line.startsWith('usage ')) usage = parseUsageLine(line);
    const m = /^(exit|signal) (\d+)$/.exec(line);
    if (m?.[1] === 'exit') return { exit: { code: Number(m[2]), signal: null, usage } };
    if (m?.[1] === 'signal') return { exit: { code: null, signal: SIGNAL_NAMES.get(Number(m[2])) ?? 'SIGKILL', usage } };
  }
  return { exit: { code: null, signal: 'SIGKILL', usage: null } };
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals] as const),
);

/** The command a spawner runs: its output streams, and how it ends. */
type Running = {
  stdout: PassThrough;
  stderr: PassThrough;
  /** it ended, with this status; its output is all in */
  resolve(exit: TaskExit): void;
  /** it could not be started */
  fail(error: Error): void;
  ended: boolean;
};

/** A Running whose end is `exited` (never settles when it failed) or `failed`. */
function running(): { running: Running; exited: Promise<TaskExit>; failed: Promise<Error> } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let onExit!: (exit: TaskExit) => void;
  let onFail!: (error: Error) => void;
  const exited = new Promise<TaskExit>((resolve) => {
    onExit = resolve;
  });
  const failed = new Promise<Error>((resolve) => {
    onFail = resolve;
  });
  const end = (): boolean => {
    if (r.ended) return false;
    r.ended = true;
    stdout.end();
    stderr.end();
    return true;
  };
  const r: Running = {
    stdout,
    stderr,
    ended: false,
    resolve: (exit) => end() && onExit(exit),
    fail: (error) => end() && onFail(error),
  };
  return { running: r, exited, failed };
}

/** errno names by number, for a command that could not be executed (E2BIG, say) */
const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name] as const));

/** A request's payload: fields ended by NUL, which no argument, path or variable can hold. */
function encodeRun(cwd: string, argv: readonly string[], env: Readonly<Record<string, string>>): Buffer {
  const fields = [cwd, String(argv.length), ...argv];
  for (const [name, value] of Object.entries(env)) fields.push(`${name}=${value}`);
  for (const field of fields) {
    if (field.includes('\0')) throw new TypeError('a command, its working directory and its environment cannot hold a NUL byte');
  }
  const payload = Buffer.from(`${fields.join('\0')}\0`, 'utf8');
  return Buffer.concat([Buffer.from(`run ${payload.length}\n`, 'latin1'), payload]);
}

/** One spawner process and the command it runs (at most one: an agent runs one task at a time). */
class SpawnerProcess {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  /** what it (or unshare, setpriv) wrote to stderr before it was ready: the reason it refused */
  private earlyStderr = '';
  private buffer: Buffer = Buffer.alloc(0);
  private current: Running | null = null;
  alive = true;
  /** it said `r`: it runs, as PID 1 of its namespace */
  private ready = false;

  constructor(file: string, argv: readonly string[], onGone: () => void, yieldSessionOf: (pid: number | undefined) => void) {
    // detached: a Ctrl-C on the agent's terminal reaches the agent, which decides; not its tasks.
    this.child = spawn(file, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    // Its session (setsid: detached) is a new autogroup, which every command it runs shares.
    yieldSessionOf(this.child.pid);
    this.child.stdin.on('error', () => {});
    // Before it is ready its stderr is the reason it could not start (unshare refused, say),
    // which chooseContainment reports in one line; after, anything it writes goes to the agent's.
    this.child.stderr.on('data', (chunk: Buffer) => {
      if (this.ready) process.stderr.write(chunk);
      else this.earlyStderr = (this.earlyStderr + chunk.toString('utf8')).slice(-500);
    });
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    // Should it end while a command runs, the command ended with it (the namespace is gone):
    // killed, as a SIGKILL to the namespace would have ended it. Should it not start at all,
    // the command did not either.
    const gone = (why: string, notStarted: boolean) => {
      if (!this.alive) return;
      this.alive = false;
      onGone();
      const said = this.earlyStderr.trim().split('\n').at(-1);
      const before = said ? `${why} before it was ready: ${said}` : `${why} before it was ready`;
      if (notStarted || !this.ready) this.current?.fail(new Error(this.ready ? why : before));
      else this.current?.resolve({ code: null, signal: 'SIGKILL', usage: null });
      this.current = null;
    };
    this.child.once('error', (error) => gone(`the task spawner could not start: ${error.message}`, true));
    this.child.once('exit', (code, signal) => gone(`the task spawner ended (${signal ?? `exit ${code}`})`, false));
    // Between tasks it does not keep the agent's event loop alive by itself; while a command
    // runs, it does (its output and its end, or the spawner's own, are what the agent waits for).
    this.hold(false);
  }

  private hold(on: boolean): void {
    const handles = [this.child, this.child.stdout, this.child.stdin, this.child.stderr] as unknown as {
      ref?: () => void;
      unref?: () => void;
    }[];
    for (const handle of handles) {
      if (on) handle.ref?.();
      else handle.unref?.();
    }
  }

  /** Sends the request (to a spawner that is alive: taskSpawner replaces one that is not); `task` learns how it ends. */
  run(request: Buffer, task: Running): void {
    this.current = task;
    this.hold(true);
    this.child.stdin.write(request);
  }

  signal(signal: TaskSignal): void {
    if (this.alive && this.current !== null) this.child.stdin.write(`kill ${osConstants.signals[signal]}\n`);
  }

  stop(): void {
    this.alive = false;
    this.child.stdin.end();
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const nl = this.buffer.indexOf(10);
      if (nl < 0) return;
      const head = this.buffer.toString('latin1', 0, nl);
      const m = /^([roex]) (\d+)$/.exec(head);
      if (!m) {
        this.stop();
        this.current?.fail(new Error(`the task spawner said something unexpected: ${JSON.stringify(head.slice(0, 80))}`));
        this.current = null;
        return;
      }
      const length = Number(m[2]);
      if (this.buffer.length < nl + 1 + length) return;
      const body = this.buffer.subarray(nl + 1, nl + 1 + length);
      this.buffer = this.buffer.subarray(nl + 1 + length);
      const current = this.current;
      if (m[1] === 'r') this.ready = true;
      else if (m[1] === 'o') current?.stdout.write(body);
      else if (m[1] === 'e') current?.stderr.write(body);
      else if (m[1] === 'x' && current !== null) {
        this.current = null;
        this.hold(false);
        const status = parseStatus(body.toString('latin1'));
        if (status.error !== undefined) {
          const [errno, ...words] = status.error.split(' ');
          const name = ERRNO_NAMES.get(Number(errno)) ?? `errno ${errno}`;
          current.fail(new Error(`${words.join(' ')} (${name})`));
        } else {
          current.resolve(status.exit);
        }
      }
    }
  }
}

/** The tools a spawner needs: unshare only for a namespace; setpriv where present (pdeathsig, AGENT_RUN_AS). */
export type SpawnerTools = { perl: string; setpriv: string | null; unshare?: string | null };

/** The command line that starts a spawner, in a namespace of its own or as a subreaper. */
function spawnerCommand(tools: SpawnerTools, namespace: boolean, asRoot: boolean, runAs: TaskSpawnOptions['runAs']): [string, string[]] {
  // As root, the spawner (and so every command) drops to AGENT_RUN_AS with no_new_privs before
  // it runs: nothing it starts is root.
  const drop =
    runAs && tools.setpriv !== null
      ? [tools.setpriv, `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', '--no-new-privs', '--']
      : [];
  const perl = [tools.perl, '-e', SPAWNER, '--', String(WAIT4_SYSCALL), String(PRCTL_SYSCALL), namespace ? '1' : '0'];
  let argv: string[];
  if (namespace) {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const userNs = asRoot ? [] : ['--user', `--map-user=${uid}`, `--map-group=${gid}`];
    argv = [tools.unshare as string, ...userNs, '--pid', '--fork', '--kill-child', '--mount-proc', '--', ...drop, ...perl];
  } else {
    argv = [...drop, ...perl];
  }
  // setpriv --pdeathsig: should the agent die (kill -9), the spawner's chain gets SIGKILL (and,
  // with --kill-child, the whole namespace).
  if (tools.setpriv !== null) argv = [tools.setpriv, '--pdeathsig=SIGKILL', '--', ...argv];
  return [argv[0] as string, argv.slice(1)];
}

/**
 * Commands through a spawner: with `namespace`, in the agent's own PID namespace (as root
 * `unshare` makes it; otherwise an unprivileged user namespace maps the agent's own user);
 * without, in process groups of their own under a spawner that is their child subreaper.
 */
export function taskSpawner(
  tools: SpawnerTools,
  namespace: boolean,
  asRoot = process.getuid?.() === 0,
  priority?: SessionPriority,
): Containment {
  const spawners = new Map<string, SpawnerProcess>();
  const yieldSessionOf = sessionYielder(priority);
  const stopAll = () => {
    for (const s of spawners.values()) s.stop();
  };
  process.once('exit', stopAll);
  return {
    kind: namespace ? 'pid-namespace' : 'process-group',
    description: namespace
      ? `PID namespace per agent, emptied after each task (unshare --pid --mount-proc${asRoot ? '' : ' in a user namespace'}, one spawner as its init): nothing a command starts outlives it, and its /proc shows only its own processes and the spawner`
      : 'process group under a spawner that is its child subreaper: what a command starts is killed when it ends, daemons included, unless the command kills the spawner first; its /proc shows every process of this host',
    spawn(command, { cwd, env, runAs }): TaskProcess {
      const request = encodeRun(cwd, ['/bin/sh', '-c', command], env);
      const key = runAs ? `${runAs.uid}:${runAs.gid}` : '';
      let spawner = spawners.get(key);
      if (spawner === undefined || !spawner.alive) {
        const [file, argv] = spawnerCommand(tools, namespace, asRoot, runAs);
        const made: SpawnerProcess = new SpawnerProcess(
          file,
          argv,
          () => {
            if (spawners.get(key) === made) spawners.delete(key);
          },
          yieldSessionOf,
        );
        spawner = made;
        spawners.set(key, spawner);
      }
      const { running: task, exited, failed } = running();
      const owner = spawner;
      owner.run(request, task);
      return {
        stdout: task.stdout,
        stderr: task.stderr,
        exited,
        failed,
        get running() {
          return !task.ended;
        },
        kill(signal) {
          if (!task.ended) owner.signal(signal);
        },
      };
    },
  };
}
