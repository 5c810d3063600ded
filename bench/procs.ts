/**
 * What /proc says about the processes the bench measures: RSS, CPU ticks, whether a process
 * holds a connection to a port. (The processes themselves are started by test/support/processes.ts.)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM), or null when the process is gone. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let clockTicks: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat times. */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User and system CPU time of a process and its waited-for children, in seconds (zero when it is gone). */
export function cpuTimes(pid: number): { user: number; sys: number } {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { user: 0, sys: 0 };
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, field 3 (state) is index 0; utime, stime are fields 14, 15, and the
  // waited-for children's (cutime, cstime: the agents' shells) 16, 17.
  const f = (i: number) => Number(fields[i]) / clkTck();
  return { user: f(11) + f(13), sys: f(12) + f(14) };
}

/** CPU seconds of a process (and its waited-for children). */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

export type CpuShare = { user: number; sys: number };
/** Where the CPU went during a phase: each group's share of one core, over `wallS` seconds. */
export type CpuResult = { wallS: number; shares: Record<string, CpuShare> };

/** Busy CPU seconds of the whole machine (all cores, everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
  return (total - (v[3] ?? 0) - (v[4] ?? 0)) / clkTck();
}

/**
 * These pids and every live process under them (an agent's task spawner and its wrappers, which
 * the agent never waits for, so their CPU is not in its cutime): a PidSource for cpuMeter.
 */
export function withDescendants(pids: number[]): () => Promise<number[]> {
  return async () => {
    const parent = new Map<number, number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // gone meanwhile
      }
    }
    const roots = new Set(pids);
    const found = new Set(pids);
    for (const pid of parent.keys()) {
      for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
        if (roots.has(p)) {
          found.add(pid);
          break;
        }
      }
    }
    return [...found];
  };
}

/** The pids of a group: fixed, or looked up again at the end (PostgreSQL opens backends as it goes). */
export type PidSource = number[] | (() => Promise<number[]>);

/**
 * Starts counting the CPU of groups of processes (and of this process); stop() gives each
 * group's user and system time as a percentage of one core over the elapsed wall time.
 * Processes that appear in a group during the phase count from zero.
 */
export async function cpuMeter(groups: Record<string, PidSource>): Promise<{ stop(): Promise<CpuResult> }> {
  const pidsOf = async (src: PidSource) => (typeof src === 'function' ? src() : src);
  const before = new Map<string, Map<number, { user: number; sys: number }>>();
  for (const [k, src] of Object.entries(groups)) before.set(k, new Map((await pidsOf(src)).map((pid) => [pid, cpuTimes(pid)])));
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const machine0 = machineBusySeconds();
  return {
    async stop() {
      const wallS = (performance.now() - t0) / 1000;
      const self = process.cpuUsage(self0);
      const machine = machineBusySeconds() - machine0;
      const shares: Record<string, CpuShare> = {};
      for (const [k, src] of Object.entries(groups)) {
        const start = before.get(k) as Map<number, { user: number; sys: number }>;
        let user = 0;
        let sys = 0;
        for (const pid of new Set([...start.keys(), ...(await pidsOf(src))])) {
          const a = start.get(pid) ?? { user: 0, sys: 0 };
          const b = cpuTimes(pid);
          if (b.user === 0 && b.sys === 0) continue; // gone
          user += Math.max(0, b.user - a.user);
          sys += Math.max(0, b.sys - a.sys);
        }
        shares[k] = { user: (user / wallS) * 100, sys: (sys / wallS) * 100 };
      }
      shares.bench = { user: (self.user / 1e6 / wallS) * 100, sys: (self.system / 1e6 / wallS) * 100 };
      // Everything else the machine ran meanwhile (other users' work: the noise in the figures).
      const ours = Object.values(shares).reduce((a, v) => a + v.user + v.sys, 0);
      shares['everything else'] = { user: Math.max(0, (machine / wallS) * 100 - ours), sys: 0 };
      return { wallS, shares };
    },
  };
}

/** Inodes of established IPv4/IPv6 TCP connections whose remote port is `port`. */
function socketsToPort(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const remote = cols[2];
      if (!remote || cols[3] !== '01') continue;
      if (Number.parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

/** Whether each pid holds an established connection to `port` (an agent with a pick in flight). */
export function connectedTo(pids: number[], port: number): boolean[] {
  const inodes = socketsToPort(port);
  return pids.map((pid) => {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        let target: string;
        try {
          target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (m?.[1] && inodes.has(m[1])) return true;
      }
    } catch {
      // the process is gone
    }
    return false;
  });
}

/** Samples VmRSS of some processes every `everyMs` and keeps each one's peak. */
export function rssSampler(pids: number[], everyMs = 200): { stop(): number[] } {
  const peaks = pids.map(() => 0);
  const sample = () => {
    pids.forEach((pid, i) => {
      const kb = statusKb(pid, 'VmRSS');
      if (kb !== null && kb > (peaks[i] as number)) peaks[i] = kb;
    });
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}
