/** What idle agents cost: the CPU of the server and of agents that long-poll with nothing queued. */
import type { Proc } from '../../test/support/processes';
import { sleep } from '../http';
import { cpuSeconds } from '../procs';
import type { Stage } from '../system';

export type IdleResult = { seconds: number; serverPct: number; agentsPct: number };

/** CPU of the server and of `agents` over options.sizes.idleMs with nothing to do, in % of one core. */
export async function measureIdle(stage: Stage, agents: Proc[]): Promise<IdleResult> {
  await sleep(3000); // let the agents' and the server's garbage collection after the load settle
  const pids = [stage.server.pid, ...agents.map((a) => a.pid)];
  const cpu0 = pids.map(cpuSeconds);
  const t0 = performance.now();
  await sleep(stage.ctx.options.sizes.idleMs);
  const cpu1 = pids.map(cpuSeconds);
  const seconds = (performance.now() - t0) / 1000;
  const pct = pids.map((_, i) => (((cpu1[i] as number) - (cpu0[i] as number)) / seconds) * 100);
  return { seconds, serverPct: pct[0] as number, agentsPct: pct.slice(1).reduce((a, b) => a + b, 0) };
}
