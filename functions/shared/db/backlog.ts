/**
 * Loading a backlog for load tests (`npm run bench`, test/task-backlog.test.ts): not used by the API.
 */
import type { Queryable } from './db';

export type Backlog = {
  /** finished tasks first (state succeeded, exit code 0, one line of stdout, held by one of ten agents) */
  succeeded: number;
  /** then queued tasks */
  queued: number;
  /** the first task's created_at; each next one a millisecond later */
  from: Date;
  /** the queued tasks spread round-robin over this many label sets (1: all unlabelled; set i > 0 is {"pool-i"}) */
  labelSets?: number;
  /** and over this many priorities (0, 1, ...; 1: all 0) */
  priorities?: number;
};

/**
 * Loads a backlog in one statement, for load tests (`npm run bench` builds its 1M-task table
 * with it): tasks that look as the API leaves them, oldest first. Not used by the API. It sends
 * no NOTIFY: nobody is picking while a backlog is loaded.
 */
export async function insertTaskBacklog(q: Queryable, b: Backlog): Promise<void> {
  await q.query(
    `with loaded as (
     insert into tasks (id, command, state, timeout_seconds, exit_code, stdout, stderr, output_truncated, error, agent_id,
                        attempts, max_attempts, finish_hash, created_at, started_at, finished_at, run_at,
                        priority, labels, label_key)
     select gen_random_uuid(),
            'echo backlog ' || i,
            case when i <= $1::int then 'succeeded' else 'queued' end,
            3600,
            case when i <= $1::int then 0 end,
            case when i <= $1::int then 'backlog ' || i || chr(10) end,
            case when i <= $1::int then '' end,
            false,
            null,
            case when i <= $1::int then 'bench-backlog-' || (i % 10) end,
            case when i <= $1::int then 1 else 0 end,
            1,
            case when i <= $1::int then md5(i::text) end,
            $3::timestamptz + make_interval(secs => i / 1000.0),
            case when i <= $1::int then $3::timestamptz + make_interval(secs => i / 1000.0 + 0.002) end,
            case when i <= $1::int then $3::timestamptz + make_interval(secs => i / 1000.0 + 0.004) end,
            $3::timestamptz + make_interval(secs => i / 1000.0),
            i % $5::int,
            case when i % $4::int = 0 then '{}'::text[] else array['pool-' || (i % $4::int)] end,
            case when i % $4::int = 0 then '' else 'pool-' || (i % $4::int) end
       from generate_series(1, $1::int + $2::int) as i
     returning label_key, labels)
     insert into label_sets (key, labels)
     select distinct label_key, labels from loaded where label_key <> ''
     on conflict (key) do nothing`,
    [b.succeeded, b.queued, b.from, b.labelSets ?? 1, b.priorities ?? 1],
  );
}
