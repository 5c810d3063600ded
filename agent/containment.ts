/**
 * How a task's command is contained, so that nothing it starts outlives it.
 *
 * - `pid-namespace`: each command runs in a PID namespace of its own (util-linux `unshare
 *   --pid --fork --kill-child --mount-proc`, as root or through an unprivileged user
 *   namespace). When the namespace's first process ends, the kernel kills every process left
 *   in it, daemons that left the process group (`setsid`) included, and a private /proc shows
 *   the command only its own processes (not the agent's, not the server's /proc/<pid>/environ).
 * - `process-group`: the command leads a process group, and the group is killed when it
 *   ends; a process that leaves the group can outlive the task. Used where namespaces are
 *   refused (an unprivileged container), and said so in the agent's start-up log.
 *
 * With AGENT_RUN_AS both run the command through `setpriv --no-new-privs`: a setuid program
 * gains nothing.
 */
import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';

export type ContainmentKind = 'pid-namespace' | 'process-group';

/** AGENT_CONTAINMENT: `auto` takes the PID namespace where it works; the others insist. */
export type ContainmentMode = 'auto' | ContainmentKind;

export type TaskSpawnOptions = {
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** AGENT_RUN_AS: the user the command runs as (the agent is root then) */
  runAs?: { uid: number; gid: number } | null;
};

/** How the command ended: its own exit code, or the signal that killed it. */
export type TaskExit = { code: number | null; signal: NodeJS.Signals | null };

export type TaskProcess = {
  /** the process the agent started; it leads the process group the agent signals */
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** resolves when the command has ended, with its status (not its wrapper's) */
  exited: Promise<TaskExit>;
};

export type Containment = {
  kind: ContainmentKind;
  /** one line for the agent's start-up log: what holds */
  description: string;
  /** Starts `/bin/sh -c command`, contained. Throws what spawn throws (E2BIG). */
  spawn(command: string, options: TaskSpawnOptions): TaskProcess;
};

/**
 * PID 1 of a task's namespace. The command cannot be PID 1 itself: the kernel drops signals an
 * init has no handler for (a timed-out `sleep` would ignore SIGTERM) and an init cannot die of
 * a signal, so its status could not say "killed by SIGKILL". This init runs the command as its
 * child in a process group of its own, passes SIGTERM, SIGINT and SIGHUP on to that group,
 * reaps orphans, and writes the command's status to fd 3 ("exit N" or "signal N") before it
 * exits, which ends the namespace. Perl: in every Debian and Ubuntu (perl-base is essential),
 * starts in about 2 ms (Node: 180 ms here), and loads no module: not even strict.pm, nor Errno.pm
 * (which `$!{EINTR}` loads, with Exporter): those took 5.5 of the 7.3 ms of CPU a task's init
 * cost here, the largest part of what a contained task costs over a process group. EINTR is 4 on
 * every Linux architecture.
 */
const INIT = `
open(my $status, '>&=', 3) or die "task init: no status pipe: $!\\n";
my $pid = 0;
my @early;
for my $sig (qw(TERM INT HUP)) {
  $SIG{$sig} = sub { if ($pid > 0) { kill $sig, -$pid } else { push @early, $sig } };
}
$pid = fork();
die "task init: fork: $!\\n" unless defined $pid;
if ($pid == 0) {
  close($status);
  setpgrp(0, 0);
  exec { $ARGV[0] } @ARGV;
  print STDERR "task init: cannot run $ARGV[0]: $!\\n";
  exit 127;
}
setpgrp($pid, $pid);
kill($_, -$pid) for @early;
for (;;) {
  my $r = waitpid(-1, 0);
  if ($r == $pid) {
    my $s = $?;
    print $status (($s & 127) ? 'signal ' . ($s & 127) : 'exit ' . ($s >> 8)), "\\n";
    close($status);
    exit(($s & 127) ? 128 + ($s & 127) : $s >> 8);
  }
  last if $r == -1 && $! + 0 != 4;
}
exit 1;
`;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals] as const),
);

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

/** A child's exit as a promise, whatever order 'exit' and the pipes' closing come in. */
function exitOf(child: ChildProcess): Promise<TaskExit> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The command led by its shell as a process group; setpriv sets no_new_privs under AGENT_RUN_AS. */
export function processGroup(setpriv: string | null = findExecutable('setpriv')): Containment {
  return {
    kind: 'process-group',
    description: 'process group only: a process a command starts and moves out of its group (setsid, a daemon) can outlive its task',
    spawn(command, { cwd, env, runAs }) {
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
      return { child, exited: exitOf(child) };
    },
  };
}

export type NamespaceTools = { unshare: string; perl: string; setpriv: string | null };

