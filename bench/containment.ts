/**
 * What containment costs per task: runs `true` N times through runCommand (working directory,
 * spawn, capture, clean-up: what the agent does per task) with each containment this host
 * offers, one after another, and prints the mean and the 50th/95th percentile of the wall time
 * per task, and the CPU time per task of this process and of every process under it (the
 * spawner, its tasks and the shells: utime+stime+cutime+cstime from /proc).
 *
 *   npx tsx bench/containment.ts [--runs 500]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { type Containment, chooseContainment, processGroup } from '../agent/containment';
import { runCommand } from '../agent/run-command';

const i = process.argv.indexOf('--runs');
const RUNS = i === -1 ? 500 : Number(process.argv[i + 1]);

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU milliseconds of this process and its live descendants, with what each has reaped. */
function treeCpuMs(): number {
  const parents = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), { ppid: Number(f[1]), ticks: f.slice(11, 15).reduce((a, b) => a + Number(b), 0) });
    } catch {
      // gone meanwhile
    }
  }
  let ticks = 0;
  for (const [pid, { ticks: own }] of parents) {
    for (let p = pid; p > 1; p = parents.get(p)?.ppid ?? 0) {
      if (p === process.pid) {
        ticks += pid === process.pid ? 0 : own;
        break;
      }
    }
  }
  const self = readFileSync('/proc/self/stat', 'utf8')
    .slice(readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  const usage = process.cpuUsage();
  return ticks * TICK_MS + (Number(self[13]) + Number(self[14])) * TICK_MS + (usage.user + usage.system) / 1000;
}

async function measure(containment: Containment): Promise<{ ms: number[]; cpuMs: number }> {
  // one run first: the spawner starts with the first command
  await runCommand({ command: 'true', timeoutSeconds: 10, env: {}, outputLimitBytes: 1024, killGraceMs: 1000, containment });
  const cpu0 = treeCpuMs();
  const ms: number[] = [];
  for (let n = 0; n < RUNS; n++) {
    const t0 = performance.now();
    const r = await runCommand({
      command: 'true',
      timeoutSeconds: 10,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      outputLimitBytes: 1024,
      killGraceMs: 1000,
      containment,
    });
    ms.push(performance.now() - t0);
    if (r.state !== 'succeeded') throw new Error(`run ${n} ended ${r.state}: ${r.error} ${r.stderr}`);
  }
  const cpuMs = (treeCpuMs() - cpu0) / RUNS;
  return { ms: ms.sort((a, b) => a - b), cpuMs };
}

const at = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function main(): Promise<void> {
  const chosen = await chooseContainment('auto', null);
  // Node's own fork (the fallback without perl), the subreaper spawner, and the namespace where this host has one.
  const subreaper = (await chooseContainment('process-group', null)).containment;
  const candidates = [
    { name: 'node fork', containment: processGroup() },
    ...(subreaper.description.startsWith('process group under a spawner') ? [{ name: 'subreaper', containment: subreaper }] : []),
    ...(chosen.containment.kind === 'pid-namespace' ? [{ name: 'pid-namespace', containment: chosen.containment }] : []),
  ];
  if (chosen.reason !== null) console.log(`no PID namespace here: ${chosen.reason}`);
  for (const { name, containment } of candidates) {
    const { ms, cpuMs } = await measure(containment);
    const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
    console.log(
      `${name.padEnd(14)} ${RUNS} runs of \`true\`: mean ${mean.toFixed(1)} ms, p50 ${at(ms, 50).toFixed(1)} ms, p95 ${at(ms, 95).toFixed(1)} ms per task; CPU ${cpuMs.toFixed(2)} ms per task (this process and all under it)`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
