/**
 * docs/api.md, pick: under any concurrency a task is handed to exactly one agent. 24 pickers drain
 * 400 queued tasks, over HTTP (one connection each) and through the SQL function directly.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Db } from '../functions/shared/db/db';
import { claimNextQueuedTask, insertTask } from '../functions/shared/db/tasks';
import { stores } from './support/databases';
import { call, startTestServer, type TestServer } from './support/server';

const PICKERS = 24;
const TASKS = 400;

/** One GET /tasks/pick on the picker's own connection: the task id, or null on 204. */
function pickOverHttp(url: string, agent: Agent, agentId: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/tasks/pick`, { method: 'GET', agent, headers: { 'x-agent-id': agentId } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 204) resolve(null);
        else if (res.statusCode === 200) resolve((JSON.parse(text) as { id: string }).id);
        else reject(new Error(`pick answered ${res.statusCode}: ${text}`));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs every picker at once until each gets "none"; returns what each received, in order. */
async function drain(pickers: number, pickOnce: (picker: number) => Promise<string | null>) {
  let inFlight = 0;
  let maxInFlight = 0;
  const received = await Promise.all(
    Array.from({ length: pickers }, async (_, picker) => {
      const got: string[] = [];
      for (;;) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const id = await pickOnce(picker).finally(() => inFlight--);
        if (id === null) return got;
        got.push(id);
      }
    }),
  );
  return { received, maxInFlight };
}

/** Every task exactly once, and each picker's tasks in creation order. */
function expectFairDrain(received: string[][], created: string[]): void {
  const all = received.flat();
  expect(all).toHaveLength(created.length);
  expect(new Set(all).size).toBe(created.length);
  expect([...all].sort()).toEqual([...created].sort());
  const order = new Map(created.map((id, i) => [id, i]));
  for (const got of received) {
    const positions = got.map((id) => order.get(id) as number);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  }
}

describe.each(stores)('concurrent picks on $name', (store) => {
  describe('over HTTP, one connection per picker', () => {
    let server: TestServer;
    const agents: Agent[] = [];

    beforeAll(async () => {
      server = await startTestServer(store);
    });
    afterAll(async () => {
      for (const agent of agents) agent.destroy();
      await server.stop();
    });

    it(`hands each of ${TASKS} tasks to exactly one of ${PICKERS} pickers, in creation order per picker`, async () => {
      const created: string[] = [];
      for (let n = 0; n < TASKS; n++) {
        const reply = await call(server.url, 'POST', '/tasks', { body: { command: `echo ${n}` } });
        created.push((reply.body as { id: string }).id);
      }
      let connections = 0;
      server.server.on('connection', () => connections++);
      for (let i = 0; i < PICKERS; i++) agents.push(new Agent({ keepAlive: true, maxSockets: 1 }));

      const { received, maxInFlight } = await drain(PICKERS, (p) => pickOverHttp(server.url, agents[p] as Agent, `picker-${p}`));

      expect(maxInFlight).toBe(PICKERS);
      expect(connections).toBeGreaterThanOrEqual(PICKERS);
      expectFairDrain(received, created);
      const rows = await server.db.query<{ id: string; state: string; agent_id: string }>('select id, state, agent_id from tasks');
      const holder = new Map(received.flatMap((ids, p) => ids.map((id) => [id, `picker-${p}`] as const)));
      for (const row of rows) {
        expect(row.state).toBe('running');
        expect(row.agent_id).toBe(holder.get(row.id));
      }
      // 400 creates and 24 pickers over HTTP on PGlite took over 60 s at a load average of 17.
    }, 180000);
  });

  describe('calling claimNextQueuedTask directly', () => {
    let db: Db;

    beforeAll(async () => {
      db = await store.open();
    });
    afterAll(async () => {
      await db.close();
    });

    it(`hands each of ${TASKS} tasks to exactly one of ${PICKERS} concurrent callers, in creation order per caller`, async () => {
      const created: string[] = [];
      for (let n = 0; n < TASKS; n++) {
        const id = randomUUID();
        await insertTask(db, {
          id,
          command: `echo ${n}`,
          timeoutSeconds: 60,
          maxAttempts: 1,
          idempotencyKey: null,
          requestHash: null,
          priority: 0,
          labels: [],
          runAt: null,
          now: new Date(),
        });
        created.push(id);
      }

      const { received, maxInFlight } = await drain(PICKERS, async (p) => {
        const row = await claimNextQueuedTask(db, {
          agentId: `caller-${p}`,
          leaseToken: randomUUID(),
          leaseSeconds: 30,
          deadlineGraceSeconds: 30,
          agentLabels: [],
          now: new Date(),
        });
        return row?.id ?? null;
      });

      expect(maxInFlight).toBe(PICKERS);
      expectFairDrain(received, created);
      if (db.kind === 'postgres') {
        // The pool opened a connection per concurrent caller: the claims really ran side by side.
        const [row] = await db.query<{ n: string }>(
          "select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'task-executor'",
        );
        expect(Number(row?.n)).toBeGreaterThanOrEqual(PICKERS);
      }
    });
  });
});
