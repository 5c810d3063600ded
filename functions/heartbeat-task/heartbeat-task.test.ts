/** The heartbeat core with a scripted database: whose lease it extends, and what it refuses. */
import { fakeDb, recordingLog } from '../../test/support/fakes';
import { buildRunningRow, buildTaskRow, LEASE_TOKEN, TASK_ID } from '../../test/support/tasks';
import { leasePolicy, loadConfig } from '../shared/config';
import type { TaskRow } from '../shared/db/tasks';
import { heartbeatTask } from './heartbeat-task';

const NOW = new Date('2026-11-28T10:01:00.000Z');
const AGENT = 'agent-a';

function deps(db: ReturnType<typeof fakeDb>) {
  return { db, now: () => NOW, lease: leasePolicy(loadConfig({ LEASE_SECONDS: '30' })), log: recordingLog() };
}

describe('heartbeatTask', () => {
  it("extends this agent's lease from now by LEASE_SECONDS and answers when it expires", async () => {
    const db = fakeDb({ extendTaskLease: [buildRunningRow(AGENT, NOW, { lease_expires_at: new Date('2026-11-28T10:01:30.000Z') })] });
    expect(await heartbeatTask(deps(db), TASK_ID, AGENT, LEASE_TOKEN)).toEqual({
      cancelRequested: false,
      leaseExpiresAt: '2026-11-28T10:01:30.000Z',
    });
    expect(db.calls).toEqual([{ statement: 'extendTaskLease', params: [TASK_ID, AGENT, LEASE_TOKEN, NOW, 30] }]);
  });

  it('tells the agent a cancel was requested', async () => {
    const db = fakeDb({ extendTaskLease: [buildRunningRow(AGENT, NOW, { cancel_requested: true })] });
    expect(await heartbeatTask(deps(db), TASK_ID, AGENT, LEASE_TOKEN)).toMatchObject({ cancelRequested: true });
  });

  it.each([
    ['the task ended', buildTaskRow({ state: 'canceled', agent_id: AGENT }), /is canceled; stop running it/],
    ['another agent holds it', buildRunningRow('agent-b', NOW), /held by another agent/],
    ["the lease token is not the task's current one", buildRunningRow(AGENT, NOW), /lease token/],
  ] as [string, TaskRow, RegExp][])('answers 409 when %s, so the agent stops the command', async (_when, current, detail) => {
    const db = fakeDb({ extendTaskLease: [], selectTask: [current] });
    await expect(heartbeatTask(deps(db), TASK_ID, AGENT, LEASE_TOKEN)).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(detail),
    });
  });

  it('answers 409 without extending anything when the lease token is not a UUID', async () => {
    const db = fakeDb({ selectTask: [buildRunningRow(AGENT, NOW)] });
    await expect(heartbeatTask(deps(db), TASK_ID, AGENT, "' or '1'='1")).rejects.toMatchObject({ status: 409 });
    expect(db.calls.map((c) => c.statement)).toEqual(['selectTask']);
  });

  it('answers 404 for a task that does not exist', async () => {
    const db = fakeDb({ extendTaskLease: [], selectTask: [] });
    await expect(heartbeatTask(deps(db), TASK_ID, AGENT, LEASE_TOKEN)).rejects.toMatchObject({ status: 404 });
  });
});
