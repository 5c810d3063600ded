/** POST /tasks from many clients, then pick+finish loops over HTTP with no command run: the API's own rates. */
import { createTasks, pickFinishLoops } from '../load';
import { type CpuResult, cpuMeter } from '../procs';
import type { Stage } from '../system';

export type RateResult = { count: number; rate: number; latencies: number[]; cpu: CpuResult };

/** The CPU groups of a phase: the server, and the PostgreSQL backends of the run's database. */
export const serverGroups = (stage: Stage) => ({ server: [stage.server.pid], postgres: () => stage.bdb.backendPids() });

/** options.sizes.creates tasks created by options.clients concurrent clients. */
export async function measureCreates(stage: Stage): Promise<RateResult> {
  const n = stage.ctx.options.sizes.creates;
  const meter = await cpuMeter(serverGroups(stage));
  const t0 = performance.now();
  const created = await createTasks(stage.clients, n);
  const rate = n / ((performance.now() - t0) / 1000);
  return { count: n, rate, latencies: created.latencies, cpu: await meter.stop() };
}

/** Every queued task picked and finished by options.clients HTTP loops; `expected` of them. */
export async function measurePickFinish(stage: Stage, expected: number): Promise<RateResult> {
  const meter = await cpuMeter(serverGroups(stage));
  const pf = await pickFinishLoops(stage.clients);
  const cpu = await meter.stop();
  if (pf.count !== expected) throw new Error(`pick+finish: ${pf.count} tasks, expected ${expected}`);
  return { count: pf.count, rate: pf.count / (pf.elapsedMs / 1000), latencies: [], cpu };
}
