/**
 * Delayed tasks (docs/api.md, Schedules): promotion of `scheduled` tasks whose run_at has come.
 */
import type { Queryable } from './db';
import { QUEUED_CHANNEL, queuedPayloadSql } from './tasks';

/**
 * Promotes every scheduled task due by `now` (up to `limit`, earliest run_at first) to queued in
 * one statement, served by tasks_scheduled_run_at_idx (it walks only due scheduled tasks), and
 * notifies QUEUED_CHANNEL once per label set with how many became queued, so that many held
 * picks wake (identical notifications of one transaction are folded into one by PostgreSQL, so
 * one per task would wake a single picker). A task a cancel holds is skipped, not waited for.
 * Returns one row per label set promoted.
 */
export async function promoteDueTasks(q: Queryable, now: Date, limit: number): Promise<{ label_key: string; n: number }[]> {
  return q.query<{ label_key: string; n: number }>(
    `with due as (
       select id from tasks
        where state = 'scheduled' and run_at <= $1::timestamptz
        order by run_at
        limit $2::int
        for update skip locked),
     promoted as (
       update tasks t set state = 'queued'
         from due where t.id = due.id and t.state = 'scheduled'
       returning t.label_key),
     counted as (
       select label_key, count(*)::int as n from promoted group by label_key)
     select label_key, n, pg_notify('${QUEUED_CHANNEL}', ${queuedPayloadSql('n', 'label_key')}) is null as notified
       from counted`,
    [now, limit],
    'te_promote_due_tasks',
  );
}
