/**
 * AGENT_NICE: the agent lowers its own CPU priority once, at start, before its spawner and any
 * command exist, so all of them inherit it. Where the server and its database share the machine
 * with the agents (`npm start`'s local agents), a draining backlog then no longer starves the
 * users' requests (docs/performance.md has the figures).
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
 * Raising niceness needs no privilege.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export type Yielded = { nice: number; autogroup: 'set' | 'shared session' | 'none' } | { error: string };

/** This process's session id, from /proc/self/stat (the fourth field after the command name); null without /proc. */
function sessionId(): number | null {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(fields[3]);
  } catch {
    return null;
  }
}

/** Raises this process's niceness to `nice` (never lowers it). */
export function yieldCpu(nice: number): Yielded {
  try {
    if (nice > getPriority(0)) {
      let threads: string[] = [];
      try {
        threads = readdirSync('/proc/self/task');
      } catch {
        // no /proc (macOS): the nice value there is the process's own
      }
      setPriority(0, nice);
      for (const tid of threads) {
        try {
          setPriority(Number(tid), nice);
        } catch {
          // a thread that ended meanwhile
        }
      }
    }
    return { nice: getPriority(0), autogroup: yieldAutogroup(nice) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function yieldAutogroup(nice: number): 'set' | 'shared session' | 'none' {
  let current: number;
  try {
    // "/autogroup-85 nice 0"
    current = Number(/nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1] ?? 0);
  } catch {
    return 'none'; // a kernel without autogroups
  }
  if (sessionId() !== process.pid) return 'shared session';
  if (nice > current) writeFileSync('/proc/self/autogroup', String(nice));
  return 'set';
}
