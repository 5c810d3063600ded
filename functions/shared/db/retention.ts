/**
 * Retention (docs/routing.md): deleting tasks that ended long ago, and vacuuming the embedded store.
 */
import type { Queryable } from './db';

/**
 * Deletes up to `limit` ended tasks that finished before `cutoff`, oldest first (their
 * task_output rows go with them: on delete cascade); returns how many. The batch is found through
 * tasks_ended_finished_idx and locked `for update skip locked`, so a task a late finish or a cancel
 * holds is passed over, never waited for. Pick never touches ended rows: nothing it does waits on
 * this statement.
 */
export async function deleteEndedTasks(q: Queryable, cutoff: Date, limit: number): Promise<number> {
  const rows = await q.query<{ n: number }>(
    `with doomed as (
       select id from tasks
        where state in ('succeeded', 'failed', 'timed_out', 'canceled') and finished_at < $1::timestamptz
        order by finished_at
        limit $2::int
        for update skip locked),
     deleted as (
       delete from tasks t using doomed where t.id = doomed.id returning 1)
     select count(*)::int as n from deleted`,
    [cutoff, limit],
    'te_delete_ended_tasks',
  );
  return rows[0]?.n ?? 0;
}
