-- Live output (docs/architecture.md, "Live output"): what a running task's agent has sent so
-- far, in chunks keyed by their byte offset in the stream's stored text. Each stream keeps a head
-- (chunks from offset 0 up to the head budget of the output cap) and a rolling tail (chunks that
-- reach into the last tail-budget bytes); chunks that fall wholly between them are deleted as new
-- ones arrive, so a task that prints gigabytes holds about OUTPUT_LIMIT_BYTES per stream. A finish
-- deletes the task's chunks: the final output lives in tasks.stdout/stderr as before.
create table task_output (
  task_id uuid not null references tasks (id) on delete cascade,
  -- stdout | stderr
  stream text not null check (stream in ('stdout', 'stderr')),
  -- the chunk's first byte in the stream's stored text (UTF-8, invalid bytes already replaced)
  start_offset bigint not null check (start_offset >= 0),
  -- whole characters; never empty
  data text not null check (data <> ''),
  primary key (task_id, stream, start_offset)
);

-- Bytes of each stream the server holds for the task (the offset the next chunk continues at):
-- the compare-and-set of an output send, and the stream's length for readers. Never reset by a
-- finish; reset with the chunks when a lost task is queued again.
alter table tasks add column stdout_bytes bigint not null default 0;
alter table tasks add column stderr_bytes bigint not null default 0;

-- A reader has held a read of this task's output: its finish then NOTIFYs (so does the finish of
-- a task that streamed). A NOTIFY serialises committing transactions on a lock of its own; paid
-- by every finish, it cost a third of the claim+finish rate (1,800 against 2,800 a second), so a
-- task that printed nothing and that nobody follows does not pay it.
alter table tasks add column output_watched boolean not null default false;

-- Chunks are inserted and deleted all the time while a long task prints: vacuum the table early
-- so the space of deleted chunks (and their TOAST rows) is reused instead of growing the files.
alter table task_output set (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, toast.autovacuum_vacuum_scale_factor = 0.01);
