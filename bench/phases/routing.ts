/**
 * Routing and delayed tasks (docs/routing.md): pick through claimNextQueuedTask on a table of
 * `rows` queued tasks spread over 10 label sets and 5 priorities, against the same picks on a
 * table of a few hundred; and the promotion delay (startedAt - runAt) of delayed tasks reaching
 * idle agents through a real server.
 */
import { randomUUID } from 'node:crypto';
import { insertTaskBacklog } from '../../functions/shared/db/backlog';
import type { Db, Queryable } from '../../functions/shared/db/db';
import { claimNextQueuedTask } from '../../functions/shared/db/tasks';
import type { RunningServer } from '../../infra/local/server';
import { explainIn } from '../database';
import { percentile } from '../http';

export const LABEL_SETS = 10;
export const PRIORITIES = 5;
/** Agents as the bench picks: one whose labels cover every set, one that covers two ({} and {pool-3}). */
export const PICKERS = {
  all: Array.from({ length: LABEL_SETS - 1 }, (_, i) => `pool-${i + 1}`),
  one: ['pool-3'],
} as const;

export type PickFigures = { p50: number; p99: number };
export type RoutingPickResult = {
  rows: number;
  empty: Record<keyof typeof PICKERS, PickFigures>;
  big: Record<keyof typeof PICKERS, PickFigures>;
  /** EXPLAIN (ANALYZE, BUFFERS) of one pick by the agent covering every set, on the small queue and on the big one */
  plans: { empty: string; big: string };
  loadMs: number;
};

const pickAs = (labels: readonly string[]) => (q: Queryable) =>
  claimNextQueuedTask(q, {
    agentId: 'bench-routing',
    agentLabels: labels,
    leaseToken: randomUUID(),
    leaseSeconds: 30,
    deadlineGraceSeconds: 30,
    now: new Date(),
  });

async function pickLatency(db: Db, labels: readonly string[], n: number, warm: number): Promise<PickFigures> {
  const times: number[] = [];
  for (let i = 0; i < n + warm; i++) {
    const t0 = performance.now();
    const row = await pickAs(labels)(db);
    if (row === null) throw new Error('bench: the queue ran dry');
    if (i >= warm) times.push(performance.now() - t0);
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/**
 * Pick p50/p99 on a small queue, then on `rows` queued tasks (10 label sets, 5 priorities), and
 * the plans. `maintain` vacuums, analyzes and checkpoints after each load (as a table built over
 * weeks would have been), so neither autovacuum nor the checkpointer runs through the picks.
 */
export async function measureRoutedPick(
  db: Db,
  rows: number,
  maintain: () => Promise<void>,
  n = 300,
  warm = 30,
): Promise<RoutingPickResult> {
  const explain = () =>
    db.kind === 'postgres' ? explainIn(db, pickAs(PICKERS.all)) : Promise.resolve('(EXPLAIN ANALYZE: PostgreSQL only)');
  const from = new Date(Date.now() - 3600_000);
  const small = (n + warm) * 2 * LABEL_SETS;
  await insertTaskBacklog(db, { succeeded: 0, queued: small, from, labelSets: LABEL_SETS, priorities: PRIORITIES });
  await maintain();
  const empty = { all: await pickLatency(db, PICKERS.all, n, warm), one: await pickLatency(db, PICKERS.one, n, warm) };
  const emptyPlan = await explain();
  const t0 = performance.now();
  for (let done = 0; done < rows; done += 20_000) {
    await insertTaskBacklog(db, {
      succeeded: 0,
      queued: Math.min(20_000, rows - done),
      from,
      labelSets: LABEL_SETS,
      priorities: PRIORITIES,
    });
  }
  await maintain();
  const loadMs = performance.now() - t0;
  const big = { all: await pickLatency(db, PICKERS.all, n, warm), one: await pickLatency(db, PICKERS.one, n, warm) };
  return { rows, empty, big, plans: { empty: emptyPlan, big: await explain() }, loadMs };
}

/** Delayed tasks come due this far apart: 20 a second, well under what 8 agents finish on this box. */
const SPACING_MS = 50;

export type PromotionResult = { tasks: number; p50: number; p99: number; max: number };

/**
 * `tasks` delayed tasks (runAt 2 s ahead, SPACING_MS apart, so the agents are idle when each comes due) reach `agents` idle agents holding
 * long-poll picks over HTTP (each finishes its task at once and picks again); the delay is
 * startedAt - runAt, as the server recorded both.
 */
export async function measurePromotionDelay(server: RunningServer, tasks = 200, agents = 8): Promise<PromotionResult> {
  const base = Date.now() + 2000;
  let stop = false;
  const started: number[] = [];
  const headersOf = (a: number) => ({ 'x-agent-id': `bench-idle-${a}`, 'content-type': 'application/json' });
  const loops = Array.from({ length: agents }, async (_, a) => {
    while (!stop) {
      const res = await fetch(`${server.url}/tasks/pick?wait=2`, { headers: headersOf(a) });
      if (res.status !== 200) {
        await res.arrayBuffer();
        continue;
      }
      const t = (await res.json()) as { id: string; leaseToken: string; runAt: string; startedAt: string };
      started.push(Date.parse(t.startedAt) - Date.parse(t.runAt));
      await fetch(`${server.url}/tasks/${t.id}/finish`, {
        method: 'POST',
        headers: { ...headersOf(a), 'x-lease-token': t.leaseToken },
        body: JSON.stringify({ exitCode: 0, stdout: '', stderr: '' }),
      }).then((r) => r.arrayBuffer());
    }
  });
  for (let i = 0; i < tasks; i++) {
    const runAt = new Date(base + i * SPACING_MS).toISOString();
    const res = await fetch(`${server.url}/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'true', runAt }),
    });
    if (res.status !== 201) throw new Error(`bench: create answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }
  const deadline = Date.now() + 60_000;
  while (started.length < tasks && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(loops);
  return { tasks: started.length, p50: percentile(started, 50), p99: percentile(started, 99), max: Math.max(...started) };
}
