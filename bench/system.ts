/**
 * The system under measurement: the API server and real agents as child processes (started
 * with test/support's spawner), and the bench's HTTP clients to the server.
 */
import { join } from 'node:path';
import { loadConfig } from '../functions/shared/config';
import { waitFor } from '../test/support/clock';
import { type Proc, type ServerProc, startAgent, startServerProcess, stopProcess } from '../test/support/processes';
import type { BenchContext } from './context';
import type { BenchDb } from './database';
import { Client, ms } from './http';
import { connectedTo } from './procs';

export type BenchServer = ServerProc;

/** The server and the bench's clients to it; replaced when the server restarts. */
export type Stage = {
  ctx: BenchContext;
  bdb: BenchDb;
  server: BenchServer;
  /** one client for sequential requests */
  api: Client;
  /** options.clients clients for concurrent load */
  clients: Client[];
  /** how often the server was started */
  serverStarts: number;
};

/** The server's environment: its database, loopback, an OS-chosen port, the run's log level. */
function serverEnvOf(ctx: BenchContext, bdb: BenchDb): Record<string, string> {
  const env = { ...bdb.serverEnv, SERVER_PORT: '0', SERVER_HOST: '127.0.0.1', LOG_LEVEL: ctx.options.logLevel };
  loadConfig(env); // the server's own rules: a bad value fails here, named, not in the child
  return env;
}

/** Starts the API server (`nodeArgs` before the script: --cpu-prof) and waits until it listens. */
export async function startBenchServer(ctx: BenchContext, bdb: BenchDb, nodeArgs: string[] = []): Promise<BenchServer> {
  const server = await startServerProcess(serverEnvOf(ctx, bdb), undefined, {
    nodeArgs,
    logPath: join(ctx.tmp, 'server.log'),
    keepOutput: false,
    bundle: 'server',
    timeoutMs: 90000,
  });
  ctx.detail(`server pid ${server.pid} listening on ${server.url}`);
  return server;
}

/** SIGTERM to the server (SIGKILL after 15 s); says so when it did not exit 0. */
export async function stopBenchServer(ctx: BenchContext, server: BenchServer): Promise<void> {
  const exit = await stopProcess(server, 15000);
  if (exit?.code !== 0) ctx.say(`the server exited with ${exit?.code ?? exit?.signal}`);
}

/** Starts the server and opens the clients. */
export async function openStage(ctx: BenchContext, bdb: BenchDb, nodeArgs: string[] = []): Promise<Stage> {
  const server = await startBenchServer(ctx, bdb, nodeArgs);
  const stage: Stage = { ctx, bdb, server, api: new Client(server.url), clients: [], serverStarts: 1 };
  stage.clients = Array.from({ length: ctx.options.clients }, () => new Client(server.url));
  ctx.onCleanup('HTTP clients', () => closeClients(stage));
  return stage;
}

function closeClients(stage: Stage): void {
  stage.api.close();
  for (const c of stage.clients) c.close();
}

/** Stops the server, runs `fn` (it may open the server's database), starts it again with new clients. */
export async function withServerStopped<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
  closeClients(stage);
  await stopBenchServer(stage.ctx, stage.server);
  const result = await fn();
  stage.server = await startBenchServer(stage.ctx, stage.bdb);
  stage.serverStarts += 1;
  stage.api = new Client(stage.server.url);
  stage.clients = Array.from({ length: stage.ctx.options.clients }, () => new Client(stage.server.url));
  for (let i = 0; i < 50; i++) await stage.api.json('GET', '/tasks', 200);
  return result;
}

/** Starts a real agent (`nodeArgs`: --cpu-prof) against the stage's server; it long-polls 20 s unless `env` says otherwise. */
export function startBenchAgent(stage: Stage, id: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Proc {
  return startAgent(
    id,
    stage.server.url,
    {
      POLL_WAIT: '20s',
      POLL_INTERVAL: '1s',
      LOG_LEVEL: stage.ctx.options.logLevel,
      AGENT_STOP_GRACE: '25s',
      AGENT_KILL_GRACE: '5s',
      ...env,
    },
    { nodeArgs, logPath: join(stage.ctx.tmp, `${id}.log`), keepOutput: false, bundle: 'agent' },
  );
}

/** Waits until every agent holds a connection to the server (its first long-poll is in flight). */
export async function waitAgentsPolling(stage: Stage, agents: Proc[]): Promise<void> {
  const t0 = performance.now();
  await waitFor(
    `${agents.length} agent(s) to long-poll the server`,
    () => {
      for (const a of agents) if (!a.alive()) throw new Error(`agent ${a.name} exited (${a.child.exitCode}); see its log`);
      return connectedTo(
        agents.map((a) => a.pid),
        stage.server.port,
      ).every(Boolean);
    },
    90000,
    100,
  );
  stage.ctx.detail(`${agents.length} agent(s) polling after ${ms(performance.now() - t0)}`);
}

/** SIGTERM to each agent; says which did not exit 0. */
export async function stopAgents(stage: Stage, agents: Proc[]): Promise<void> {
  const exits = await Promise.all(agents.map((a) => stopProcess(a, 30000)));
  const bad = exits.filter((e) => e?.code !== 0).map((e) => e?.code ?? e?.signal);
  if (bad.length > 0) stage.ctx.say(`${bad.length} agent(s) did not exit 0: ${bad.join(', ')}`);
}
