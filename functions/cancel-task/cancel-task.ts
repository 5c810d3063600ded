import type { Task } from '../../contract/task';
import { cancelOrFlagTask, selectTask, toTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ConflictError, NotFoundError } from '../shared/errors';
import type { Log } from '../shared/logger';
import { recordEnded } from '../shared/task-metrics';

/**
 * Cancels a task: queued → canceled at once; running → flagged (its agent stops it after its
 * next heartbeat, or the server ends it after the cancel grace). Ended tasks are a conflict.
 */
export async function cancelTask(deps: Pick<Deps, 'db' | 'now' | 'lease' | 'metrics'> & { log: Log }, id: string): Promise<Task> {
  deps.log.appendKeys({ taskId: id });
  const row = await cancelOrFlagTask(deps.db, { id, now: deps.now(), cancelGraceSeconds: deps.lease.cancelGraceSeconds });
  if (row !== null) {
    recordEnded(deps.metrics, row);
    deps.log.info(row.state === 'canceled' ? 'queued task canceled' : 'cancel requested', { state: row.state });
    return toTask(row);
  }
  const current = await selectTask(deps.db, id);
  if (current === null) throw new NotFoundError(`There is no task with id ${id}.`);
  throw new ConflictError(`The task already ended (${current.state}); there is nothing to cancel.`);
}
