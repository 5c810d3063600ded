/**
 * `npm run bench:metrics [-- --rows N] [-- --stores postgres,pglite] [-- --only writer,gauges,agents]`
 *
 * What observing costs (docs/metrics.md):
 * - writer: one scrape's text from this project's writer (functions/shared/metrics.ts) against
 *   prom-client 15 holding the same series and observations;
 * - gauges: the gauge statement (db/metrics.ts) on a table of `--rows` finished tasks (default
 *   1,000,000) plus 1,000 queued and 10 running, p50/p99 of 30 runs, and its plan;
 * - agents: claim+finish and heartbeat through the project's SQL functions, 10 connections, no
 *   HTTP (the statements that also write the agents table), to compare against a checkout without them.
 * PostgreSQL from BENCH_DATABASE_URL / TEST_DATABASE_URL (a scratch database, dropped after); PGlite in memory.
 */
import { randomUUID } from 'node:crypto';
import { Counter, Histogram, Registry } from 'prom-client';
import { TASK_STATES } from '../contract/task';
import { insertTaskBacklog } from '../functions/shared/db/backlog';
import { selectGauges } from '../functions/shared/db/metrics';
import { type ClaimedTask, claimNextQueuedTask, extendTaskLease } from '../functions/shared/db/tasks';
import { COUNTERS, createMetrics, DURATION_BUCKETS, HISTOGRAMS, renderGauges } from '../functions/shared/metrics';
import { openStandaloneStore, type StandaloneStore } from './database';
import { concurrently, num, percentile } from './http';
import { finishClaimed } from './phases/floor';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const ROWS = Number(arg('rows', '1000000'));
const STORES = arg('stores', 'postgres,pglite').split(',');
const ONLY = arg('only', 'writer,gauges,agents').split(',');
const say = (line: string) => process.stdout.write(`${line}\n`);
const us = (msValue: number) => `${(msValue * 1000).toFixed(0)} µs`;

/** The series a busy server shows: 4 finished states, 13 routes x 3 statuses, two histograms with 10,000 observations each. */
function workload() {
  const routes = Array.from({ length: 13 }, (_, i) => `GET /route-${i}/{id}`);
  const statuses = ['200', '400', '409'];
  const waits = Array.from({ length: 10000 }, (_, i) => (i % 97) * 0.37);
  return { routes, statuses, waits };
}

async function benchWriter(): Promise<void> {
  const { routes, statuses, waits } = workload();
  const own = createMetrics();
  const registry = new Registry();
  const finished = new Counter({ name: COUNTERS.tasksFinished.name, help: 'x', labelNames: ['state'], registers: [registry] });
  const http = new Counter({ name: COUNTERS.httpResponses.name, help: 'x', labelNames: ['route', 'status'], registers: [registry] });
  const wait = new Histogram({ name: HISTOGRAMS.queueWait.name, help: 'x', buckets: [...DURATION_BUCKETS], registers: [registry] });
  const run = new Histogram({ name: HISTOGRAMS.run.name, help: 'x', buckets: [...DURATION_BUCKETS], registers: [registry] });
  for (const state of ['succeeded', 'failed', 'timed_out', 'canceled']) {
    own.inc('tasksFinished', { state }, 5);
    finished.inc({ state }, 5);
  }
  for (const route of routes) {
    for (const status of statuses) {
      own.inc('httpResponses', { route, status });
      http.inc({ route, status });
    }
  }
  for (const w of waits) {
    own.observe('queueWait', w);
    own.observe('run', w);
    wait.observe(w);
    run.observe(w);
  }
  const n = 5000;
  for (const [name, scrape] of [
    ['own writer', async () => own.render()],
    ['prom-client 15.1.3', () => registry.metrics()],
  ] as const) {
    for (let i = 0; i < 200; i++) await scrape();
    const t0 = performance.now();
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes = (await scrape()).length;
    const per = (performance.now() - t0) / n;
    say(`writer: ${name}: ${us(per)} per scrape (${num(bytes)} bytes, mean of ${num(n)})`);
  }
  // What one observation costs (the hot path: a pick, a finish).
  for (const [name, observe] of [
    ['own writer', (v: number) => own.observe('queueWait', v)],
    ['prom-client 15.1.3', (v: number) => wait.observe(v)],
  ] as const) {
    const m = 1_000_000;
    const t0 = performance.now();
    for (let i = 0; i < m; i++) observe((i % 1000) * 0.01);
    say(`writer: ${name}: ${(((performance.now() - t0) * 1e6) / m).toFixed(0)} ns per histogram observation`);
  }
}

