/**
 * The full pipeline with real agents: tasks created by the clients, each picked by an agent
 * waiting in a long-poll, run with sh -c true and finished. First one agent, then options.agents.
 */
import type { Proc } from '../../test/support/processes';
import { createTasks, fetchTasks, spanOf, waitIdle } from '../load';
import { type CpuResult, cpuMeter, type PidSource, rssSampler, withDescendants } from '../procs';
import { type Stage, startBenchAgent, waitAgentsPolling } from '../system';
import { serverGroups } from './throughput';

export type PipelineRun = { count: number; rate: number; ms: number; cpu: CpuResult };
export type PipelineResult = {
  one: PipelineRun;
  many: PipelineRun;
  /** the agents, still long-polling (the idle and long-poll phases use them) */
  agents: Proc[];
  /** peak VmRSS in kB during the many-agent run: the server's and the first agent's */
  serverRss: number;
  agentRss: number;
};

/** Creates `n` tasks and waits until the agents ran them all; checks each ran once, on one of `agents`. */
async function pipeline(stage: Stage, agents: Proc[], n: number, groups: Record<string, PidSource>): Promise<PipelineRun> {
  const meter = await cpuMeter({ ...serverGroups(stage), ...groups });
  const { ids } = await createTasks(stage.clients, n);
  await waitIdle(stage.api, Math.max(120000, n * 100));
  const tasks = await fetchTasks(stage.api, ids);
  const span = spanOf(tasks);
  const cpu = await meter.stop();
  const perAgent = new Map<string, number>();
  for (const t of tasks) perAgent.set(t.agentId as string, (perAgent.get(t.agentId as string) ?? 0) + 1);
  if (perAgent.size > agents.length) throw new Error(`tasks ran on ${perAgent.size} agents, ${agents.length} were started`);
  stage.ctx.detail(`tasks per agent: ${[...perAgent.entries()].map(([a, c]) => `${a}=${c}`).join(' ')}`);
  const elapsed = span.lastFinished - span.firstCreated;
  return { count: n, rate: n / (elapsed / 1000), ms: elapsed, cpu };
}

/** One agent, then options.agents, through the whole pipeline. */
export async function measurePipelines(stage: Stage): Promise<PipelineResult> {
  const { sizes, agents: many } = stage.ctx.options;
  stage.ctx.say('full pipeline, 1 agent');
  const agents: Proc[] = [startBenchAgent(stage, 'bench-agent-0')];
  await waitAgentsPolling(stage, agents);
  const one = await pipeline(stage, agents, sizes.pipe1, { 'agent+sh': withDescendants([(agents[0] as Proc).pid]) });

  stage.ctx.say(`full pipeline, ${many} agents`);
  for (let i = 1; i < many; i++) agents.push(startBenchAgent(stage, `bench-agent-${i}`));
  await waitAgentsPolling(stage, agents);
  const rss = rssSampler([stage.server.pid, (agents[0] as Proc).pid]);
  const tenfold = await pipeline(stage, agents, sizes.pipe10, { 'agents+sh': withDescendants(agents.map((a) => a.pid)) });
  const [serverRss = 0, agentRss = 0] = rss.stop();
  return { one, many: tenfold, agents, serverRss, agentRss };
}
