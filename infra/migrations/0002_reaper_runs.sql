-- When lease expiry last ran. A gap longer than the watch interval means nobody was watching
-- (the database or every server was down): running tasks then get one more lease to check in,
-- instead of all being ended "agent lost" because their heartbeats could not get through.
create table reaper_runs (
  id integer primary key check (id = 1),
  last_run_at timestamptz not null
);
