/**
 * The statement behind GET /metrics' gauges (functions/shared/metrics.ts, GAUGES): one row per
 * gauge value, as (family, label, value), in one round trip. Same rules as db/tasks.ts.
 */
import type { TaskState } from '../../../contract/task';
import type { GaugeRow } from '../metrics';
import type { Queryable } from './db';

/** Each state's count stops here: a scrape never walks more than this many index entries per state. */
export const GAUGE_COUNT_LIMIT = 1_000_000;

export type GaugeQuery = {
  states: readonly TaskState[];
  now: Date;
  /** agents last seen before this are gone and not counted */
  seenSince: Date;
  /** default GAUGE_COUNT_LIMIT */
  countLimit?: number;
};

/**
 * Tasks per state (an index-only walk of tasks_state_seq_idx per state, each stopping at the
 * limit), the age of the oldest queued task (the head of tasks_state_seq_idx's queued range) and the agents
 * seen since `seenSince` that did not stop, idle or busy (the agents table: one row per agent).
 * To add a gauge: a `union all` row here and a line in GAUGES.
 */
export async function selectGauges(q: Queryable, g: GaugeQuery): Promise<GaugeRow[]> {
  return q.query<GaugeRow>(
    `select 'tasks' as family, s.state as label,
            (select count(*) from (select 1 from tasks t where t.state = s.state limit $2::int) c)::float8 as value
       from unnest($1::text[]) as s(state)
     union all
     select 'oldest_queued_age_seconds', null,
            coalesce(greatest(0, extract(epoch from $3::timestamptz - (select created_at from tasks where state = 'queued' order by seq limit 1))), 0)::float8
     union all
     select 'agents', k.state,
            (select count(*) from agents a
              where a.last_seen_at >= $4::timestamptz and not a.stopped and (a.task_id is not null) = (k.state = 'busy'))::float8
       from unnest(array['idle', 'busy']) as k(state)`,
    [g.states, g.countLimit ?? GAUGE_COUNT_LIMIT, g.now, g.seenSince],
    'te_metrics_gauges',
  );
}
