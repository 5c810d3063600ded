/**
 * `npm start`: the API server in this process plus AGENTS executor agents as child processes
 * that reach it over HTTP exactly like remote agents. Ctrl-C / SIGTERM stops them all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { AGENT_TOKEN_FROM, type TokenMessage } from '../../contract/local-agent';
import type { ServerConfig } from '../../functions/shared/config';
import { startServer } from './server';
import { describeStore, exitOnStartupError, loadServerConfigOrExit, onShutdownSignal } from './startup';

/**
 * How a local agent is started: as this process runs. From its bundle (dist/local/start.js, what
 * `npm start` runs through bin/bundled, which builds dist/agent.js first) the agent's bundle, plain
 * node; from source under tsx (tests, development) the agent's source under tsx.
 */
export const AGENT_ARGS = __filename.endsWith('.js')
  ? [join(__dirname, '..', 'agent.js')]
  : ['--import', 'tsx', join(__dirname, '..', '..', 'agent', 'main.ts')];
/**
 * Server-side secrets and settings an agent must not inherit. AGENT_TOKEN is among them: it
 * reaches the local agents over their IPC channel instead, so no agent's environment (which a
 * command running as the same user could read in /proc) holds it.
 */
const NOT_FOR_AGENTS = /^(DB_\w+|DATABASE_URL|API_TOKEN|AGENT_TOKEN|DATA_DIR|SERVER_\w+|AGENTS|LEASE_SECONDS|OUTPUT_LIMIT_BYTES)$/;

/** The niceness of local agents unless AGENT_NICE says otherwise: `nice`'s own default. */
export const LOCAL_AGENT_NICE = 10;

/** The environment of local agent number i. */
export function agentEnv(env: NodeJS.ProcessEnv, url: string, i: number): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!NOT_FOR_AGENTS.test(k)) out[k] = v;
  out.BACKEND_URL = url;
  out[AGENT_TOKEN_FROM] = 'ipc';
  out.AGENT_ID = env.AGENT_ID ? `${env.AGENT_ID}-${i + 1}` : `local-agent-${i + 1}`;
  // Local agents serve no /healthz unless asked, then on consecutive ports (docs/api.md, "The agent").
  const base = env.AGENT_HEALTH_PORT ? Number(env.AGENT_HEALTH_PORT) : 0;
  out.AGENT_HEALTH_PORT = base > 0 ? String(base + i) : '0';
  // They share the machine with this server and its database: they yield the CPU to them, so a
  // draining backlog does not starve the users' requests (agent/priority.ts), unless told otherwise.
  out.AGENT_NICE = env.AGENT_NICE ?? String(LOCAL_AGENT_NICE);
  return out;
}

function startAgents(config: ServerConfig, url: string, logger: Pick<Logger, 'warn'>): { stop(): Promise<void> } {
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  const launch = (i: number) => {
    // detached: its own process group, so a terminal's Ctrl-C reaches it once, from us.
    const child = spawn(process.execPath, AGENT_ARGS, {
      env: agentEnv(process.env, url, i),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    const message: TokenMessage = { agentToken: config.agentToken ?? null };
    child.send(message);
    children.set(i, child);
    child.once('exit', (code, signal) => {
      children.delete(i);
      if (stopping) return;
      logger.warn('local agent exited; restarting it', { agent: i + 1, code, signal });
      setTimeout(() => !stopping && launch(i), 1000);
    });
  };
  for (let i = 0; i < config.agents; i++) launch(i);
  return {
    async stop() {
      stopping = true;
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** Builds the dashboard when its bundle is missing or older than its sources (a fresh clone, an edit). */
async function freshDashboard(): Promise<string> {
  try {
    // Loaded here, not at the top: esbuild is a development dependency.
    const { ensureDashboard } = await import('./dashboard-build');
    const { built, ms } = await ensureDashboard();
    return built ? `; dashboard built in ${ms} ms` : '';
  } catch (error) {
    process.stderr.write(`the dashboard could not be built (the API works without it): ${(error as Error).message}\n`);
    return '';
  }
}

async function main(): Promise<void> {
  const config = loadServerConfigOrExit('task-executor');
  const started = Date.now();
  const dashboard = await freshDashboard();
  const running = await startServer(config).catch((error) => exitOnStartupError('task-executor', error));
  const agents = startAgents(config, running.url, running.deps.logger);
  process.stdout.write(
    `task-executor ready on ${running.url} with ${config.agents} agent${config.agents === 1 ? '' : 's'} (${describeStore(config)}; started in ${Date.now() - started} ms${dashboard}). Ctrl-C stops.\n`,
  );
  onShutdownSignal(async () => {
    running.deps.logger.info('stopping agents, then the server');
    await agents.stop();
    await running.close();
  });
}

void main();
