-- Schedules (docs/api.md, Schedules): a command run on a cron schedule, each tick exactly one task.
create table schedules (
  -- assigned by the server (crypto.randomUUID)
  id uuid primary key,
  -- unique, chosen by the user (POST answers 409 on a repeat)
  name text not null unique,
  -- 5 fields (minute resolution) or 6 (seconds first), as croner reads them
  cron text not null,
  -- an IANA time zone the cron fields are read in
  timezone text not null,
  -- what each tick's task runs, and its timeout
  command text not null,
  timeout_seconds integer not null check (timeout_seconds between 1 and 86400),
  -- copied to each tick's task
  priority integer not null default 0,
  labels text[] not null default '{}',
  paused boolean not null default false,
  -- the next tick to create; null while paused. A tick is claimed by moving it on (see
  -- functions/shared/db/schedules.ts claimScheduleTick), never in a server's memory.
  next_run_at timestamptz,
  -- the last tick a task was created for
  last_run_at timestamptz,
  -- ticks passed over by the missed-tick rule (more than one period late)
  skipped_ticks bigint not null default 0,
  -- bumped by every PATCH: a tick claimed against an older definition matches nothing
  revision integer not null default 1,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

-- The tick timer reads due schedules earliest first; paused ones (null) are not in it.
create index schedules_next_run_at_idx on schedules (next_run_at) where next_run_at is not null;

-- The schedule a task was made by (not a foreign key: deleting a schedule keeps its tasks and
-- their history, and touches none of them), and the tick it was made for.
alter table tasks add column schedule_id uuid;
alter table tasks add column scheduled_for timestamptz;

-- One task per tick of a schedule, whatever claimed it: the second guard after the claim.
-- Tasks not made by a schedule hold nulls, which never collide.
create unique index tasks_schedule_tick_idx on tasks (schedule_id, scheduled_for);
