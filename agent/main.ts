/** `npm run agent`: one executor agent against BACKEND_URL (or BACKEND_API_HOST/PORT). */
import { Logger } from '@aws-lambda-powertools/logger';
import { AGENT_TOKEN_FROM, isTokenMessage } from '../contract/local-agent';
import { onSignals } from '../contract/signals';
import { createAgent, sleep } from './agent';
import { createApiClient } from './api-client';
import { type AgentConfig, AgentConfigError, loadAgentConfig } from './config';
import { chooseContainment } from './containment';
import { serveHealth } from './health';
import { yieldCpu } from './priority';

/** How long a local agent waits for its token from `npm start` before it gives up. */
const TOKEN_WAIT_MS = 10000;

/** The AGENT_TOKEN `npm start` sends over the IPC channel (contract/local-agent.ts). */
function tokenFromParent(): Promise<string | null> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error(`${AGENT_TOKEN_FROM}=ipc, but this agent has no IPC channel to its parent`));
    const timer = setTimeout(() => reject(new Error(`no AGENT_TOKEN from npm start within ${TOKEN_WAIT_MS / 1000} s`)), TOKEN_WAIT_MS);
    const onMessage = (message: unknown) => {
      if (!isTokenMessage(message)) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(message.agentToken);
    };
    process.on('message', onMessage);
  });
}

async function main(): Promise<void> {
  let config: AgentConfig;
  try {
    const env = { ...process.env };
    if (env[AGENT_TOKEN_FROM] === 'ipc') env.AGENT_TOKEN = (await tokenFromParent()) ?? undefined;
    config = loadAgentConfig(env);
  } catch (error) {
    process.stderr.write(`task-exec-agent: ${error instanceof AgentConfigError ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const log = new Logger({ serviceName: 'task-exec-agent', logLevel: config.logLevel.toUpperCase() as 'INFO' });
  log.appendPersistentKeys({ agentId: config.agentId });
  // Before the spawner starts: it and every command inherit the threads' niceness (their session's
  // autogroup, a new one, is set by the containment).
  if (config.nice > 0) {
    const niced = await yieldCpu(config.nice);
    if ('error' in niced) log.warn('could not lower the CPU priority (AGENT_NICE)', { nice: config.nice, error: niced.error });
    else if (typeof niced.autogroup === 'object') {
      log.warn('lowered the CPU priority of the agent, but not of its session (AGENT_NICE)', {
        nice: niced.nice,
        error: niced.autogroup.error,
      });
    } else if (niced.autogroup === 'shared session') {
      log.info('AGENT_NICE: this agent shares its session with other processes, so only its own threads yield (docs/configuration.md)', {
        nice: niced.nice,
      });
    }
  }
  let chosen: Awaited<ReturnType<typeof chooseContainment>>;
  try {
    chosen = await chooseContainment(config.containment, config.runAs, undefined, {
      nice: config.nice,
      onRefused: (error) => log.warn('the task spawner’s session keeps its CPU priority (AGENT_NICE)', { nice: config.nice, error }),
    });
  } catch (error) {
    process.stderr.write(`task-exec-agent: ${(error as Error).message}\n`);
    process.exit(1);
  }
  // One line that says what holds: operators of an unprivileged container see why daemons may stay.
  if (chosen.reason === null) log.info(`command containment: ${chosen.containment.description}`);
  else log.warn(`command containment: ${chosen.containment.description} (no PID namespace: ${chosen.reason})`);
  const agent = createAgent(config, {
    api: createApiClient(config),
    log,
    sleep,
    random: Math.random,
    now: () => new Date(),
    containment: chosen.containment,
  });
  if (config.healthPort > 0) {
    try {
      const server = await serveHealth(config.healthPort, config.healthHost, config.agentId, agent.status);
      server.unref();
    } catch (error) {
      process.stderr.write(
        `task-exec-agent: cannot serve /healthz on AGENT_HEALTH_HOST=${config.healthHost} AGENT_HEALTH_PORT=${config.healthPort}: ${(error as Error).message}\n`,
      );
      process.exit(1);
    }
  }
  // First signal: stop picking and let the command finish within the grace; a second,
  // deliberate one: stop the command now (both still report).
  onSignals(
    () => agent.stop(),
    () => agent.stop(),
  );
  // Started by `npm start` with an IPC channel: when that parent goes away, stop too.
  if (process.send) process.once('disconnect', () => agent.stop());
  await agent.run();
  process.exit(0);
}

void main();
