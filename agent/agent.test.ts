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

it('sends output while the command runs, skips heartbeats while sends extend the lease, and heartbeats once output stops', async () => {
  const tasks: PickedTask[] = [
    {
      id: 'live',
      // 3 s of output, then 3.5 s of silence
      command: 'for i in $(seq 1 30); do echo "tick $i"; sleep 0.1; done; sleep 3.5',
      timeoutSeconds: 30,
      leaseToken: 'tl',
      heartbeatIntervalSeconds: 1.5,
    },
  ];
  const events: { at: number; kind: 'heartbeat' | 'send' }[] = [];
  const held = { stdout: 0, stderr: 0 };
  let streamed = '';
  let finishedWith: RunResult | undefined;
  let silentFrom = Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const agent = createAgent(loadAgentConfig({ POLL_INTERVAL: '50ms', AGENT_HEALTH_PORT: '0' }), {
    log: quiet,
    sleep,
    random: () => 0.5,
    now: () => new Date(),
    api: {
      async pick() {
        const next = tasks.shift() ?? null;
        if (next === null) agent.stop();
        return next;
      },
      async heartbeat() {
        events.push({ at: performance.now() - t0, kind: 'heartbeat' });
        return { cancelRequested: false };
      },
      async sendOutput(_task, body) {
        events.push({ at: performance.now() - t0, kind: 'send' });
        const chunk = body.stdout;
        if (chunk && chunk.offset === held.stdout) {
          streamed += chunk.data;
          held.stdout += Buffer.byteLength(chunk.data);
          if (streamed.includes('tick 30\n')) silentFrom = Math.min(silentFrom, performance.now() - t0);
        }
        return { ...held, cancelRequested: false, leaseExpiresAt: new Date().toISOString() };
      },
      async finish(_task, result) {
        finishedWith = result;
      },
    } satisfies ApiClient,
  });
  await agent.run();
  const expected = Array.from({ length: 30 }, (_, i) => `tick ${i + 1}\n`).join('');
  expect(streamed).toBe(expected);
  expect(finishedWith?.stdout).toBe(expected);
  const sends = events.filter((e) => e.kind === 'send');
  const heartbeats = events.filter((e) => e.kind === 'heartbeat');
  expect(sends.length).toBeGreaterThanOrEqual(2);
  // while output flowed (up to the last send), no heartbeat was needed
  expect(heartbeats.filter((h) => h.at < silentFrom - 100)).toEqual([]);
  // in the silence after it, heartbeats resumed
  expect(heartbeats.filter((h) => h.at > silentFrom).length).toBeGreaterThanOrEqual(1);
}, 30000);
