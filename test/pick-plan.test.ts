/**
 * The pick's plan on a database no ANALYZE has seen (each test file's database is a fresh copy of
 * the migrated template; PGlite never analyzes on its own): the head comes from
 * tasks_queued_pick_idx and the update finds its row by primary key, so a pick reads about as
 * many pages with 600 tasks queued as with one (migration 0008). The plan is read with
 * EXPLAIN (ANALYZE, BUFFERS) inside a transaction that is rolled back.
 */
import { randomUUID } from 'node:crypto';
import { insertTaskBacklog } from '../functions/shared/db/backlog';
import type { Db, Queryable } from '../functions/shared/db/db';
import { claimNextQueuedTask } from '../functions/shared/db/tasks';
import { stores } from './support/databases';

type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
};

/** The claim statement's text and parameters, as claimNextQueuedTask sends them. */
async function claimStatement(): Promise<{ text: string; params: readonly unknown[] }> {
  let captured: { text: string; params: readonly unknown[] } | undefined;
  const recorder: Queryable = {
    async query(text, params) {
      captured = { text, params: params ?? [] };
      return [];
    },
  };
  await claimNextQueuedTask(recorder, {
    agentId: 'plan-probe',
    leaseToken: randomUUID(),
    leaseSeconds: 30,
    deadlineGraceSeconds: 30,
    agentLabels: [],
    now: new Date(),
  });
  if (captured === undefined) throw new Error('claimNextQueuedTask sent no statement');
  return captured;
}

class RollBack extends Error {}

/** The executed plan of one claim, rolled back. */
async function explainClaim(db: Db): Promise<PlanNode> {
  const { text, params } = await claimStatement();
  let plan: PlanNode | undefined;
  await db
    .tx(async (q) => {
      const rows = await q.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`explain (analyze, buffers, format json) ${text}`, params);
      plan = rows[0]?.['QUERY PLAN'][0].Plan;
      throw new RollBack();
    })
    .catch((error) => {
      if (!(error instanceof RollBack)) throw error;
    });
  if (plan === undefined) throw new Error('no plan');
  return plan;
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const pages = (plan: PlanNode) => (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);

describe.each(stores)('the pick plan on a fresh $name database', (store) => {
  let db: Db;
  beforeAll(async () => {
    db = await store.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('takes the head from tasks_queued_pick_idx and updates by primary key, reading as much with 600 queued as with 1', async () => {
    const from = new Date('2026-01-01T00:00:00.000Z');
    await insertTaskBacklog(db, { succeeded: 0, queued: 1, from });
    const one = await explainClaim(db);
    await insertTaskBacklog(db, { succeeded: 0, queued: 599, from });
    const many = await explainClaim(db);

    for (const plan of [one, many]) {
      const onTasks = nodes(plan).filter((n) => n['Relation Name'] === 'tasks' && n['Node Type'].includes('Scan'));
      expect(onTasks.map((n) => [n['Node Type'], n['Index Name']]).sort()).toEqual([
        ['Index Scan', 'tasks_pkey'],
        ['Index Scan', 'tasks_queued_pick_idx'],
      ]);
    }
    // The walk of the whole queue read about one page per 4 tasks (about 150 more here).
    expect(pages(many)).toBeLessThanOrEqual(pages(one) + 20);
  });
});
