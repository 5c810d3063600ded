-- Pick walks the partial index tasks_queued_seq_idx, whose entries for tasks that have left the
-- queue stay until a vacuum removes them. With the default scale factor (0.2) autovacuum waits
-- for 20 % of the table to be dead (200,000 rows at 1M tasks) and the walk grows meanwhile
-- (bench: 29 buffers per pick after a vacuum, 192 after 60,000 tasks went through). Vacuum
-- this table after 1 % instead.
-- vacuum_index_cleanup = on: PostgreSQL 14+ otherwise skips index cleanup when under 2 % of the
-- pages hold dead rows (the bench saw "index scan bypassed" on a 1M-task table).
alter table tasks set (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02, vacuum_index_cleanup = on);
