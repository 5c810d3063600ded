/**
 * Pickup latency, from a task's creation to its start (both as stored): one agent polling
 * (POLL_WAIT=0, POLL_INTERVAL=5s) for comparison, and idle agents long-polling.
 */
import type { Task } from '../../contract/task';
import { waitFor } from '../../test/support/clock';
import type { Proc } from '../../test/support/processes';
import { sleep } from '../http';
import { createTask, pickupLatencies, waitIdle } from '../load';
import { type Stage, startBenchAgent, stopAgents } from '../system';

export type PickupResult = { latencies: number[] };
export type LongPollResult = PickupResult & { note: string | null };

/** One polling agent; options.sizes.polling tasks created at random moments within its interval. */
export async function measurePolling(stage: Stage): Promise<PickupResult> {
  const { api } = stage;
  const sentinel = await createTask(api);
  const poller = startBenchAgent(stage, 'bench-poller', { POLL_WAIT: '0', POLL_INTERVAL: '5s' });
  await waitFor(
    'the polling agent to run its first task',
    async () => (await api.json<Task>('GET', `/tasks/${sentinel}`, 200)).body.state === 'succeeded',
    90000,
    200,
  );
  const ids: string[] = [];
  for (let i = 0; i < stage.ctx.options.sizes.polling; i++) {
    await sleep(Math.random() * 5000);
    ids.push(await createTask(api));
  }
  await waitIdle(api, 30000);
  const latencies = await pickupLatencies(api, ids);
  await stopAgents(stage, [poller]);
  return { latencies };
}

/**
 * `agents` long-polling; options.sizes.longPoll tasks created one at a time. Then the agents are
 * stopped, and a task created after that must stay queued: a pick the server still held for a
 * gone agent would claim it (the note says so when it happens).
 */
export async function measureLongPoll(stage: Stage, agents: Proc[]): Promise<LongPollResult> {
  const { api } = stage;
  const ids: string[] = [];
  for (let i = 0; i < stage.ctx.options.sizes.longPoll; i++) {
    await sleep(50 + Math.random() * 200);
    ids.push(await createTask(api));
  }
  await waitIdle(api, 60000);
  const latencies = await pickupLatencies(api, ids);
  await stopAgents(stage, agents);
  const probe = await createTask(api);
  await sleep(500);
  const probed = (await api.json<Task>('GET', `/tasks/${probe}`, 200)).body;
  if (probed.state === 'queued') {
    await api.json('POST', `/tasks/${probe}/cancel`, 200);
    return { latencies, note: null };
  }
  return {
    latencies,
    note:
      `a task created after all ${agents.length} agents had exited was claimed within 0.5 s by ${probed.agentId} (state ${probed.state}): ` +
      'the server still held that agent\'s long-poll pick and handed the task to a closed connection; it stays running until its lease expires (LEASE_SECONDS), then fails "agent lost".',
  };
}
