/** `npm run bench`: every phase in turn on one system, then the table. */
import os from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test/support/processes';
import { type BenchContext, loadavg } from './context';
import { openBenchDatabase } from './database';
import { ms, num } from './http';
import { warmUp } from './load';
import { measureBacklog } from './phases/backlog';
import { measureFloor } from './phases/floor';
import { measureIdle } from './phases/idle';
import { measureLambda } from './phases/lambda';
import { measurePeers } from './phases/peers';
import { measureLongPoll, measurePolling } from './phases/pickup';
import { measurePipelines } from './phases/pipeline';
import { measureCreates, measurePickFinish } from './phases/throughput';
import { rssSampler, statusKb } from './procs';
import { printTable, tableNotes, tableRows } from './report';
import { openStage, stopBenchServer } from './system';

/** Runs the phases in the order the figures depend on, then prints the table and its notes. */
export async function benchTable(ctx: BenchContext): Promise<void> {
  const { options } = ctx;
  const { sizes, clients, agents, embedded } = options;
  const startLoad = loadavg();
  // The shipped bundles (bin/bundled), built now if stale, so that no agent start builds them.
  for (const name of ['server', 'agent']) (require(join(ROOT, 'bin', 'bundled')) as { ensure(n: string): unknown }).ensure(name);
  const bdb = await openBenchDatabase(ctx);
  ctx.say(`starting the server on ${embedded ? 'PGlite' : bdb.version}`);
  const stage = await openStage(ctx, bdb);
  await warmUp(stage);

  ctx.say(`floor: claim+finish SQL directly, ${clients} connections`);
  const floor = await measureFloor(stage);

  ctx.say(`POST /tasks, ${clients} clients, ${num(sizes.creates)} tasks`);
  const serverRss = rssSampler([stage.server.pid]);
  const creates = await measureCreates(stage);
  ctx.say(`pick+finish, ${clients} HTTP loops`);
  const pickFinish = await measurePickFinish(stage, sizes.creates);

  ctx.say(`pickup latency, polling POLL_WAIT=0 POLL_INTERVAL=5s (1 agent, ${sizes.polling} tasks)`);
  const polling = await measurePolling(stage);

  const pipelines = await measurePipelines(stage);
  const [serverLoadRss = 0] = serverRss.stop();

  ctx.say(`idle CPU: ${agents} agents long-polling, ${sizes.idleMs / 1000} s`);
  const idle = await measureIdle(stage, pipelines.agents);

  ctx.say(`pickup latency, long-poll (${agents} agents, ${sizes.longPoll} tasks one at a time)`);
  const longPoll = await measureLongPoll(stage, pipelines.agents);

  // Peak RSS of the server so far (before the backlog phase, which restarts it in embedded mode).
  const serverHwm = statusKb(stage.server.pid, 'VmHWM');
  // Every task this run created so far (the floor's are in the server's table on PostgreSQL):
  // warm-up, creates, the polling sentinel and tasks, both pipelines, the long-poll tasks and probe.
  const rowsSoFar =
    sizes.warmup +
    (bdb.sharedWithServer ? sizes.floor : 0) +
    sizes.creates +
    1 +
    sizes.polling +
    sizes.pipe1 +
    sizes.pipe10 +
    sizes.longPoll +
    1;
  const backlog = await measureBacklog(stage, rowsSoFar);

  ctx.say('Lambda bundle of create-task: size and cold start');
  const lambda = await measureLambda(stage);
  await stopBenchServer(ctx, stage.server);

  // Last, with our server stopped: the yardsticks start their own (skipped by --quick).
  const peers = options.quick ? undefined : await measurePeers(ctx);

  const results = {
    floor,
    creates,
    pickFinish,
    polling,
    pipelines,
    idle,
    longPoll,
    backlog,
    serverRss: serverLoadRss,
    serverHwm,
    lambda,
    peers,
  };
  const header = [
    `task-executor bench${options.quick ? ' --quick' : ''}: ${bdb.version}${embedded ? ' (--embedded; the targets are for PostgreSQL)' : ''}, server and agents LOG_LEVEL=${options.logLevel}`,
    `node ${process.version}, ${os.cpus().length} cores, ${num(os.totalmem() / 2 ** 30, 0)} GiB RAM; load average ${startLoad} at start, ${loadavg()} at end; ${stage.serverStarts} server start(s)`,
    `database: ${bdb.settings}`,
  ];
  printTable(header, tableRows(options, results));
  for (const n of tableNotes(results)) process.stdout.write(`note: ${n}\n`);
  if (options.verbose && backlog.plans.length > 0) {
    process.stdout.write(
      `\nEXPLAIN on the ${num(sizes.backlog + sizes.backlogQueued)}-task table (bulk insert ${ms(backlog.insertMs)}):\n`,
    );
    for (const p of backlog.plans) process.stdout.write(`\n${p}\n`);
  }
}
