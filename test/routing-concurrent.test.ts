/**
 * docs/routing.md under concurrency: 20 pickers with different labels drain tasks spread over label
 * sets and priorities through claimNextQueuedTask, side by side on one pool (on real PostgreSQL,
 * each caller on its own connection). Each task goes to exactly one picker, never to one missing
 * a label, and within one label set each picker gets its tasks best first.
 */
import { randomUUID } from 'node:crypto';
import type { Task } from '../contract/task';
import type { Db } from '../functions/shared/db/db';
import { claimNextQueuedTask, insertTask } from '../functions/shared/db/tasks';
import { stores } from './support/databases';

const PICKERS = 20;
/** Picker p's labels: none, a, b, or both, in turn. */
const PICKER_LABELS = [[], ['a'], ['b'], ['a', 'b']] as const;
const TASK_LABEL_SETS = [[], ['a'], ['b'], ['a', 'b']] as const;
const PRIORITIES = [-10, 0, 5, 100, 1000];
const TASKS = 400;

type Claimed = { id: string; priority: number; labels: string[]; seq: number };

async function drain(db: Db, labelsOf: (p: number) => readonly string[]): Promise<Claimed[][]> {
  return Promise.all(
    Array.from({ length: PICKERS }, async (_, p) => {
      const got: Claimed[] = [];
      for (;;) {
        const row = await claimNextQueuedTask(db, {
          agentId: `picker-${p}`,
          agentLabels: labelsOf(p),
          leaseToken: randomUUID(),
          leaseSeconds: 30,
          deadlineGraceSeconds: 30,
          now: new Date(),
        });
        if (row === null) return got;
        const task = JSON.parse(row.json) as Task;
        got.push({ id: row.id, priority: task.priority, labels: task.labels, seq: Number(row.seq) });
      }
    }),
  );
}

async function insertMany(db: Db, labelSets: readonly (readonly string[])[]): Promise<Map<string, number>> {
  const created = new Map<string, number>();
  for (let n = 0; n < TASKS; n++) {
    const id = randomUUID();
    const priority = PRIORITIES[(n * 7) % PRIORITIES.length] as number;
    await insertTask(db, {
      id,
      command: `echo ${n}`,
      timeoutSeconds: 60,
      maxAttempts: 1,
      idempotencyKey: null,
      requestHash: null,
      priority,
      labels: labelSets[n % labelSets.length] as readonly string[],
      runAt: null,
      now: new Date(),
    });
    created.set(id, priority);
  }
  return created;
}

describe.each(stores)('concurrent routed picks on $name', (store) => {
  let db: Db;
  beforeAll(async () => {
    db = await store.open();
  });
  afterAll(async () => {
    await db.close();
  });
  afterEach(async () => {
    await db.query('delete from tasks');
  });

  it(`hands each of ${TASKS} tasks over 4 label sets to exactly one of ${PICKERS} pickers, never to one missing a label`, async () => {
    const created = await insertMany(db, TASK_LABEL_SETS);
    const labelsOf = (p: number) => PICKER_LABELS[p % PICKER_LABELS.length] as readonly string[];
    const received = await drain(db, labelsOf);
    const all = received.flat();
    expect(all).toHaveLength(created.size);
    expect(new Set(all.map((c) => c.id))).toEqual(new Set(created.keys()));
    received.forEach((got, p) => {
      const own = new Set(labelsOf(p));
      for (const c of got) expect(c.labels.filter((l) => !own.has(l))).toEqual([]);
    });
    // the {a,b} tasks went only to the pickers that have both
    const ab = received.flatMap((got, p) => got.filter((c) => c.labels.length === 2).map(() => p % 4));
    expect(new Set(ab)).toEqual(new Set([3]));
  });

  it(`gives each of ${PICKERS} pickers of one label set its tasks highest priority first, then oldest first`, async () => {
    await insertMany(db, [['a']]);
    const received = await drain(db, () => ['a', 'z']);
    expect(received.flat()).toHaveLength(TASKS);
    for (const got of received) {
      const order = got.map((c) => [-c.priority, c.seq] as const);
      const sorted = [...order].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      expect(order).toEqual(sorted);
    }
    if (db.kind === 'postgres') {
      const [row] = await db.query<{ n: string }>(
        "select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'task-executor'",
      );
      expect(Number(row?.n)).toBeGreaterThanOrEqual(PICKERS);
    }
  });
});
