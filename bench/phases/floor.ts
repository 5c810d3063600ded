/**
 * The floor: what the database alone does, through the project's SQL functions with no HTTP in
 * between: insertTask, then claimNextQueuedTask + endRunningTask, on options.clients connections.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../functions/shared/db/db';
import { endRunningTask } from '../../functions/shared/db/finish';
import { type ClaimedTask, claimNextQueuedTask, insertTask, type TaskRow } from '../../functions/shared/db/tasks';
import { concurrently } from '../http';
import type { Stage } from '../system';

export type FloorResult = { insertRate: number; claimRate: number };

/** Ends a task the bench claimed as its agent would: succeeded, no output (endRunningTask). */
export function finishClaimed(q: Queryable, row: Pick<ClaimedTask, 'id' | 'lease_token'>, agentId: string): Promise<TaskRow | null> {
  return endRunningTask(q, {
    id: row.id,
    agentId,
    leaseToken: row.lease_token,
    state: 'succeeded',
    exitCode: 0,
    stdout: '',
    stderr: '',
    outputTruncated: false,
    error: null,
    finishHash: 'bench',
    now: new Date(),
  });
}

/** Inserts `n` tasks, then claims and finishes them all; the rate of each half. */
export async function measureFloor(stage: Stage, n = stage.ctx.options.sizes.floor): Promise<FloorResult> {
  const { db } = stage.bdb;
  const workers = stage.ctx.options.clients;
  const t0 = performance.now();
  await concurrently(workers, n, async () => {
    await insertTask(db, {
      id: randomUUID(),
      command: 'true',
      timeoutSeconds: 3600,
      maxAttempts: 1,
      idempotencyKey: null,
      requestHash: null,
      priority: 0,
      labels: [],
      runAt: null,
      now: new Date(),
    });
  });
  const insertMs = performance.now() - t0;
  let claimed = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const agentId = `bench-floor-${w}`;
      for (;;) {
        const row = await claimNextQueuedTask(db, {
          agentId,
          leaseToken: randomUUID(),
          leaseSeconds: 30,
          deadlineGraceSeconds: 30,
          agentLabels: [],
          now: new Date(),
        });
        if (row === null) return;
        const done = await finishClaimed(db, row, agentId);
        if (done === null) throw new Error(`floor: finish of ${row.id} matched no row`);
        claimed += 1;
      }
    }),
  );
  const claimMs = performance.now() - t1;
  if (claimed !== n) throw new Error(`floor: claimed ${claimed} of ${n}`);
  return { insertRate: n / (insertMs / 1000), claimRate: n / (claimMs / 1000) };
}
