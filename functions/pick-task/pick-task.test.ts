/**
 * The pick core with a scripted database and a queue signal the test wakes: what it claims, for
 * whom, and that it claims nothing once the agent has hung up. Real SQL is in test/concurrent-pick.test.ts.
 */

import { fakeDb, manualSignal, recordingLog } from '../../test/support/fakes';
import { asClaimed, buildRunningRow, LEASE_TOKEN } from '../../test/support/tasks';
import { leasePolicy, loadConfig } from '../shared/config';
import type { TaskRow } from '../shared/db/tasks';
import { createMetrics } from '../shared/metrics';
import { pickTask } from './pick-task';

const NOW = new Date('2026-11-28T10:00:00.000Z');
const AGENT = 'agent-a';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A database whose successive claims answer these rows (null: nothing queued), then nothing. */
function claims(...rows: (TaskRow | null)[]) {
  return fakeDb({
    claimNextQueuedTask: (_params, call) => {
      const row = rows[call];
      return row ? [asClaimed(row)] : [];
    },
    // pick runs lease expiry on its way; a first run after a gap only extends leases
    recordReaperRun: [{ previous: null }],
    extendRunningLeases: [],
    // and promotes due scheduled tasks
    promoteDueTasks: [],
  });
}

function deps(db: ReturnType<typeof fakeDb>, env: Record<string, string> = {}) {
  const config = loadConfig({ LEASE_SECONDS: '30', OUTPUT_LIMIT_BYTES: '4096', ...env });
  return { db, now: () => NOW, config, lease: leasePolicy(config), signal: manualSignal(), log: recordingLog(), metrics: createMetrics() };
}

/** Starts a pick that may wait 20 s; resolves once it is held (waiting on the queue signal). */
async function holdPick(d: ReturnType<typeof deps>, gone?: AbortSignal): Promise<{ picked: ReturnType<typeof pickTask> }> {
  const picked = pickTask(d, AGENT, 20000, gone);
  while (d.signal.waiting() === 0) await new Promise((r) => setImmediate(r));
  return { picked };
}

describe('pickTask', () => {
  it('claims the next queued task for this agent with a fresh lease token and tells it how to hold and report it', async () => {
    const db = claims(buildRunningRow(AGENT, NOW));
    const d = deps(db);
    const task = await pickTask(d, AGENT, 0);
    expect(task).toMatchObject({
      state: 'running',
      agentId: AGENT,
      leaseToken: LEASE_TOKEN,
      leaseExpiresAt: '2026-11-28T10:00:30.000Z',
      heartbeatIntervalSeconds: d.lease.heartbeatSeconds,
      outputLimitBytes: 4096,
    });
    const [params] = db.callsOf('claimNextQueuedTask');
    // agent, lease token, lease seconds, now, deadline grace, agent labels (claimNextQueuedTask's order)
    expect(params).toEqual([AGENT, expect.stringMatching(UUID), 30, NOW, d.lease.deadlineGraceSeconds, []]);
  });

  it('asks each claim for a new lease token', async () => {
    const db = claims(buildRunningRow(AGENT, NOW), buildRunningRow(AGENT, NOW));
    const d = deps(db);
    await pickTask(d, AGENT, 0);
    await pickTask(d, AGENT, 0);
    const tokens = db.callsOf('claimNextQueuedTask').map((p) => p[1]);
    expect(new Set(tokens).size).toBe(2);
  });

  it('answers null at once when nothing is queued and the agent does not wait', async () => {
    const d = deps(claims());
    expect(await pickTask(d, AGENT, 0)).toBeNull();
    expect(d.signal.waiting()).toBe(0);
  });

  it('holds a pick until a task is queued, then claims it', async () => {
    const row = buildRunningRow(AGENT, NOW);
    const db = claims(null, row);
    const d = deps(db);
    const { picked } = await holdPick(d);
    d.signal.wake();
    expect(await picked).toMatchObject({ id: row.id, agentId: AGENT });
    expect(db.callsOf('claimNextQueuedTask')).toHaveLength(2);
  });

  it('claims nothing more once the agent hung up during a held pick', async () => {
    const db = claims();
    const d = deps(db);
    const gone = new AbortController();
    const { picked } = await holdPick(d, gone.signal);
    gone.abort();
    expect(await picked).toBeNull();
    expect(db.callsOf('claimNextQueuedTask')).toHaveLength(1);
  });

  it('claims nothing when the agent hangs up in the same moment a task is queued', async () => {
    const db = claims(null, buildRunningRow(AGENT, NOW));
    const d = deps(db);
    const gone = new AbortController();
    const { picked } = await holdPick(d, gone.signal);
    d.signal.wake();
    gone.abort();
    expect(await picked).toBeNull();
    expect(db.callsOf('claimNextQueuedTask')).toHaveLength(1);
  });

  it('claims nothing for an agent that hung up before its pick ran', async () => {
    const db = claims(buildRunningRow(AGENT, NOW));
    const gone = new AbortController();
    gone.abort();
    expect(await pickTask(deps(db), AGENT, 20000, gone.signal)).toBeNull();
    expect(db.callsOf('claimNextQueuedTask')).toEqual([]);
  });
});
