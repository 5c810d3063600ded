/**
 * What containment costs per task: runs `true` N times through runCommand (working directory,
 * spawn, capture, clean-up: what the agent does per task) with each containment this host
 * offers, one after another, and prints the mean and the 50th/95th percentile of the wall time
 * per task, and the CPU time per task of this process and of every process under it (the
 * spawner, its tasks and the shells: utime+stime+cutime+cstime from /proc).
 *
 *   npx tsx bench/containment.ts [--runs 500]
 */
import { type Containment, chooseContainment, processGroup } from '../agent/containment';
import { runCommand } from '../agent/run-command';
import { cpuSeconds, withDescendants } from './procs';

const i = process.argv.indexOf('--runs');
const RUNS = i === -1 ? 500 : Number(process.argv[i + 1]);

/** CPU milliseconds of this process and every live process under it, with what each has reaped. */
async function treeCpuMs(): Promise<number> {
  const pids = await withDescendants([process.pid])();
  return pids.reduce((ms, pid) => ms + cpuSeconds(pid) * 1000, 0);
}

async function measure(containment: Containment): Promise<{ ms: number[]; cpuMs: number }> {
  // one run first: the spawner starts with the first command
  await runCommand({ command: 'true', timeoutSeconds: 10, env: {}, outputLimitBytes: 1024, killGraceMs: 1000, containment });
  const cpu0 = await treeCpuMs();
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
  const cpuMs = ((await treeCpuMs()) - cpu0) / RUNS;
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
