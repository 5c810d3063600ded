/** The cancel core with a scripted database: what it answers for queued, running, ended and unknown tasks. */

import { fakeDb, recordingLog } from '../../test/support/fakes';
import { buildRunningRow, buildTaskRow, TASK_ID } from '../../test/support/tasks';
import { leasePolicy, loadConfig } from '../shared/config';
import { createMetrics } from '../shared/metrics';
import { cancelTask } from './cancel-task';

const NOW = new Date('2026-11-28T10:02:00.000Z');

function deps(db: ReturnType<typeof fakeDb>) {
  return { db, now: () => NOW, lease: leasePolicy(loadConfig({ LEASE_SECONDS: '30' })), log: recordingLog(), metrics: createMetrics() };
}

describe('cancelTask', () => {
  it('answers a queued task canceled at once, asking the database with now and the cancel grace', async () => {
    const d = deps(fakeDb({ cancelOrFlagTask: [buildTaskRow({ state: 'canceled', error: 'canceled by user', finished_at: NOW })] }));
    expect(await cancelTask(d, TASK_ID)).toMatchObject({ id: TASK_ID, state: 'canceled', error: 'canceled by user' });
    expect(d.db.calls).toEqual([{ statement: 'cancelOrFlagTask', params: [TASK_ID, NOW, d.lease.cancelGraceSeconds] }]);
    expect(d.log.lines).toContainEqual(expect.objectContaining({ message: 'queued task canceled' }));
  });

  it('answers a running task still running with the cancel requested (its agent stops it)', async () => {
    const d = deps(fakeDb({ cancelOrFlagTask: [buildRunningRow('agent-a', NOW, { cancel_requested: true })] }));
    expect(await cancelTask(d, TASK_ID)).toMatchObject({ state: 'running', cancelRequested: true, agentId: 'agent-a' });
    expect(d.log.lines).toContainEqual(expect.objectContaining({ message: 'cancel requested' }));
  });

  it.each(['succeeded', 'failed', 'timed_out', 'canceled'] as const)(
    'answers 409 naming the state for a task already %s',
    async (state) => {
      const d = deps(fakeDb({ cancelOrFlagTask: [], selectTask: [buildTaskRow({ state })] }));
      await expect(cancelTask(d, TASK_ID)).rejects.toMatchObject({
        status: 409,
        message: `The task already ended (${state}); there is nothing to cancel.`,
      });
    },
  );

  it('answers 404 for a task that does not exist', async () => {
    const d = deps(fakeDb({ cancelOrFlagTask: [], selectTask: [] }));
    await expect(cancelTask(d, TASK_ID)).rejects.toMatchObject({ status: 404, message: expect.stringContaining(TASK_ID) });
  });
});
