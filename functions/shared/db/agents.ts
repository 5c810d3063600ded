/**
 * The agents table (infra/migrations/0006_agents_usage.sql): who picked, heartbeated or finished
 * lately. Pick, heartbeat, output sends and finish write it inside their own statements (CTEs in
 * db/tasks.ts and db/output.ts); the statements here serve GET /agents, POST /agents/{id}/stop and
 * the reaper. Same rules as db/tasks.ts.
 */
import type { Queryable } from './db';

/** A row of `agents`. */
export type AgentRow = {
  /** X-Agent-Id */
  id: string;
  /** X-Agent-Labels of its latest pick */
  labels: string[];
  last_seen_at: Date;
  /** the task it holds (pick sets it, finish clears it) */
  task_id: string | null;
  /** int8: as string (pg) or number (PGlite) */
  tasks_run: string | number;
  /** it said it stopped */
  stopped: boolean;
};

/** GET /agents answers at most this many (the most recently seen first). */
export const AGENTS_LIST_LIMIT = 1000;

/** Agents seen at or after `since`, the most recently seen first. */
export async function selectAgentsSeenSince(q: Queryable, since: Date, limit = AGENTS_LIST_LIMIT): Promise<AgentRow[]> {
  return q.query<AgentRow>(
    `select id, labels, last_seen_at, task_id, tasks_run, stopped from agents
      where last_seen_at >= $1::timestamptz
      order by last_seen_at desc, id
      limit $2::int`,
    [since, limit],
  );
}

/** Records that an agent stopped cleanly (it is gone at once); its next pick or heartbeat clears the flag. */
export async function markAgentStopped(q: Queryable, id: string, now: Date): Promise<AgentRow> {
  const rows = await q.query<AgentRow>(
    `insert into agents as a (id, last_seen_at, stopped) values ($1::text, $2::timestamptz, true)
     on conflict (id) do update set stopped = true, task_id = null, last_seen_at = greatest(a.last_seen_at, excluded.last_seen_at)
     returning id, labels, last_seen_at, task_id, tasks_run, stopped`,
    [id, now],
  );
  return rows[0] as AgentRow;
}

/** Deletes agents not seen since `before` (the reaper, so the table holds recent agents only); returns how many. */
export async function deleteAgentsNotSeenSince(q: Queryable, before: Date): Promise<number> {
  const rows = await q.query('delete from agents where last_seen_at < $1::timestamptz returning id', [before]);
  return rows.length;
}
