-- Routing (docs/routing.md) and delayed tasks (§12): priority, labels, run_at, the `scheduled` state,
-- and the indexes of pick, promotion, ?label= and retention.

-- scheduled: waiting for run_at (non-terminal, before queued).
alter table tasks drop constraint tasks_state_check;
alter table tasks add constraint tasks_state_check
  check (state in ('scheduled', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'canceled'));

-- higher first at pick
alter table tasks add column priority integer not null default 0 check (priority between -1000 and 1000);
-- sorted and deduplicated by the server; an agent may run the task only when it has every one
alter table tasks add column labels text[] not null default '{}';
-- the labels joined by ',' (no label holds a comma): the label set pick looks up by equality
alter table tasks add column label_key text not null default '';
-- when the task may run: its runAt, else its creation time; pick orders by it after priority
alter table tasks add column run_at timestamptz;
update tasks set run_at = created_at;
alter table tasks alter column run_at set not null;

-- Every label set a task was ever created with (tiny: one row per distinct set). Pick reads the
-- sets the agent's labels cover here, then takes the head of each set from tasks_queued_pick_idx,
-- so it never walks the queued tasks of a label set the agent may not run.
create table label_sets (
  key text primary key,
  labels text[] not null
);
insert into label_sets (key, labels) values ('', '{}');

-- Pick: per label set, highest priority, then run_at, then seq. One descent per allowed set.
create index tasks_queued_pick_idx on tasks (label_key, priority desc, run_at, seq) where state = 'queued';

-- Promotion of due scheduled tasks walks only scheduled tasks, earliest first.
create index tasks_scheduled_run_at_idx on tasks (run_at) where state = 'scheduled';

-- GET /tasks?label=x: only labelled tasks are indexed (an unlabelled insert pays nothing).
create index tasks_labels_idx on tasks using gin (labels) where labels <> '{}';

-- Retention deletes ended tasks oldest first, a batch at a time.
create index tasks_ended_finished_idx on tasks (finished_at)
  where state in ('succeeded', 'failed', 'timed_out', 'canceled');
