import { Client } from 'pg';
import type { Db } from '../functions/shared/db/db';
import { QUEUED_CHANNEL } from '../functions/shared/db/tasks';
import type { RunningServer } from '../infra/local/server';
import { waitFor as waitUntil } from './support/clock';
import { describeUnless } from './support/conditional';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, type Reply, startServersOnOneDatabase, startTestServer, type TestServer } from './support/server';

const PG_URL = process.env.TEST_DATABASE_URL;

/** Counts the pick statements the server runs, to show held picks do not spin. */
function countPicks(db: Db): { db: Db; picks: () => number } {
  let picks = 0;
  return {
    picks: () => picks,
    db: {
      ...db,
      query: (text, params) => {
        if (/set state = 'running'/.test(text)) picks += 1;
        return db.query(text, params);
      },
    },
  };
}

type Pending = { done: boolean; reply?: Reply; promise: Promise<Reply> };
const track = (p: Promise<Reply>): Pending => {
  const t: Pending = { done: false, promise: p };
  void p.then((r) => {
    t.done = true;
    t.reply = r;
  });
  return t;
};
const waitFor = (cond: () => boolean, ms = 15000) => waitUntil('a held pick to answer', cond, ms, 20);

describe.each(stores)('long-poll pick on $name', (store) => {
  let server: TestServer;
  let counter: ReturnType<typeof countPicks>;
  beforeAll(async () => {
    server = await startTestServer({
      name: store.name,
      open: async () => {
        counter = countPicks(await store.open());
        return counter.db;
      },
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  const hold = (agent: string, wait = 15) => track(call(server.url, 'GET', `/tasks/pick?wait=${wait}`, { headers: agentHeaders(agent) }));

  it('answers 204 with no body once the wait is over and nothing was queued', async () => {
    const r = await call(server.url, 'GET', '/tasks/pick?wait=0.3', { headers: agentHeaders() });
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
  });

  it('wakes exactly one held picker per queued task, and each task goes to one picker', async () => {
    const held = [hold('p1'), hold('p2'), hold('p3')];
    await new Promise((r) => setTimeout(r, 300)); // let all three reach the wait
    const first = await call(server.url, 'POST', '/tasks', { body: { command: 'echo one' } });
    await waitFor(() => held.some((h) => h.done));
    // give a wrongly woken picker the chance to answer too, then check only one did
    await new Promise((r) => setTimeout(r, 300));
    expect(held.filter((h) => h.done)).toHaveLength(1);
    const winner = held.find((h) => h.done) as Pending;
    expect(winner.reply).toMatchObject({ status: 200, body: { id: (first.body as { id: string }).id } });

    await call(server.url, 'POST', '/tasks', { body: { command: 'echo two' } });
    await call(server.url, 'POST', '/tasks', { body: { command: 'echo three' } });
    const replies = await Promise.all(held.map((h) => h.promise));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    const ids = replies.map((r) => (r.body as { id: string }).id);
    expect(new Set(ids).size).toBe(3);
  });

  it('does not spin while held: a few pick statements per picker, not one per moment', async () => {
    const before = counter.picks();
    const held = [hold('idle1', 1.5), hold('idle2', 1.5), hold('idle3', 1.5)];
    const replies = await Promise.all(held.map((h) => h.promise));
    expect(replies.map((r) => r.status)).toEqual([204, 204, 204]);
    // one look on arrival, one after the (timed-out) wait at most
    expect(counter.picks() - before).toBeLessThanOrEqual(6);
  });

  it('lets an agent that just finished wait without a claim that would find nothing, and still hands it the next task', async () => {
    const created = await call(server.url, 'POST', '/tasks', { body: { command: 'echo first' } });
    const first = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('finisher') });
    expect(first.body).toMatchObject({ id: (created.body as { id: string }).id });
    const waiter = hold('waiter'); // its claim finds nothing; it waits
    await new Promise((r) => setTimeout(r, 200));
    const { id, leaseToken } = first.body as { id: string; leaseToken: string };
    const finished = await call(server.url, 'POST', `/tasks/${id}/finish`, {
      body: { exitCode: 0, stdout: 'first\n', stderr: '' },
      headers: agentHeaders('finisher', { 'x-lease-token': leaseToken }),
    });
    expect(finished.status).toBe(200);
    const before = counter.picks();
    const next = hold('finisher');
    await new Promise((r) => setTimeout(r, 200));
    expect(next.done).toBe(false);
    expect(counter.picks()).toBe(before); // no claim: nothing was queued since the waiter's found nothing
    // The next task goes to the picker that waited longest, the one after to the finisher.
    const second = await call(server.url, 'POST', '/tasks', { body: { command: 'echo second' } });
    expect((await waiter.promise).body).toMatchObject({ id: (second.body as { id: string }).id });
    expect(next.done).toBe(false);
    const third = await call(server.url, 'POST', '/tasks', { body: { command: 'echo third' } });
    expect((await next.promise).body).toMatchObject({ id: (third.body as { id: string }).id, agentId: 'finisher' });
    expect(counter.picks() - before).toBe(2);
  });

  it('claims at once after a finish when a task was queued with nobody waiting for it', async () => {
    const created = await call(server.url, 'POST', '/tasks', { body: { command: 'echo one' } });
    const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('busy') });
    expect(picked.body).toMatchObject({ id: (created.body as { id: string }).id });
    expect((await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('empty') })).status).toBe(204); // found nothing
    const queued = await call(server.url, 'POST', '/tasks', { body: { command: 'echo two' } }); // nobody waits for it
    const { id, leaseToken } = picked.body as { id: string; leaseToken: string };
    await call(server.url, 'POST', `/tasks/${id}/finish`, {
      body: { exitCode: 0, stdout: '', stderr: '' },
      headers: agentHeaders('busy', { 'x-lease-token': leaseToken }),
    });
    const next = await call(server.url, 'GET', '/tasks/pick?wait=5', { headers: agentHeaders('busy') });
    expect(next.body).toMatchObject({ id: (queued.body as { id: string }).id });
  });

  it('answers held picks with 204 when the server shuts down, instead of holding the shutdown', async () => {
    const other = await startTestServer(store);
    const held = track(call(other.url, 'GET', '/tasks/pick?wait=20', { headers: agentHeaders() }));
    await new Promise((r) => setTimeout(r, 300));
    await other.stop();
    const reply = await held.promise;
    expect(reply.status).toBe(204);
  });

  it('rejects a wait outside 0..20 seconds with a 400 problem', async () => {
    for (const wait of ['21', '-1', 'abc', '1e3']) {
      const r = await call(server.url, 'GET', `/tasks/pick?wait=${wait}`, { headers: agentHeaders() });
      expectProblem(r, 400, /wait/);
    }
  });
});

