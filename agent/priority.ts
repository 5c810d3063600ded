/**
 * AGENT_NICE: the agent lowers its own CPU priority once, at start, before its spawner and any
 * command exist, so all of them inherit the thread niceness. Where the server and its database
 * share the machine with the agents (`npm start`'s local agents), a draining backlog then no
 * longer starves the users' requests (docs/performance.md has the figures).
 *
 * Three things make a plain setpriority() not enough on Linux:
 * - The nice value is kept per thread, and a new thread or child takes its creator's: every
 *   thread the process has so far is set (/proc/self/task), and later ones take it from the
 *   thread that starts them.
 * - With autogroups (sched_autogroup_enabled, the default of most distributions), the scheduler
 *   first shares the CPU between sessions, and a nice value only counts inside its own session's
 *   group. So an agent that leads its own session (a local agent of `npm start` does: it is
 *   started detached) sets its group's nice too (/proc/self/autogroup). One that does not (run
 *   from a terminal) leaves the group alone: that would slow down the whole terminal session.
 *   The kernel refuses (EAGAIN) such a write without CAP_SYS_ADMIN within 100 ms of any other on
 *   the machine, and `npm start` starts its agents together: each tries again for a few seconds.
 * - The task spawner, and a command contained by its process group alone, start a session of their
 *   own (setsid): a new autogroup at nice 0, which the commands share. The containment gives that
 *   group the agent's niceness as soon as it is spawned (yieldSession).
 * Raising niceness needs no privilege.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export type Yielded = { nice: number; autogroup: 'set' | 'shared session' | 'none' | { error: string } } | { error: string };

/** How often, and how far apart, a refused autogroup write is tried again. */
const AUTOGROUP_TRIES = 40;
const AUTOGROUP_RETRY_MS = 120;

/** This process's session id, from /proc/self/stat (the fourth field after the command name); null without /proc. */
function sessionId(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[3]);
  } catch {
    return null;
  }
}

/** Raises the niceness of this process's every thread to `nice` (never lowers one), then its autogroup's. */
export async function yieldCpu(nice: number): Promise<Yielded> {
  try {
    // Every thread (the main one among them); without /proc (macOS) the process, whose nice value it is there.
    let threads = [0];
    try {
      threads = readdirSync('/proc/self/task').map(Number);
    } catch {
      // no /proc
    }
    for (const tid of threads) {
      try {
        if (nice > getPriority(tid)) setPriority(tid, nice);
      } catch {
        // a thread that ended meanwhile
      }
    }
    return { nice: getPriority(0), autogroup: await yieldAutogroup(nice) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

export type SessionYield = 'set' | 'none' | { error: string };

/**
 * Raises the nice value of the autogroup of session leader `pid` ('self' for this process) to
 * `nice`; a refusal for the once-per-100-ms rule (EAGAIN) is tried again up to `tries` times.
 * 'none': a kernel without autogroups, or the process is gone.
 */
export async function yieldSession(pid: number | 'self', nice: number, tries = AUTOGROUP_TRIES): Promise<SessionYield> {
  const path = `/proc/${pid}/autogroup`;
  let current: number;
  try {
    // "/autogroup-85 nice 0"
    current = Number(/nice (-?\d+)/.exec(readFileSync(path, 'utf8'))?.[1] ?? 0);
  } catch {
    return 'none';
  }
  if (nice <= current) return 'set';
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(path, String(nice));
      return 'set';
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'ENOENT' || e.code === 'ESRCH') return 'none';
      if (e.code !== 'EAGAIN' || attempt >= tries) return { error: e.message };
      await new Promise((r) => setTimeout(r, AUTOGROUP_RETRY_MS + Math.floor(Math.random() * AUTOGROUP_RETRY_MS)));
    }
  }
}

async function yieldAutogroup(nice: number): Promise<'set' | 'shared session' | 'none' | { error: string }> {
  if (!existsSync('/proc/self/autogroup')) return 'none'; // a kernel without autogroups
  if (sessionId() !== process.pid) return 'shared session';
  return yieldSession('self', nice);
}

/**
 * The niceness the session of each spawner, or of each command the agent forks itself, takes
 * (AGENT_NICE): such a session is new (setsid), so its autogroup starts at nice 0 whatever the
 * agent's own threads have (yieldCpu). `onRefused` hears of the first write the kernel
 * refused, once.
 */
export type SessionPriority = { nice: number; onRefused?: (error: string) => void };

/** Gives the new session led by `pid` the niceness, in the background; says the first refusal once. */
export function sessionYielder(priority: SessionPriority | undefined, tries?: number): (pid: number | undefined) => void {
  let told = false;
  return (pid) => {
    if (priority === undefined || priority.nice <= 0 || pid === undefined) return;
    void yieldSession(pid, priority.nice, tries).then((result) => {
      if (typeof result === 'object' && !told) {
        told = true;
        priority.onRefused?.(result.error);
      }
    });
  };
}
