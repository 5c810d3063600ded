-- The agents the server has heard from (GET /agents, the taskexec_agents gauge): one row per
-- X-Agent-Id, written by the statement that serves its pick, heartbeat or finish (a CTE of it,
-- so no request pays a second round trip) and by POST /agents/{id}/stop.
create table agents (
  -- X-Agent-Id
  id text primary key,
  -- X-Agent-Labels of its latest pick (empty when it sent none)
  labels text[] not null default '{}',
  -- its latest pick, heartbeat, output send or finish
  last_seen_at timestamptz not null,
  -- the task it holds now (set by pick, cleared by finish); no foreign key: retention may delete
  -- the task, and a stale id only makes the agent look busy until it is gone
  task_id uuid,
  -- tasks handed to it by pick
  tasks_run bigint not null default 0,
  -- it said it stopped (POST /agents/{id}/stop): gone at once; its next request clears it
  stopped boolean not null default false
);

-- No index on last_seen_at: every pick and heartbeat moves it, and without an index on it those
-- updates stay HOT (no index entry per write). GET /agents and the gauge read the whole table,
-- which holds one small row per agent; the reaper deletes rows not seen for a day.
alter table agents set (fillfactor = 50);

-- Resource usage of the command's process tree, as its agent measured it (finish); null where it
-- could not (docs/api.md, "usage").
alter table tasks add column usage_cpu_user_seconds double precision;
alter table tasks add column usage_cpu_system_seconds double precision;
alter table tasks add column usage_max_rss_bytes bigint;
