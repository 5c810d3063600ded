/**
 * What containment costs per task: runs `true` N times through runCommand (working directory,
 * spawn, capture, clean-up: what the agent does per task) with each containment this host
 * offers, one after another, and prints the mean and the 50th/95th percentile per task.
 *
 *   npx tsx bench/containment.ts [--runs 500]
 */
import { type Containment, chooseContainment, processGroup } from '../agent/containment';
import { runCommand } from '../agent/run-command';

const i = process.argv.indexOf('--runs');
const RUNS = i === -1 ? 500 : Number(process.argv[i + 1]);

async function measure(containment: Containment): Promise<number[]> {
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
  return ms.sort((a, b) => a - b);
}

const at = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function main(): Promise<void> {
  const chosen = await chooseContainment('auto', null);
  const candidates = [processGroup(), ...(chosen.containment.kind === 'pid-namespace' ? [chosen.containment] : [])];
  if (chosen.reason !== null) console.log(`no PID namespace here: ${chosen.reason}`);
  for (const containment of candidates) {
    const ms = await measure(containment);
    const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
    console.log(
      `${containment.kind.padEnd(14)} ${RUNS} runs of \`true\`: mean ${mean.toFixed(1)} ms, p50 ${at(ms, 50).toFixed(1)} ms, p95 ${at(ms, 95).toFixed(1)} ms per task`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
