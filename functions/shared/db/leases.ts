/**
 * The lease-expiry statements (functions/shared/lease-expiry.ts runs them): ending running tasks
 * past their lease or deadline, the reaper's own run record, and the extra lease after an outage.
 * Same rules as db/tasks.ts: values as cast parameters, time passed in.
 */
import type { Queryable } from './db';
import { OUTPUT_CHANNEL, QUEUED_CHANNEL, queuedPayloadSql, type TaskRow } from './tasks';
/**
 * Ends every running task past its lease or deadline, in one statement: a requested cancel
 * ends `canceled`; a passed timeout deadline `timed_out`; a lost agent `failed`, or `queued`
 * again while attempts remain (max_attempts > 1 only: shell commands are not idempotent).
 * Re-queued tasks keep their seq, so they are picked before newer ones, and are notified; their
 * live output is dropped (the next attempt streams from offset 0 again). An ended task keeps the
 * live output its agent sent (no finish brought a final one) and its held readers are woken.
 */
export async function endExpiredTasks(q: Queryable, now: Date, limit = 1000): Promise<TaskRow[]> {
  return q.query<TaskRow>(
    `with expired as (
       select id,
              case when cancel_requested then 'canceled'
                   when deadline_at < $1::timestamptz then 'timed_out'
                   when attempts < max_attempts then 'queued'
                   else 'failed' end as next_state
         from tasks
        where state = 'running' and (lease_expires_at < $1::timestamptz or deadline_at < $1::timestamptz)
        order by seq
        limit $2::int
        for update skip locked),
     ended as (
       update tasks t
          set state = e.next_state,
              error = case e.next_state
                when 'canceled' then 'canceled by user'
                when 'timed_out' then 'timed out after ' || t.timeout_seconds || 's (the agent did not report in time)'
                when 'queued' then 'agent lost: lease expired; queued again (attempt ' || t.attempts || ' of ' || t.max_attempts || ' failed)'
                else 'agent lost: lease expired' end,
              finished_at = case when e.next_state = 'queued' then null else $1::timestamptz end,
              agent_id = case when e.next_state = 'queued' then null else t.agent_id end,
              started_at = case when e.next_state = 'queued' then null else t.started_at end,
              stdout_bytes = case when e.next_state = 'queued' then 0 else t.stdout_bytes end,
              stderr_bytes = case when e.next_state = 'queued' then 0 else t.stderr_bytes end,
              lease_token = null,
              lease_expires_at = null,
              deadline_at = null
         from expired e
        where t.id = e.id
        returning t.*),
     dropped as (
       delete from task_output o using ended
        where o.task_id = ended.id and ended.state = 'queued')
     select ended.*,
            case when ended.state = 'queued' then pg_notify('${QUEUED_CHANNEL}', ${queuedPayloadSql("'1'", 'ended.label_key')})
                 else pg_notify('${OUTPUT_CHANNEL}', ended.id::text) end is null as notified
       from ended`,
    [now, limit],
  );
}

/** Records a lease-expiry run at `now`; returns when the previous one was (null: never). */
export async function recordReaperRun(q: Queryable, now: Date): Promise<Date | null> {
  const rows = await q.query<{ previous: Date | null }>(
    `with prev as (select last_run_at from reaper_runs where id = 1)
     insert into reaper_runs (id, last_run_at) values (1, $1::timestamptz)
     on conflict (id) do update set last_run_at = greatest(reaper_runs.last_run_at, excluded.last_run_at)
     returning (select last_run_at from prev) as previous`,
    [now],
  );
  return rows[0]?.previous ?? null;
}

/** Gives every running task a lease of `leaseSeconds` from now, at least; returns how many. */
export async function extendRunningLeases(q: Queryable, now: Date, leaseSeconds: number): Promise<number> {
  const rows = await q.query(
    `update tasks
        set lease_expires_at = greatest(lease_expires_at, $1::timestamptz + make_interval(secs => $2::int))
      where state = 'running'
      returning id`,
    [now, leaseSeconds],
  );
  return rows.length;
}
