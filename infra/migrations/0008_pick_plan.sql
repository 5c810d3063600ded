-- The pick's plan must not depend on statistics. On a database no ANALYZE has seen (a fresh one,
-- PGlite always: it has no autovacuum), the planner believes both partial indexes on queued tasks
-- hold one row, and chose tasks_queued_seq_idx for the pick's head: every pick read the whole
-- queue and sorted it, and the update found that head by walking the same index again (claim +
-- finish, 10 callers, draining 5,000 tasks on a fresh database: 130 rising to 440 per second on
-- PGlite, 185 to 783 on PostgreSQL; 680 and 1,397, flat, with this index gone and the update
-- finding its row by primary key only, claimNextQueuedTask in functions/shared/db/tasks.ts).
-- The pick's head comes from tasks_queued_pick_idx (0005); the oldest queued task, for the
-- gauge, is the head of tasks_state_seq_idx's queued range. One index fewer to write per create.
drop index if exists tasks_queued_seq_idx;
