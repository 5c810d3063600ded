/**
 * The finish statements (POST /tasks/{id}/finish): ending a running task with its agent's result,
 * and recording in the same statement that the agent holds no task any more (the agents table).
 * Same rules as db/tasks.ts: values as cast parameters, time passed in.
 */
import type { TaskState, TaskUsage } from '../../../contract/task';
import type { Queryable } from './db';
import { OUTPUT_CHANNEL, type TaskRow } from './tasks';

export type FinishRequest = {
  id: string;
  agentId: string;
  /** X-Lease-Token: the task's current lease token, or the finish ends nothing */
  leaseToken: string;
  state: TaskState;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputTruncated: boolean;
  error: string | null;
  finishHash: string;
  now: Date;
  /** what the agent measured of the command's process tree; null (or absent) where it could not */
  usage?: TaskUsage | null;
};

const FINISH_SET = `set state = case when cancel_requested then 'canceled' else $4::text end,
            exit_code = $5::int,
            stdout = $6::text,
            stderr = $7::text,
            output_truncated = $8::boolean,
            error = case when cancel_requested and $4::text <> 'canceled'
                         then 'canceled by user (the command had already ended: ' || $4::text || ')'
                         else $9::text end,
            finish_hash = $10::text,
            finished_at = $11::timestamptz,
            usage_cpu_user_seconds = $12::float8,
            usage_cpu_system_seconds = $13::float8,
            usage_max_rss_bytes = $14::bigint,
            lease_expires_at = null,
            deadline_at = null
      where id = $1::uuid
        and state = 'running'
        and agent_id = $2::text
        and lease_token = $3::uuid`;

const finishParams = (f: FinishRequest) => [
  f.id,
  f.agentId,
  f.leaseToken,
  f.state,
  f.exitCode,
  f.stdout,
  f.stderr,
  f.outputTruncated,
  f.error,
  f.finishHash,
  f.now,
  f.usage?.cpuUserSeconds ?? null,
  f.usage?.cpuSystemSeconds ?? null,
  f.usage?.maxRssBytes ?? null,
];

/**
 * The agent that finished is seen now and holds no task any more (db/agents.ts); a CTE of the
 * finish statement, run only when the finish ended the task.
 */
const AGENT_FINISHED = `agent_done as (
       update agents set last_seen_at = greatest(last_seen_at, $11::timestamptz), task_id = null
        where id = $2::text and exists (select 1 from ended))`;

/**
 * Ends a running task held by this agent and lease token that has no live output and no reader
 * following it (most tasks: the statement is what a finish always was); null if it is not such a
 * task, and then endRunningTaskWithOutput does it. A cancel requested while it ran wins: the task
 * ends `canceled` (docs/api.md, cancel), its exit code and output kept as the agent reported them.
 * A send or a reader's mark racing it takes the row lock first and makes this match nothing.
 */
export async function endRunningTask(q: Queryable, f: FinishRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with ended as (
     update tasks
        ${FINISH_SET}
        and stdout_bytes = 0 and stderr_bytes = 0 and not output_watched
      returning *),
     ${AGENT_FINISHED}
     select * from ended`,
    finishParams(f),
    'te_finish_task',
  );
  return rows[0] ?? null;
}

/**
 * Ends a running task, as endRunningTask, that has live output or a reader: in the same statement
 * its chunks are deleted (the final output replaces them) and held output reads are woken. Kept
 * apart because the NOTIFY serialises committing transactions on a lock of its own: on every
 * finish it cost a third of the claim+finish rate (1,800 against 2,800 a second), and the
 * data-modifying CTE another 8-10 %.
 */
export async function endRunningTaskWithOutput(q: Queryable, f: FinishRequest): Promise<TaskRow | null> {
  const rows = await q.query<TaskRow>(
    `with ended as (
     update tasks
        ${FINISH_SET}
      returning *),
     dropped as (
       delete from task_output o using ended e
        where o.task_id = e.id and (e.stdout_bytes > 0 or e.stderr_bytes > 0)),
     ${AGENT_FINISHED}
     select ended.*, pg_notify('${OUTPUT_CHANNEL}', ended.id::text) is null as notified from ended`,
    finishParams(f),
    'te_finish_task_with_output',
  );
  return rows[0] ?? null;
}
