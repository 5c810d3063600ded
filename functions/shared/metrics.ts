/**
 * The server's metrics (docs/metrics.md). Two kinds:
 *
 * - gauges read from the database at scrape time (GAUGES; one statement, db/metrics.ts), so they
 *   are right with any number of servers;
 * - counters and histograms of what this process handled (COUNTERS, HISTOGRAMS), kept here in
 *   memory and, on Lambda, also sent to a sink (CloudWatch embedded metric format, metrics-emf.ts).
 *
 * To add one: a line in COUNTERS or HISTOGRAMS (or a row of the gauge statement and a line in
 * GAUGES), then `deps.metrics.inc('yourCounter', labels)` where it happens. Nothing else.
 *
 * The text is written here rather than by prom-client 15.1.3: the same series cost 252 against
 * 545 µs a scrape and 680 against 1,170 ns a histogram observation (bench/metrics.ts --only writer,
 * a loaded 2-core machine), with no global registry to share between two servers in one process.
 */
import { TERMINAL_STATES } from '../../contract/task';

export type Labels = Readonly<Record<string, string>>;

export type CounterDef = {
  name: string;
  help: string;
  labels: readonly string[];
  /** label sets shown as 0 before anything is counted (a rate() needs the series to exist) */
  initial?: readonly Labels[];
};
export type HistogramDef = CounterDef & { buckets: readonly number[] };
export type GaugeDef = { name: string; help: string /** the label the statement's `label` column fills, if any */; label?: string };

/**
 * Seconds, 5 ms to 6 h. Queue waits of an idle pool are a pick's round trip (ms); a backlog makes
 * them seconds to hours. Run times go from `true` (ms) to the default timeout (1 h) and beyond.
 * Steps of 1-2.5-5 per decade up to a minute, then the usual timeouts (2, 5, 10, 30 min, 1, 2, 6 h):
 * 20 buckets, so a histogram is 23 lines per label set. Longer than 6 h lands in +Inf.
 */
export const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600,
] as const;

const terminal = TERMINAL_STATES.map((state) => ({ state }));

/** Counters of this process. */
export const COUNTERS = {
  tasksFinished: {
    name: 'taskexec_tasks_finished_total',
    help: 'Tasks this server ended (finish, cancel of a queued task, lease expiry), by final state.',
    labels: ['state'],
    initial: terminal,
  },
  agentsLost: {
    name: 'taskexec_agents_lost_total',
    help: 'Running tasks whose agent stopped heartbeating for LEASE_SECONDS (ended failed or queued again).',
    labels: [],
    initial: [{}],
  },
  outputsTruncated: {
    name: 'taskexec_outputs_truncated_total',
    help: 'Finished tasks whose stdout or stderr was cut to OUTPUT_LIMIT_BYTES (by the agent or the server).',
    labels: [],
    initial: [{}],
  },
  tasksDeleted: {
    name: 'taskexec_tasks_deleted_total',
    help: 'Ended tasks deleted by retention (TASK_RETENTION).',
    labels: [],
    initial: [{}],
  },
  httpResponses: {
    name: 'taskexec_http_responses_total',
    help: 'HTTP answers of this server by route template (METHOD /path/{id}; "unmatched" for none) and status.',
    labels: ['route', 'status'],
  },
  scheduleTicksCreated: {
    name: 'taskexec_schedule_ticks_created_total',
    help: 'Schedule ticks this server claimed and made a task for (each tick is claimed by one server).',
    labels: [],
    initial: [{}],
  },
  scheduleTicksSkipped: {
    name: 'taskexec_schedule_ticks_skipped_total',
    help: 'Schedule ticks skipped by this server as more than one period late (every server was down, or a round ran late).',
    labels: [],
    initial: [{}],
  },
} as const satisfies Record<string, CounterDef>;

/** Histograms of this process. */
export const HISTOGRAMS = {
  queueWait: {
    name: 'taskexec_task_queue_wait_seconds',
    help: 'From a task being created to its pick (observed at pick).',
    labels: [],
    buckets: DURATION_BUCKETS,
    initial: [{}],
  },
  run: {
    name: 'taskexec_task_run_seconds',
    help: 'From pick to the end of a task (observed at finish and at lease expiry).',
    labels: [],
    buckets: DURATION_BUCKETS,
    initial: [{}],
  },
} as const satisfies Record<string, HistogramDef>;

/** Gauges read at scrape time: keyed by the `family` column of the gauge statement (db/metrics.ts). */
export const GAUGES = {
  tasks: { name: 'taskexec_tasks', help: 'Tasks per state (each count stops at 1,000,000).', label: 'state' },
  oldest_queued_age_seconds: {
    name: 'taskexec_oldest_queued_age_seconds',
    help: 'Seconds since the oldest queued task was created (0 when none is queued).',
  },
  agents: {
    name: 'taskexec_agents',
    help: 'Agents seen within LEASE_SECONDS that did not stop, by idle or busy.',
    label: 'state',
  },
} as const satisfies Record<string, GaugeDef>;

export type CounterName = keyof typeof COUNTERS;
export type HistogramName = keyof typeof HISTOGRAMS;
/** One row of the gauge statement. */
export type GaugeRow = { family: string; label: string | null; value: number };

/** Where figures go besides this process's memory (Lambda: CloudWatch EMF). */
export type MetricSink = {
  count(def: CounterDef, labels: Labels, n: number): void;
  observe(def: HistogramDef, labels: Labels, seconds: number): void;
  gauge(def: GaugeDef, labels: Labels, value: number): void;
};