async function timedRuns(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= 3) out.push(performance.now() - t0);
  }
  return out;
}

async function benchGauges(store: StandaloneStore): Promise<void> {
  const { db } = store;
  const t0 = performance.now();
  // In slices: one statement of a million rows outlasts the pool's statement timeout.
  const slice = 100_000;
  const from = new Date(Date.now() - 3 * 86400_000);
  for (let done = 0; done < ROWS; done += slice) await insertTaskBacklog(db, { succeeded: Math.min(slice, ROWS - done), queued: 0, from });
  await insertTaskBacklog(db, { succeeded: 0, queued: 1010, from: new Date(Date.now() - 60_000) });
  for (let i = 0; i < 10; i++) {
    await claimNextQueuedTask(db, {
      agentId: `bench-${i}`,
      leaseToken: randomUUID(),
      leaseSeconds: 30,
      deadlineGraceSeconds: 30,
      agentLabels: [],
      now: new Date(),
    });
  }
  await db.query('vacuum (analyze) tasks');
  say(`gauges: ${store.name}: ${num(ROWS + 1010)} tasks loaded and vacuumed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const query = () => selectGauges(db, { states: TASK_STATES, now: new Date(), seenSince: new Date(Date.now() - 30_000) });
  const runs = await timedRuns(30, query);
  const rows = await query();
  say(
    `gauges: ${store.name}: selectGauges at ${num(ROWS + 1010)} tasks: p50 ${percentile(runs, 50).toFixed(1)} ms, p99 ${percentile(runs, 99).toFixed(1)} ms (30 runs)`,
  );
  say(
    renderGauges(rows)
      .trimEnd()
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  if (store.name === 'postgres') {
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers) select (select count(*) from (select 1 from tasks t where t.state = 'succeeded' limit 1000000) c)`,
    );
    say(`  succeeded count plan:\n${plan.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}`);
  }
}

async function benchAgentWrites(store: StandaloneStore): Promise<void> {
  const { db } = store;
  const n = store.name === 'pglite' ? 4000 : 10000;
  const workers = 10;
  await insertTaskBacklog(db, { succeeded: 0, queued: n, from: new Date(Date.now() - 60_000) });
  await db.query('vacuum (analyze) tasks');
  const held: { row: ClaimedTask; agentId: string }[] = [];
  const t0 = performance.now();
  await concurrently(workers, n, async (_i, w) => {
    const row = await claimNextQueuedTask(db, {
      agentId: `bench-agent-${w}`,
      leaseToken: randomUUID(),
      leaseSeconds: 30,
      deadlineGraceSeconds: 30,
      agentLabels: [],
      now: new Date(),
    });
    if (row === null) throw new Error('nothing to claim');
    if (held.length < workers * 10) {
      held.push({ row, agentId: `bench-agent-${w}` });
      return;
    }
    if ((await finishClaimed(db, row, `bench-agent-${w}`)) === null) throw new Error('finish matched no row');
  });
  const rate = n / ((performance.now() - t0) / 1000);
  const beats = store.name === 'pglite' ? 4000 : 20000;
  const t1 = performance.now();
  await concurrently(workers, beats, async (i) => {
    const { row, agentId } = held[i % held.length] as (typeof held)[number];
    const ok = await extendTaskLease(db, {
      id: row.id,
      agentId,
      leaseToken: row.lease_token,
      leaseSeconds: 30,
      now: new Date(),
    });
    if (ok === null) throw new Error('heartbeat matched no row');
  });
  const beatRate = beats / ((performance.now() - t1) / 1000);
  say(
    `agents: ${store.name}: claim+finish ${num(rate)}/s (${num(n)} tasks, ${workers} connections); heartbeat ${num(beatRate)}/s (${num(beats)})`,
  );
}

async function main(): Promise<void> {
  if (ONLY.includes('writer')) await benchWriter();
  for (const name of STORES) {
    if (!ONLY.includes('gauges') && !ONLY.includes('agents')) break;
    const store = await openStandaloneStore(name === 'pglite' ? 'pglite' : 'postgres', say);
    if (store === null) continue;
    try {
      if (ONLY.includes('agents')) await benchAgentWrites(store);
      if (ONLY.includes('gauges')) await benchGauges(store);
    } finally {
      await store.close();
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
