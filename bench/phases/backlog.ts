/**
 * What a big table costs: pick and the first list page, over HTTP and as SQL alone, on the
 * table as the run left it, then again after a backlog of options.sizes.backlog finished tasks
 * (and some queued ones) was loaded into it.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Queryable } from '../../functions/shared/db/db';
import { type ClaimedTask, claimNextQueuedTask, selectTaskPage } from '../../functions/shared/db/tasks';
import { type BenchDb, openEmbeddedAt } from '../database';
import { ms, num, percentile } from '../http';
import { createTasks, pickAndListLatency } from '../load';
import { type Stage, withServerStopped } from '../system';
import { finishClaimed } from './floor';

export type SqlLatency = { pick: number; list: number };
export type BacklogResult = {
  /** rows in the table before and after the backlog */
  rowsBefore: number;
  rowsAfter: number;
  before: { pick: number[]; list: number[]; sql: SqlLatency | null; scrape: number[] };
  after: { pick: number[]; list: number[]; sql: SqlLatency | null; scrape: number[] };
  /** what the vacuum after the bulk insert said of the indexes (PostgreSQL) */
  vacuum: string | null;
  /** EXPLAIN of pick and list on the big table (--verbose) */
  plans: string[];
  insertMs: number;
};

const pickAs = (agentId: string) => (q: Queryable) =>
  claimNextQueuedTask(q, {
    agentId,
    leaseToken: randomUUID(),
    leaseSeconds: 30,
    deadlineGraceSeconds: 30,
    agentLabels: [],
    now: new Date(),
  });
const firstPage = (q: Queryable) => selectTaskPage(q, { states: null, beforeSeq: null, limit: 100 });

/** Milliseconds of each of `n` runs of `fn` on the database. */
async function timed<T>(bdb: BenchDb, n: number, fn: (q: Queryable) => Promise<T>): Promise<{ ms: number[]; results: T[] }> {
  const out = { ms: [] as number[], results: [] as T[] };
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    out.results.push(await fn(bdb.db));
    out.ms.push(performance.now() - t0);
  }
  return out;
}

/**
 * p50 of pick (committed, as the server runs it: it claims latency+warm queued tasks, which are
 * finished afterwards, untimed) and of the first-page list, through the project's SQL functions
 * after a few untimed runs; null where the server's database cannot be reached from here (PGlite).
 */
async function sqlLatency(stage: Stage): Promise<SqlLatency | null> {
  const { bdb } = stage;
  if (!bdb.sharedWithServer) return null;
  const { latency } = stage.ctx.options.sizes;
  const warm = stage.ctx.options.latencyWarm;
  const picks = await timed(bdb, latency + warm, pickAs('bench-sql'));
  for (const row of picks.results.filter((r): r is ClaimedTask => r !== null)) await finishClaimed(bdb.db, row, 'bench-sql');
  const lists = await timed(bdb, latency + warm, firstPage);
  return { pick: percentile(picks.ms.slice(warm), 50), list: percentile(lists.ms.slice(warm), 50) };
}

/** Loads the backlog, vacuums and checkpoints it, and (--verbose) explains pick and list on it. */
async function loadBacklog(stage: Stage, bdb: BenchDb): Promise<Pick<BacklogResult, 'vacuum' | 'plans' | 'insertMs'>> {
  const { sizes, verbose } = stage.ctx.options;
  const total = sizes.backlog + sizes.backlogQueued;
  const from = new Date(Date.now() - (total / 1000 + 3600) * 1000);
  const t0 = performance.now();
  await bdb.insertBacklog(sizes.backlog, sizes.backlogQueued, from);
  const insertMs = performance.now() - t0;
  // A backlog built up over weeks has long been vacuumed, analyzed and checkpointed; one loaded in
  // a single statement has not, and autovacuum and the checkpointer would then run through the
  // measurement (and slow the picks' commits, not the reads). Do that work now, outside it.
  const t1 = performance.now();
  const vacuum = await bdb.vacuum();
  await bdb.checkpoint().catch((error) => stage.ctx.detail(`checkpoint skipped: ${(error as Error).message}`));
  stage.ctx.detail(
    `backlog of ${num(total)} rows inserted in ${ms(insertMs)}; vacuum (analyze) and checkpoint ${ms(performance.now() - t1)}`,
  );
  const plans: string[] = [];
  if (verbose) {
    plans.push(`pick (claimNextQueuedTask), EXPLAIN ANALYZE, rolled back:\n${await bdb.explain(pickAs('bench-explain'))}`);
    plans.push(`GET /tasks first page (selectTaskPage, limit 100):\n${await bdb.explain(firstPage)}`);
  }
  return { vacuum, plans, insertMs };
}

/** Milliseconds of `n` scrapes of GET /metrics (its gauges count every state of the table, up to 1,000,000 each). */
async function scrapeLatency(stage: Stage, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + stage.ctx.options.latencyWarm; i++) {
    const r = await stage.api.request('GET', '/metrics');
    if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}: ${r.text.slice(0, 200)}`);
    if (i >= stage.ctx.options.latencyWarm) out.push(r.ms);
  }
  return out;
}

/** Latency before and after the backlog; `rowsSoFar` is how many tasks the run created before. */
export async function measureBacklog(stage: Stage, rowsSoFar: number): Promise<BacklogResult> {
  const { sizes, latencyWarm, embedded } = stage.ctx.options;
  stage.ctx.say('latency before the backlog (the table holds only the tasks of this run so far)');
  // Queued tasks for the picks: the SQL-alone picks (PostgreSQL) and the HTTP picks.
  const queued = (sizes.latency + latencyWarm) * (stage.bdb.sharedWithServer ? 2 : 1);
  await createTasks(stage.clients, queued);
  const rowsBefore = rowsSoFar + queued;
  const beforeSql = await sqlLatency(stage);
  const beforeHttp = await pickAndListLatency(stage, sizes.latency);
  // A scrape is far slower than a pick on a big table: a tenth as many runs.
  const scrapes = Math.max(5, Math.ceil(sizes.latency / 10));
  const beforeScrape = await scrapeLatency(stage, scrapes);

  stage.ctx.say(`a ${num(sizes.backlog)}-task table`);
  const loaded = embedded
    ? // The server's PGlite holds its directory: stop it, fill the table here, start it again.
      await withServerStopped(stage, async () => {
        const own = await openEmbeddedAt(join(stage.ctx.tmp, 'data'));
        try {
          return await loadBacklog(stage, own);
        } finally {
          await own.close();
        }
      })
    : await loadBacklog(stage, stage.bdb);
  const afterSql = await sqlLatency(stage);
  const afterHttp = await pickAndListLatency(stage, sizes.latency);
  const afterScrape = await scrapeLatency(stage, scrapes);
  return {
    rowsBefore,
    rowsAfter: rowsBefore + sizes.backlog + sizes.backlogQueued,
    before: { ...beforeHttp, sql: beforeSql, scrape: beforeScrape },
    after: { ...afterHttp, sql: afterSql, scrape: afterScrape },
    ...loaded,
  };
}
