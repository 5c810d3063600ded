import type { Task } from '../../contract/task';
import { selectTask, toTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { NotFoundError } from '../shared/errors';
import type { Log } from '../shared/logger';

/** One task with its output, or NotFoundError. */
export async function getTask(deps: Pick<Deps, 'db'> & { log: Log }, id: string): Promise<Task> {
  deps.log.appendKeys({ taskId: id });
  const row = await selectTask(deps.db, id);
  if (row === null) throw new NotFoundError(`There is no task with id ${id}.`);
  return toTask(row);
}