/**
 * Two servers on one real PostgreSQL: a create does not NOTIFY in its transaction (that would
 * make the creates of the whole cluster commit one after another, queue-signal.ts) but wakes its
 * own server's waiters itself and announces the task to the others after the commit.
 */
describeUnless(PG_URL ? null : 'TEST_DATABASE_URL is not set: the two-server long-poll test needs a real PostgreSQL')(
  'long-poll pick across two servers on one PostgreSQL',
  () => {
    let cluster: Awaited<ReturnType<typeof startServersOnOneDatabase>> | undefined;
    let servers: RunningServer[] = [];
    let listener: Client;
    const heard: string[] = [];
    beforeAll(async () => {
      cluster = await startServersOnOneDatabase(PG_URL as string, 2);
      servers = cluster.servers;
      listener = new Client({ connectionString: cluster.scratch.url });
      await listener.connect();
      listener.on('notification', (n) => heard.push(n.payload ?? ''));
      await listener.query(`listen ${QUEUED_CHANNEL}`);
    });
    afterAll(async () => {
      await listener?.end();
      await cluster?.stop();
    });

    it('answers a pick held on one server with a task created on the other, long before its wait ends', async () => {
      const [a, b] = servers as [RunningServer, RunningServer];
      heard.length = 0;
      const started = performance.now();
      const held = call(b.url, 'GET', '/tasks/pick?wait=15', { headers: agentHeaders('on-b') });
      await new Promise((r) => setTimeout(r, 300)); // the pick reaches its wait
      const created = await call(a.url, 'POST', '/tasks', { body: { command: 'echo across' } });
      expect(created.status).toBe(201);
      const reply = await held;
      expect(reply).toMatchObject({ status: 200, body: { id: (created.body as { id: string }).id, agentId: 'on-b' } });
      // woken by the announcement, not by the end of its 15 s wait
      expect(performance.now() - started).toBeLessThan(10000);
      // one announcement, sent after the commit by server a, and no NOTIFY from the insert itself
      await waitUntil('the announcement', () => heard.length > 0, 5000, 20);
      expect(heard).toEqual([expect.stringMatching(/^@[\w-]+ 1 $/)]);
    });

    it('wakes a pick held on the same server without waiting for the announcement', async () => {
      const [a] = servers as [RunningServer, RunningServer];
      const held = call(a.url, 'GET', '/tasks/pick?wait=15', { headers: agentHeaders('on-a') });
      await new Promise((r) => setTimeout(r, 300));
      const created = await call(a.url, 'POST', '/tasks', { body: { command: 'echo here', labels: ['local'] } });
      expect(created.status).toBe(201);
      // an agent without the label does not get it; the unlabelled task that follows is its
      await new Promise((r) => setTimeout(r, 300));
      const other = await call(a.url, 'POST', '/tasks', { body: { command: 'echo any' } });
      const reply = await held;
      expect(reply).toMatchObject({ status: 200, body: { id: (other.body as { id: string }).id } });
    });
  },
);