/**
 * Each command in a PID namespace of its own, with a private /proc. As root, `unshare` makes
 * it and `setpriv` switches to AGENT_RUN_AS (with no_new_privs) before the init runs, so
 * nothing in the namespace is root; otherwise an unprivileged user namespace maps the agent's
 * own user, so commands still run as it.
 */
export function pidNamespace(tools: NamespaceTools, asRoot = process.getuid?.() === 0): Containment {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const userNs = asRoot ? [] : ['--user', `--map-user=${uid}`, `--map-group=${gid}`];
  return {
    kind: 'pid-namespace',
    description: `PID namespace per task (unshare --pid --mount-proc${asRoot ? '' : ' in a user namespace'}): nothing a command starts outlives it, and its /proc shows only its own processes`,
    spawn(command, { cwd, env, runAs }) {
      const drop =
        runAs && tools.setpriv !== null
          ? [tools.setpriv, `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', '--no-new-privs', '--']
          : [];
      const args = [...userNs, '--pid', '--fork', '--kill-child', '--mount-proc', '--', ...drop];
      args.push(tools.perl, '-e', INIT, '--', '/bin/sh', '-c', command);
      // setpriv --pdeathsig: should the agent die (kill -9), unshare gets SIGKILL, and with it
      // (--kill-child) the init and the whole namespace: the command does not run on unwatched.
      const [file, argv] =
        tools.setpriv === null ? [tools.unshare, args] : [tools.setpriv, ['--pdeathsig=SIGKILL', '--', tools.unshare, ...args]];
      const child = spawn(file, argv, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
      const statusPipe = child.stdio[3] as Readable | null;
      let status = '';
      statusPipe?.on('data', (chunk: Buffer) => {
        status += chunk.toString('latin1');
      });
      statusPipe?.on('error', () => {});
      const closed = new Promise<void>((resolve) => (statusPipe ? statusPipe.once('close', () => resolve()) : resolve()));
      const exited = Promise.all([exitOf(child), closed]).then(([outer]): TaskExit => {
        // The init's word on the command; without it (killed with the namespace: SIGKILL to the
        // group), unshare's own end, which is then the command's too.
        const m = /^(exit|signal) (\d+)\n/.exec(status);
        if (m?.[1] === 'exit') return { code: Number(m[2]), signal: null };
        if (m?.[1] === 'signal') return { code: null, signal: SIGNAL_NAMES.get(Number(m[2])) ?? 'SIGKILL' };
        return outer;
      });
      return { child: child as unknown as ChildProcessByStdio<null, Readable, Readable>, exited };
    },
  };
}

/** Runs `echo $$` contained; null when it answered as it must (PID 2, exit 0), else why not. */
async function tryContainment(containment: Containment, runAs: TaskSpawnOptions['runAs']): Promise<string | null> {
  let started: TaskProcess;
  try {
    started = containment.spawn('echo $$', { cwd: '/', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, runAs });
  } catch (error) {
    return (error as Error).message;
  }
  let out = '';
  let err = '';
  started.child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  started.child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const failed = new Promise<string>((resolve) => started.child.once('error', (error) => resolve(error.message)));
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 10 s'), 10000).unref());
  const result = await Promise.race([started.exited.then((exit) => ({ exit })), failed, timeout]);
  if (typeof result === 'string') {
    started.child.kill('SIGKILL');
    return result;
  }
  // PID 1 is the init: the command is the namespace's second process.
  if (result.exit.code === 0 && out.trim() === '2') return null;
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
): Promise<{ containment: Containment; reason: string | null }> {
  const setpriv = find('setpriv');
  if (runAs && setpriv === null) {
    throw new ContainmentError(
      'AGENT_RUN_AS needs setpriv (util-linux) on the PATH: commands run as that user with no_new_privs, so setuid programs gain nothing',
    );
  }
  if (mode === 'process-group') return { containment: processGroup(setpriv), reason: 'AGENT_CONTAINMENT=process-group' };
  const unshare = find('unshare');
  const perl = find('perl');
  let reason: string | null;
  if (process.platform !== 'linux') reason = `PID namespaces are Linux only (this is ${process.platform})`;
  else if (unshare === null) reason = 'no unshare (util-linux) on the PATH';
  else if (perl === null) reason = 'no perl on the PATH (the namespace’s init)';
  else {
    const candidate = pidNamespace({ unshare, perl, setpriv });
    reason = await tryContainment(candidate, runAs);
    if (reason === null) return { containment: candidate, reason: null };
    reason = `unshare refused: ${reason}`;
  }
  if (mode === 'pid-namespace') throw new ContainmentError(`AGENT_CONTAINMENT=pid-namespace, but ${reason}`);
  return { containment: processGroup(setpriv), reason };
}
