-- The tasks table: one row per submitted command, from queued to a terminal state.
create table tasks (
  -- assigned by the server (crypto.randomUUID)
  id uuid primary key,
  -- insertion order; ties in created_at are broken by it, and pick and list walk it
  seq bigint generated always as identity unique,
  -- the shell command, run with /bin/sh -c
  command text not null,
  -- queued | running | succeeded | failed | timed_out | canceled
  state text not null default 'queued'
    check (state in ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'canceled')),
  -- how long the agent lets the command run
  timeout_seconds integer not null check (timeout_seconds between 1 and 86400),
  -- the command's exit code; null until finished, or when it never exited normally
  exit_code integer,
  -- captured output, capped head-and-tail at OUTPUT_LIMIT_BYTES per stream
  stdout text,
  stderr text,
  output_truncated boolean not null default false,
  -- why a task ended without a normal exit
  error text,
  -- the agent that picked it (X-Agent-Id)
  agent_id text,
  -- a fresh token per pick; heartbeat and finish must match it
  lease_token uuid,
  -- when the running task is considered lost unless heartbeated
  lease_expires_at timestamptz,
  -- the latest moment a running task may still be running: its timeout plus a grace, or,
  -- once a cancel is requested, the cancel deadline; the reaper ends it after that
  deadline_at timestamptz,
  -- a user asked to cancel the running task
  cancel_requested boolean not null default false,
  -- how many times it was picked, and how many attempts a lost agent may cost
  attempts integer not null default 0,
  max_attempts integer not null default 1 check (max_attempts between 1 and 10),
  -- Idempotency-Key of the create request, and a hash of its body
  idempotency_key text unique,
  request_hash text,
  -- a hash of the finish body that ended it, so a retried identical finish is recognised
  finish_hash text,
  created_at timestamptz not null,
  started_at timestamptz,
  finished_at timestamptz
);

-- Pick walks queued tasks oldest first; a partial index keeps that walk as short as the queue,
-- however many finished tasks the table holds.
create index tasks_queued_seq_idx on tasks (seq) where state = 'queued';

-- List is newest first with a keyset cursor on seq, optionally filtered by state.
create index tasks_state_seq_idx on tasks (state, seq desc);

-- The reaper finds running tasks past their lease or their deadline through these two.
create index tasks_running_lease_idx on tasks (lease_expires_at) where state = 'running';
create index tasks_running_deadline_idx on tasks (deadline_at) where state = 'running';
