/**
 * The agent loop with a scripted API (the HTTP client is tested against a real server in
 * test/agent-e2e.test.ts); commands are real shell commands.
 */
import { createAgent, sleep } from './agent';
import { type ApiClient, ApiError, type PickedTask } from './api-client';
import { loadAgentConfig } from './config';
import type { RunResult } from './run-command';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

it("never stops the next task's command because of a late 409 to the previous task's heartbeat", async () => {
  const tasks: PickedTask[] = [
    { id: 'a', command: 'sleep 0.3', timeoutSeconds: 10, leaseToken: 'ta', heartbeatIntervalSeconds: 0.05 },
    { id: 'b', command: 'sleep 0.6', timeoutSeconds: 10, leaseToken: 'tb', heartbeatIntervalSeconds: 60 },
  ];
  let bStarted!: () => void;
  const bStart = new Promise<void>((r) => {
    bStarted = r;
  });
  const finished = new Map<string, RunResult>();
  let heldA = false;
  const agent = createAgent(loadAgentConfig({ POLL_INTERVAL: '50ms', AGENT_HEALTH_PORT: '0' }), {
    log: quiet,
    sleep,
    random: () => 0.5,
    now: () => new Date(),
    api: {
      async pick() {
        const next = tasks.shift() ?? null;
        if (next?.id === 'b') setTimeout(bStarted, 50);
        if (next === null) agent.stop();
        return next;
      },
      async heartbeat(task) {
        if (task.id === 'a' && !heldA) {
          heldA = true;
          // answered only once task b runs: the task is no longer this agent's by then
          await bStart;
          throw new ApiError(409, 'heartbeat answered 409: the task is succeeded');
        }
        return { cancelRequested: false };
      },
      async sendOutput() {
        throw new Error('the commands of this test write nothing');
      },
      async finish(task, result) {
        finished.set(task.id, result);
      },
    } satisfies ApiClient,
  });
  await agent.run();
  expect(finished.get('a')).toMatchObject({ state: 'succeeded' });
  expect(finished.get('b')).toMatchObject({ state: 'succeeded', error: null });
});
