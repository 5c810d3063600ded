import { SUMMARY_COUNT_LIMIT } from '../../contract/http';
import { TASK_STATES, type TaskOverview, type TaskState } from '../../contract/task';
import { countTasksByState, selectOldestQueuedAt } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';

/** Tasks per state (each count capped at `limit`) and the age of the oldest queued task. */
export async function taskSummary(deps: Pick<Deps, 'db' | 'now'>, limit = SUMMARY_COUNT_LIMIT): Promise<TaskOverview> {
  const [rows, oldest] = await Promise.all([countTasksByState(deps.db, TASK_STATES, limit), selectOldestQueuedAt(deps.db)]);
  const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  for (const row of rows) counts[row.state] = Number(row.n);
  const oldestAt = oldest === null ? null : new Date(oldest);
  return {
    counts,
    capped: TASK_STATES.filter((s) => counts[s] >= limit),
    countLimit: limit,
    oldestQueuedAt: oldestAt === null ? null : oldestAt.toISOString(),
    // A clock a little behind the database's (several servers) must not show a negative age.
    oldestQueuedAgeSeconds: oldestAt === null ? 0 : Math.max(0, Math.floor((deps.now().getTime() - oldestAt.getTime()) / 1000)),
  };
}
