/**
 * `npm run bench -- --profile`: the server under `node --cpu-prof` during pick+finish
 * (options.clients HTTP loops), then one agent under it during the 1-agent pipeline; prints the
 * top frames of each phase only.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context';
import { loadavg } from './context';
import { openBenchDatabase } from './database';
import { num } from './http';
import { createTasks, fetchTasks, pickFinishLoops, spanOf, waitIdle, warmUp } from './load';
import { serverGroups } from './phases/throughput';
import { cpuMeter, withDescendants } from './procs';
import { monotonicUs } from './profile';
import { cpuRow, printProfile } from './report';
import { openStage, startBenchAgent, stopAgents, stopBenchServer, waitAgentsPolling } from './system';

/** The one .cpuprofile node wrote into `dir`. */
function profileIn(dir: string): string {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return join(dir, file);
}

/** Runs the two profiled phases and prints the top frames of each. */
export async function benchProfile(ctx: BenchContext): Promise<void> {
  const { sizes } = ctx.options;
  const bdb = await openBenchDatabase(ctx);
  const profDir = join(ctx.tmp, 'profile');
  const stage = await openStage(ctx, bdb, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  await warmUp(stage);
  ctx.say(`queueing ${num(sizes.profile)} tasks`);
  if (bdb.sharedWithServer) await bdb.insertBacklog(0, sizes.profile, new Date());
  else await createTasks(stage.clients, sizes.profile);

  ctx.say(`pick+finish, ${ctx.options.clients} HTTP loops, server under --cpu-prof`);
  let meter = await cpuMeter(serverGroups(stage));
  const serverWindow = { fromUs: monotonicUs(), toUs: 0 };
  const pf = await pickFinishLoops(stage.clients);
  serverWindow.toUs = monotonicUs();
  const serverCpu = cpuRow(await meter.stop());

  const n = Math.round(sizes.profile / 5);
  ctx.say(`full pipeline, 1 agent under --cpu-prof, ${num(n)} tasks`);
  const agentDir = join(profDir, 'agent');
  const agent = startBenchAgent(stage, 'bench-agent-prof', {}, ['--cpu-prof', `--cpu-prof-dir=${agentDir}`]);
  await waitAgentsPolling(stage, [agent]);
  meter = await cpuMeter({ ...serverGroups(stage), 'agent+sh': withDescendants([agent.pid]) });
  const agentWindow = { fromUs: monotonicUs(), toUs: 0 };
  const { ids } = await createTasks(stage.clients, n);
  await waitIdle(stage.api, Math.max(120000, n * 100));
  agentWindow.toUs = monotonicUs();
  const agentCpu = cpuRow(await meter.stop());
  const span = spanOf(await fetchTasks(stage.api, ids));
  await stopAgents(stage, [agent]);
  await stopBenchServer(ctx, stage.server);

  printProfile(
    `SERVER during pick+finish (${num(pf.count)} tasks at ${num(pf.count / (pf.elapsedMs / 1000))}/s, ${bdb.version}, load ${loadavg()})`,
    profileIn(profDir),
    serverWindow,
    serverCpu,
  );
  printProfile(
    `ONE AGENT during the full pipeline (${num(n)} tasks at ${num(n / ((span.lastFinished - span.firstCreated) / 1000))}/s)`,
    profileIn(agentDir),
    agentWindow,
    agentCpu,
  );
}
