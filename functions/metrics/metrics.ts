import { TASK_STATES } from '../../contract/task';
import { selectGauges } from '../shared/db/metrics';
import type { Deps } from '../shared/deps';
import { type GaugeRow, renderGauges } from '../shared/metrics';

type GaugeDeps = Pick<Deps, 'db' | 'now' | 'config'>;

/** The gauges' rows, read now: every state of contract/task.ts, the oldest queued age, the agents. */
export async function readGauges(deps: GaugeDeps): Promise<GaugeRow[]> {
  const now = deps.now();
  return selectGauges(deps.db, {
    states: TASK_STATES,
    now,
    seenSince: new Date(now.getTime() - deps.config.leaseSeconds * 1000),
  });
}

/** GET /metrics' body: the gauges from the database, then this process's counters and histograms. */
export async function scrapeMetrics(deps: GaugeDeps & Pick<Deps, 'metrics'>): Promise<string> {
  return renderGauges(await readGauges(deps)) + deps.metrics.render();
}
