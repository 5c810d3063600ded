/** `npm run agent`: one executor agent against BACKEND_URL (or BACKEND_API_HOST/PORT). */
import { Logger } from '@aws-lambda-powertools/logger';
import { onSignals } from '../contract/signals';
import { createAgent, sleep } from './agent';
import { createApiClient } from './api-client';
import { type AgentConfig, AgentConfigError, loadAgentConfig } from './config';
import { serveHealth } from './health';

async function main(): Promise<void> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig();
  } catch (error) {
    process.stderr.write(`task-exec-agent: ${error instanceof AgentConfigError ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const log = new Logger({ serviceName: 'task-exec-agent', logLevel: config.logLevel.toUpperCase() as 'INFO' });
  log.appendPersistentKeys({ agentId: config.agentId });
  const agent = createAgent(config, {
    api: createApiClient(config),
    log,
    sleep,
    random: Math.random,
    now: () => new Date(),
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
