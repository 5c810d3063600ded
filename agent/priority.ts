/**
 * AGENT_NICE: the agent lowers its own CPU priority once, at start, before its spawner and any
 * command exist, so all of them inherit the thread niceness. Where the server and its database
 * share the machine with the agents (`npm start`'s local agents), a draining backlog then no
 * longer starves the users' requests (docs/performance.md has the figures).
 *
 * Two things make a plain setpriority() not enough on Linux:
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
 *   Known gap: the task spawner starts a session of its own (setsid), so its autogroup, which
 *   the commands share, stays at nice 0 (docs/configuration.md, AGENT_NICE).
 * Raising niceness needs no privilege.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

async function yieldAutogroup(nice: number): Promise<'set' | 'shared session' | 'none' | { error: string }> {
  let current: number;
  try {
    // "/autogroup-85 nice 0"
    current = Number(/nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1] ?? 0);
  } catch {
    return 'none'; // a kernel without autogroups
  }
  if (sessionId() !== process.pid) return 'shared session';
  if (nice <= current) return 'set';
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync('/proc/self/autogroup', String(nice));
      return 'set';
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code !== 'EAGAIN' || attempt >= AUTOGROUP_TRIES) return { error: e.message };
      await new Promise((r) => setTimeout(r, AUTOGROUP_RETRY_MS + Math.floor(Math.random() * AUTOGROUP_RETRY_MS)));
    }
  }
}