/** The text format's content type (Prometheus 0.0.4). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Metrics = {
  /** Adds n (default 1) to a counter. */
  inc(counter: CounterName, labels?: Labels, n?: number): void;
  /** Records a duration in seconds (negative ones, from clocks apart, as 0). */
  observe(histogram: HistogramName, seconds: number, labels?: Labels): void;
  /** Sends gauge rows to the sink (Lambda's scheduled function); the scrape renders them itself. */
  publishGauges(rows: readonly GaugeRow[]): void;
  /** The counters and histograms as Prometheus text. */
  render(): string;
};

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** `{a="x",b="y"}` in the definition's label order, or '' for none; `extra` (le) goes last. */
function labelText(names: readonly string[], labels: Labels, extra?: string): string {
  const parts = names.map((n) => `${n}="${escapeLabel(labels[n] ?? '')}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** A number as the text format writes it. */
function num(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

type Series<T> = Map<string, { labels: Labels; value: T }>;
type HistogramValue = { counts: number[]; sum: number; count: number };

const keyOf = (names: readonly string[], labels: Labels) => names.map((n) => labels[n] ?? '').join('\u0000');

/** A fresh set of this process's counters and histograms. */
export function createMetrics(sink?: MetricSink): Metrics {
  const counters = new Map<CounterName, Series<number>>();
  const histograms = new Map<HistogramName, Series<HistogramValue>>();
  const newHistogram = (def: HistogramDef): HistogramValue => ({ counts: def.buckets.map(() => 0), sum: 0, count: 0 });
  for (const [name, def] of Object.entries(COUNTERS) as [CounterName, CounterDef][]) {
    const series: Series<number> = new Map();
    for (const labels of def.initial ?? []) series.set(keyOf(def.labels, labels), { labels, value: 0 });
    counters.set(name, series);
  }
  for (const [name, def] of Object.entries(HISTOGRAMS) as [HistogramName, HistogramDef][]) {
    const series: Series<HistogramValue> = new Map();
    for (const labels of def.initial ?? []) series.set(keyOf(def.labels, labels), { labels, value: newHistogram(def) });
    histograms.set(name, series);
  }
  return {
    inc(counter, labels = {}, n = 1) {
      const def: CounterDef = COUNTERS[counter];
      const series = counters.get(counter) as Series<number>;
      const key = keyOf(def.labels, labels);
      const entry = series.get(key);
      if (entry) entry.value += n;
      else series.set(key, { labels, value: n });
      sink?.count(def, labels, n);
    },
    observe(histogram, seconds, labels = {}) {
      const def: HistogramDef = HISTOGRAMS[histogram];
      const value = Number.isFinite(seconds) ? Math.max(0, seconds) : 0;
      const series = histograms.get(histogram) as Series<HistogramValue>;
      const key = keyOf(def.labels, labels);
      let entry = series.get(key);
      if (!entry) {
        entry = { labels, value: newHistogram(def) };
        series.set(key, entry);
      }
      const h = entry.value;
      // Counts per bucket (not cumulative): render sums them, so an observation costs one increment.
      const i = def.buckets.findIndex((b) => value <= b);
      if (i !== -1) h.counts[i] = (h.counts[i] as number) + 1;
      h.sum += value;
      h.count += 1;
      sink?.observe(def, labels, value);
    },
    publishGauges(rows) {
      if (!sink) return;
      for (const row of rows) {
        const def: GaugeDef | undefined = (GAUGES as Record<string, GaugeDef>)[row.family];
        if (def) sink.gauge(def, def.label && row.label !== null ? { [def.label]: row.label } : {}, row.value);
      }
    },
    render() {
      const out: string[] = [];
      for (const [name, series] of counters) {
        const def: CounterDef = COUNTERS[name];
        out.push(`# HELP ${def.name} ${escapeHelp(def.help)}`, `# TYPE ${def.name} counter`);
        for (const { labels, value } of series.values()) out.push(`${def.name}${labelText(def.labels, labels)} ${num(value)}`);
      }
      for (const [name, series] of histograms) {
        const def: HistogramDef = HISTOGRAMS[name];
        out.push(`# HELP ${def.name} ${escapeHelp(def.help)}`, `# TYPE ${def.name} histogram`);
        for (const { labels, value } of series.values()) {
          let cumulative = 0;
          def.buckets.forEach((b, i) => {
            cumulative += value.counts[i] as number;
            out.push(`${def.name}_bucket${labelText(def.labels, labels, `le="${num(b)}"`)} ${cumulative}`);
          });
          out.push(`${def.name}_bucket${labelText(def.labels, labels, 'le="+Inf"')} ${value.count}`);
          out.push(`${def.name}_sum${labelText(def.labels, labels)} ${num(value.sum)}`);
          out.push(`${def.name}_count${labelText(def.labels, labels)} ${value.count}`);
        }
      }
      return `${out.join('\n')}\n`;
    },
  };
}

/**
 * The gauge rows as Prometheus text. Every family of GAUGES is written, each in the order its
 * rows came; a family with no row at all (a statement that lost one) is left out rather than faked.
 */
export function renderGauges(rows: readonly GaugeRow[]): string {
  const out: string[] = [];
  for (const [family, def] of Object.entries(GAUGES) as [string, GaugeDef][]) {
    const own = rows.filter((r) => r.family === family);
    if (own.length === 0) continue;
    out.push(`# HELP ${def.name} ${escapeHelp(def.help)}`, `# TYPE ${def.name} gauge`);
    for (const row of own) {
      const labels = def.label && row.label !== null ? labelText([def.label], { [def.label]: row.label }) : '';
      out.push(`${def.name}${labels} ${num(Number(row.value))}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** Seconds between two timestamps (Date or ISO text), or null when either is missing. */
export function secondsBetween(from: Date | string | null, to: Date | string | null): number | null {
  if (from === null || to === null) return null;
  return (new Date(to).getTime() - new Date(from).getTime()) / 1000;
}
