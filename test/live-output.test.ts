/**
 * Live output over HTTP, on every store: POST /tasks/{id}/output (the agent's send: offsets,
 * idempotent retries, the lease token, bounded storage), GET /tasks/{id}/output (the reader:
 * offsets, held reads, completion, several readers) and GET /tasks/{id} of a running task.
 */
import { omissionMarker } from '../contract/output-limit';
import { leasePolicy, loadConfig } from '../functions/shared/config';
import type { Db } from '../functions/shared/db/db';
import { expireLeases } from '../functions/shared/lease-expiry';
import { requestLog } from '../functions/shared/logger';
import { movableClock } from './support/clock';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { agentHeaders, call, type Reply, startTestServer, type TestServer } from './support/server';

type Picked = { id: string; leaseToken: string; leaseExpiresAt: string };
type Ack = { stdout: number; stderr: number; cancelRequested: boolean; leaseExpiresAt: string };
type Task = { id: string; state: string; stdout: string; stderr: string; outputTruncated: boolean };

const LIMIT = 4096;
const MARKER = /\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/;

/** Counts the output reads the server runs, to show held reads do not spin. */
function countReads(db: Db): { db: Db; reads: () => number; vacuums: () => number } {
  let reads = 0;
  let vacuums = 0;
  return {
    reads: () => reads,
    vacuums: () => vacuums,
    db: {
      ...db,
      query: (text, params, name) => {
        if (/left join lateral/.test(text)) reads += 1;
        return db.query(text, params, name);
      },
      exec: (sql) => {
        if (/^vacuum/.test(sql)) vacuums += 1;
        return db.exec(sql);
      },
    },
  };
}

describe.each(stores)('live output on $name', (store) => {
  let server: TestServer;
  let counter: ReturnType<typeof countReads>;
  const clock = movableClock();

  beforeAll(async () => {
    server = await startTestServer(
      {
        name: store.name,
        open: async () => {
          counter = countReads(await store.open());
          return counter.db;
        },
      },
      { OUTPUT_LIMIT_BYTES: String(LIMIT), LEASE_SECONDS: '30' },
      clock.now,
    );
  });
  afterAll(async () => {
    await server.stop();
  });

  const start = async (command = 'sleep 100', agent = 'a1'): Promise<Picked> => {
    const created = await call(server.url, 'POST', '/tasks', { body: { command } });
    expect(created.status).toBe(201);
    // Earlier tests may have left queued tasks: pick until this one comes.
    for (;;) {
      const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders(agent) });
      expect(picked.status).toBe(200);
      if ((picked.body as Picked).id === (created.body as Picked).id) return picked.body as Picked;
    }
  };
  const send = (t: Picked, body: unknown, agent = 'a1', token: string | null = t.leaseToken) =>
    call(server.url, 'POST', `/tasks/${t.id}/output`, {
      body,
      headers: agentHeaders(agent, token === null ? {} : { 'x-lease-token': token }),
    });
  const sendOk = async (t: Picked, body: unknown): Promise<Ack> => {
    const reply = await send(t, body);
    expect(reply.status).toBe(200);
    return reply.body as Ack;
  };
  const read = (id: string, query = '') => call(server.url, 'GET', `/tasks/${id}/output${query ? `?${query}` : ''}`);
  const finish = (t: Picked, stdout: string, stderr = '') =>
    call(server.url, 'POST', `/tasks/${t.id}/finish`, {
      body: { exitCode: 0, stdout, stderr },
      headers: agentHeaders('a1', { 'x-lease-token': t.leaseToken }),
    });
  const chunkRows = async (id: string) =>
    server.db.query<{ stream: string; start_offset: string; bytes: number }>(
      'select stream, start_offset, octet_length(data) as bytes from task_output where task_id = $1::uuid order by stream, start_offset',
      [id],
    );
  /** Reads a stream from 0 to its current end, passing back X-Next-Offset. */
  const readAll = async (id: string, stream = 'stdout', from = 0): Promise<{ text: string; next: number; last: Reply }> => {
    let text = '';
    let offset = from;
    for (;;) {
      const r = await read(id, `stream=${stream}&offset=${offset}`);
      expect(r.status).toBe(200);
      text += r.text;
      const next = Number(r.headers.get('x-next-offset'));
      if (next === offset) return { text, next, last: r };
      offset = next;
    }
  };

  describe('POST /tasks/{id}/output', () => {
    it('appends new text at its offset and answers the bytes it holds of each stream', async () => {
      const t = await start();
      expect(await sendOk(t, { stdout: { offset: 0, data: 'hello\n' } })).toMatchObject({ stdout: 6, stderr: 0, cancelRequested: false });
      expect(await sendOk(t, { stdout: { offset: 6, data: 'wörld\n' }, stderr: { offset: 0, data: 'warn' } })).toMatchObject({
        stdout: 13,
        stderr: 4,
      });
      const r = await read(t.id);
      expect(r.text).toBe('hello\nwörld\n');
      expect(r.headers.get('x-next-offset')).toBe('13');
      expect((await read(t.id, 'stream=stderr')).text).toBe('warn');
    });

    it('is idempotent: a repeated send appends nothing, and an overlapping one only the part past what is held', async () => {
      const t = await start();
      await sendOk(t, { stdout: { offset: 0, data: 'abc' } });
      expect((await sendOk(t, { stdout: { offset: 0, data: 'abc' } })).stdout).toBe(3);
      expect((await sendOk(t, { stdout: { offset: 1, data: 'bcdef' } })).stdout).toBe(6);
      expect((await read(t.id)).text).toBe('abcdef');
    });

    it('appends nothing for a chunk that starts past what it holds and answers its figure, so the agent resends from there', async () => {
      const t = await start();
      await sendOk(t, { stdout: { offset: 0, data: 'abc' } });
      expect((await sendOk(t, { stdout: { offset: 10, data: 'lost' } })).stdout).toBe(3);
      expect((await sendOk(t, { stdout: { offset: 3, data: 'def' } })).stdout).toBe(6);
      expect((await read(t.id)).text).toBe('abcdef');
    });

    it('takes a chunk past what it holds once the head is complete; readers see one marker for the bytes between', async () => {
      const t = await start();
      const first = 'h'.repeat(2500);
      expect((await sendOk(t, { stdout: { offset: 0, data: first } })).stdout).toBe(2500);
      expect((await sendOk(t, { stdout: { offset: 100000, data: 'late\n' } })).stdout).toBe(100005);
      const { text } = await readAll(t.id);
      const m = MARKER.exec(text) as RegExpExecArray;
      const head = text.slice(0, m.index);
      expect(first.startsWith(head)).toBe(true);
      expect(text.slice(m.index + m[0].length)).toBe('late\n');
      expect(Number(m[1])).toBe(100000 - head.length);
      const task = (await call(server.url, 'GET', `/tasks/${t.id}`)).body as Task;
      expect(task.stdout).toBe(text);
    });

    it('counts offsets in UTF-8 bytes and never cuts inside a character', async () => {
      const t = await start();
      expect((await sendOk(t, { stdout: { offset: 0, data: '€' } })).stdout).toBe(3);
      // a chunk from offset 2 whose part past 3 bytes would start inside its euro sign
      expect((await sendOk(t, { stdout: { offset: 2, data: '€😀' } })).stdout).toBe(3);
      expect((await sendOk(t, { stdout: { offset: 3, data: '😀' } })).stdout).toBe(7);
      expect((await read(t.id)).text).toBe('€😀');
    });

    it('extends the lease like a heartbeat', async () => {
      const t = await start();
      clock.advance(20);
      const ack = await sendOk(t, { stdout: { offset: 0, data: 'x' } });
      expect(new Date(ack.leaseExpiresAt).getTime()).toBeGreaterThan(new Date(t.leaseExpiresAt).getTime() + 15000);
    });

    it('tells the agent that a cancel was requested', async () => {
      const t = await start();
      await call(server.url, 'POST', `/tasks/${t.id}/cancel`);
      expect((await sendOk(t, {})).cancelRequested).toBe(true);
    });

    it('answers 409 without X-Lease-Token, with a stale one, from another agent and after the finish; 404 for no task', async () => {
      const t = await start();
      const body = { stdout: { offset: 0, data: 'x' } };
      expectProblem(await send(t, body, 'a1', null), 409, /X-Lease-Token is missing/);
      expectProblem(await send(t, body, 'a1', '00000000-0000-4000-8000-000000000000'), 409, /lease token/);
      expectProblem(await send(t, body, 'a1', 'not-a-token'), 409);
      expectProblem(await send(t, body, 'someone-else'), 409, /another agent/);
      expect(await chunkRows(t.id)).toEqual([]);
      expect((await finish(t, 'done')).status).toBe(200);
      expectProblem(await send(t, body), 409, /succeeded/);
      expectProblem(await send({ ...t, id: '7d0c7a34-3c55-4c0e-9d43-000000000000' }, body), 404);
    });

    it('refuses malformed sends with 400 and stores nothing', async () => {
      const t = await start();
      for (const body of [
        { stdout: 'text' },
        { stdout: { offset: -1, data: 'x' } },
        { stdout: { offset: 1.5, data: 'x' } },
        { stdout: { offset: '0', data: 'x' } },
        { stdout: { offset: 0, data: 5 } },
        { stdout: { offset: 0 } },
        { stdout: { offset: 0, data: 'x', extra: 1 } },
        { stdout: { offset: 0, data: 'a\u0000b' } },
        { stdin: { offset: 0, data: 'x' } },
      ]) {
        expectProblem(await send(t, body), 400);
      }
      expect(await chunkRows(t.id)).toEqual([]);
    });

    it('answers 413 to a body over 1 MiB', async () => {
      const t = await start();
      const reply = await send(t, { stdout: { offset: 0, data: 'x'.repeat(1024 * 1024) } });
      expectProblem(reply, 413);
    });

    it('keeps a long stream to its head and a rolling tail, and GET /tasks/{id} shows head, marker and the latest tail', async () => {
      const t = await start();
      const line = (i: number) => `line ${String(i).padStart(6, '0')}\n`; // 12 bytes
      let offset = 0;
      let all = '';
      for (let i = 0; i < 2000; i += 50) {
        const data = Array.from({ length: 50 }, (_, k) => line(i + k)).join('');
        offset = (await sendOk(t, { stdout: { offset, data } })).stdout;
        all += data;
      }
      expect(offset).toBe(Buffer.byteLength(all));
      const rows = await chunkRows(t.id);
      const stored = rows.reduce((n, r) => n + r.bytes, 0);
      // at most the limit plus one chunk (600 bytes) is held
      expect(stored).toBeLessThanOrEqual(LIMIT + 600);
      const task = (await call(server.url, 'GET', `/tasks/${t.id}`)).body as Task;
      expect(task.state).toBe('running');
      expect(task.outputTruncated).toBe(true);
      expect(Buffer.byteLength(task.stdout)).toBeLessThanOrEqual(LIMIT);
      const m = MARKER.exec(task.stdout) as RegExpExecArray;
      const head = task.stdout.slice(0, m.index);
      const tail = task.stdout.slice(m.index + m[0].length);
      expect(all.startsWith(head)).toBe(true);
      expect(all.endsWith(tail)).toBe(true);
      expect(Number(m[1])).toBe(Buffer.byteLength(all) - Buffer.byteLength(head) - Buffer.byteLength(tail));
      expect(tail.endsWith(line(1999))).toBe(true);
      // a reader from 0 gets the head, one marker where the middle is gone, and the tail
      const { text } = await readAll(t.id);
      const rm = MARKER.exec(text) as RegExpExecArray;
      expect(text.match(new RegExp(MARKER.source, 'g'))).toHaveLength(1);
      expect(all.startsWith(text.slice(0, rm.index))).toBe(true);
      expect(all.endsWith(text.slice(rm.index + rm[0].length))).toBe(true);
    });

    it('vacuums task_output once enough chunks were dropped from rolling tails, so their space is reused', async () => {
      const t = await start();
      const before = counter.vacuums();
      const piece = 'v'.repeat(512 * 1024);
      let held = 0;
      // 70 MiB: past the 8 MiB (PGlite) and the 64 MiB (PostgreSQL) thresholds
      for (let i = 0; i < 140; i++) held = (await sendOk(t, { stdout: { offset: held, data: piece } })).stdout;
      expect(counter.vacuums() - before).toBeGreaterThanOrEqual(1);
      expect((await chunkRows(t.id)).reduce((n, r) => n + r.bytes, 0)).toBeLessThanOrEqual(LIMIT + piece.length);
    }, 120000);

    it('stores the finish as it came and deletes the chunks with it', async () => {
      const t = await start();
      await sendOk(t, { stdout: { offset: 0, data: 'live\n' } });
      expect(await chunkRows(t.id)).toHaveLength(1);
      const done = await finish(t, 'live\nfinal\n');
      expect(done.body).toMatchObject({ state: 'succeeded', stdout: 'live\nfinal\n' });
      expect(await chunkRows(t.id)).toEqual([]);
    });
  });

  describe('when the agent is lost', () => {
    const expire = () =>
      expireLeases({
        db: server.db,
        now: clock.now,
        lease: leasePolicy(loadConfig({ LEASE_SECONDS: '30' })),
        metrics: server.deps.metrics,
        log: requestLog(server.deps.logger, { test: 'live-output' }),
      });
    /** Moves the clock past the lease with the reaper watching, as a live server does. */
    const loseLease = async () => {
      await expire();
      for (let s = 0; s < 40; s += 5) {
        clock.advance(5);
        await expire();
      }
    };

    it('keeps the live output it sent: GET /tasks/{id} and the reader show it, complete', async () => {
      const t = await start();
      await sendOk(t, { stdout: { offset: 0, data: 'before the agent vanished\n' } });
      await loseLease();
      const task = (await call(server.url, 'GET', `/tasks/${t.id}`)).body as Task & { error: string };
      expect(task).toMatchObject({ state: 'failed', error: 'agent lost: lease expired', stdout: 'before the agent vanished\n' });
      const r = await read(t.id);
      expect(r.text).toBe('before the agent vanished\n');
      expect(r.headers.get('x-output-complete')).toBe('true');
    });

    it('drops the output of an attempt that is queued again, so the next one streams from 0', async () => {
      const created = (await call(server.url, 'POST', '/tasks', { body: { command: 'sleep 100', maxAttempts: 2 } })).body as { id: string };
      let t: Picked;
      do t = (await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a1') })).body as Picked;
      while (t.id !== created.id);
      await sendOk(t, { stdout: { offset: 0, data: 'first attempt\n' } });
      await loseLease();
      expect(await chunkRows(t.id)).toEqual([]);
      const again = (await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a2') })).body as Picked;
      expect(again.id).toBe(t.id);
      expect((await call(server.url, 'GET', `/tasks/${t.id}`)).body).toMatchObject({ state: 'running', stdout: '' });
      const ack = await send(again, { stdout: { offset: 0, data: 'second\n' } }, 'a2');
      expect(ack.body).toMatchObject({ stdout: 7 });
      expect((await read(t.id)).text).toBe('second\n');
    });
  });

  describe('GET /tasks/{id} of a running task', () => {
    it('shows stdout and stderr so far', async () => {
      const t = await start();
      expect((await call(server.url, 'GET', `/tasks/${t.id}`)).body).toMatchObject({ stdout: '', stderr: '' });
      await sendOk(t, { stdout: { offset: 0, data: 'so far' }, stderr: { offset: 0, data: 'oops' } });
      expect((await call(server.url, 'GET', `/tasks/${t.id}`)).body).toMatchObject({
        state: 'running',
        stdout: 'so far',
        stderr: 'oops',
        outputTruncated: false,
      });
    });
  });

  describe('GET /tasks/{id}/output', () => {
    it('answers text/plain with the offset to read on, the state, and complete only once the task ended and the body reaches the end', async () => {
      const t = await start();
      await sendOk(t, { stdout: { offset: 0, data: 'one\n' } });
      const r1 = await read(t.id);
      expect(r1.status).toBe(200);
      expect(r1.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(r1.headers.get('x-task-state')).toBe('running');
      expect(r1.headers.get('x-output-complete')).toBe('false');
      expect(r1.headers.get('x-next-offset')).toBe('4');
      const empty = await read(t.id, 'offset=4');
      expect(empty.text).toBe('');
      expect(empty.headers.get('x-next-offset')).toBe('4');
      await finish(t, 'one\ntwo\n');
      const rest = await read(t.id, 'offset=4');
      expect(rest.text).toBe('two\n');
      expect(rest.headers.get('x-next-offset')).toBe('8');
      expect(rest.headers.get('x-task-state')).toBe('succeeded');
      expect(rest.headers.get('x-output-complete')).toBe('true');
      const early = await read(t.id, 'offset=0');
      expect(early.headers.get('x-output-complete')).toBe('true');
      expect(early.text).toBe('one\ntwo\n');
    });

    it('gives a reader that passes back X-Next-Offset exactly the final stream, whatever it read live', async () => {
      const t = await start();
      const parts = ['a', 'ü', 'b€\n', '😀😀', 'end'];
      let got = '';
      let offset = 0;
      let held = 0;
      for (const part of parts) {
        held = (await sendOk(t, { stdout: { offset: held, data: part } })).stdout;
        const r = await read(t.id, `offset=${offset}`);
        got += r.text;
        offset = Number(r.headers.get('x-next-offset'));
      }
      const final = `${parts.join('')} and what was never sent live\n`;
      await finish(t, final);
      const r = await read(t.id, `offset=${offset}`);
      got += r.text;
      expect(r.headers.get('x-output-complete')).toBe('true');
      expect(got).toBe(final);
      const task = (await call(server.url, 'GET', `/tasks/${t.id}`)).body as Task;
      expect(task.stdout).toBe(got);
    });

    it('continues a reader in the tail of a stream cut while it read, after the finish, without repeating or losing the end', async () => {
      const t = await start();
      const line = (i: number) => `L${String(i).padStart(5, '0')}\n`; // 7 bytes
      let held = 0;
      let all = '';
      for (let i = 0; i < 3000; i += 100) {
        const data = Array.from({ length: 100 }, (_, k) => line(i + k)).join('');
        held = (await sendOk(t, { stdout: { offset: held, data } })).stdout;
        all += data;
      }
      const { text: live, next } = await readAll(t.id);
      // the agent's final cut of the same stream
      const { capText } = await import('../contract/output-limit');
      const final = capText(all, LIMIT).text;
      await finish(t, final);
      const after = await read(t.id, `offset=${next}`);
      expect(after.text).toBe('');
      expect(after.headers.get('x-output-complete')).toBe('true');
      expect(live.endsWith(line(2999))).toBe(true);
      // a reader lagging in the tail reads exactly the rest
      const lag = held - 700;
      const lagging = await read(t.id, `offset=${lag}`);
      expect(lagging.text).toBe(all.slice(-700));
      // a reader from 0 after the end gets the final text as GET /tasks/{id} has it
      expect((await readAll(t.id)).text).toBe(final);
    });

    it('reads from an offset in the omitted middle as the marker line, then the tail', async () => {
      const t = await start();
      let held = 0;
      for (let i = 0; i < 20; i++) held = (await sendOk(t, { stdout: { offset: held, data: `${String(i % 10).repeat(999)}\n` } })).stdout;
      const rows = await chunkRows(t.id);
      const tailStart = Number(rows.find((r) => Number(r.start_offset) > LIMIT / 2)?.start_offset);
      const r = await read(t.id, 'offset=5000');
      expect(r.text.startsWith(omissionMarker(tailStart - 5000))).toBe(true);
      expect(r.headers.get('x-next-offset')).toBe(String(held));
    });

    it('bounds one body to 1 MiB and continues with X-Next-Offset', async () => {
      const big = await startTestServer(store, { OUTPUT_LIMIT_BYTES: String(4 * 1024 * 1024) });
      try {
        await call(big.url, 'POST', '/tasks', { body: { command: 'sleep 100' } });
        const t = (await call(big.url, 'GET', '/tasks/pick', { headers: agentHeaders('a1') })).body as Picked;
        const piece = 'é'.repeat(200000); // 400,000 bytes
        let held = 0;
        for (let i = 0; i < 4; i++) {
          const reply = await call(big.url, 'POST', `/tasks/${t.id}/output`, {
            body: { stdout: { offset: held, data: piece } },
            headers: agentHeaders('a1', { 'x-lease-token': t.leaseToken }),
          });
          held = (reply.body as Ack).stdout;
        }
        const first = await call(big.url, 'GET', `/tasks/${t.id}/output`);
        expect(Buffer.byteLength(first.text)).toBeLessThanOrEqual(1024 * 1024);
        expect(Buffer.byteLength(first.text)).toBeGreaterThan(1024 * 1024 - 4);
        expect(first.text).not.toContain('\uFFFD');
        const next = Number(first.headers.get('x-next-offset'));
        const second = await call(big.url, 'GET', `/tasks/${t.id}/output?offset=${next}`);
        expect(first.text + second.text).toBe(piece.repeat(4));
      } finally {
        await big.stop();
      }
    });

    it('holds a read until output arrives, and wakes it then', async () => {
      const t = await start();
      const before = counter.reads();
      const held = read(t.id, 'wait=15');
      await new Promise((r) => setTimeout(r, 300));
      const sentAt = Date.now();
      await sendOk(t, { stdout: { offset: 0, data: 'now\n' } });
      const r = await held;
      expect(r.text).toBe('now\n');
      // woken by the send, well before the 15 s wait was over
      expect(Date.now() - sentAt).toBeLessThan(10000);
      // one look on arrival, one after the wake-up
      expect(counter.reads() - before).toBeLessThanOrEqual(3);
    });

    it('holds a read until the task ends, and then answers complete', async () => {
      const t = await start();
      const held = read(t.id, 'wait=15');
      await new Promise((r) => setTimeout(r, 300));
      await finish(t, '');
      const r = await held;
      expect(r.text).toBe('');
      expect(r.headers.get('x-task-state')).toBe('succeeded');
      expect(r.headers.get('x-output-complete')).toBe('true');
    });

    it('wakes a read held on a queued task when it is canceled', async () => {
      const created = (await call(server.url, 'POST', '/tasks', { body: { command: 'true' } })).body as { id: string };
      const held = read(created.id, 'wait=15');
      await new Promise((r) => setTimeout(r, 300));
      await call(server.url, 'POST', `/tasks/${created.id}/cancel`);
      const r = await held;
      expect(r.headers.get('x-task-state')).toBe('canceled');
      expect(r.headers.get('x-output-complete')).toBe('true');
    });

    it('does not spin while held: a few reads, not one per moment, and other tasks’ output does not wake it', async () => {
      const t = await start();
      const other = await start();
      const before = counter.reads();
      const held = read(t.id, 'wait=1.5');
      for (let i = 0; i < 10; i++) {
        await sendOk(other, { stdout: { offset: i, data: 'x' } });
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = await held;
      expect(r.text).toBe('');
      expect(counter.reads() - before).toBeLessThanOrEqual(2);
    });

    it('gives several readers of one task every byte', async () => {
      const t = await start();
      const expected = Array.from({ length: 20 }, (_, i) => `chunk ${i}\n`);
      const follow = async () => {
        let text = '';
        let offset = 0;
        for (;;) {
          const r = await read(t.id, `offset=${offset}&wait=5`);
          text += r.text;
          offset = Number(r.headers.get('x-next-offset'));
          if (r.headers.get('x-output-complete') === 'true') return text;
        }
      };
      const readers = [follow(), follow(), follow()];
      let held = 0;
      for (const part of expected) {
        held = (await sendOk(t, { stdout: { offset: held, data: part } })).stdout;
        await new Promise((r) => setTimeout(r, 20));
      }
      await finish(t, expected.join(''));
      expect(await Promise.all(readers)).toEqual([expected.join(''), expected.join(''), expected.join('')]);
    });

    it('answers 400 problem+json for bad parameters, 404 for no task, 400 for a bad id', async () => {
      const t = await start();
      for (const query of [
        'stream=stdin',
        'stream=',
        'stream=stdout&stream=stderr',
        'offset=-1',
        'offset=1.5',
        'offset=abc',
        'offset=1e3',
        'offset=99999999999999999',
        'wait=21',
        'wait=-1',
        'wait=abc',
        'zzz=1',
      ]) {
        expectProblem(await read(t.id, query), 400);
      }
      expectProblem(await read('7d0c7a34-3c55-4c0e-9d43-000000000000'), 404);
      expectProblem(await read('not-a-uuid'), 400);
    });
  });
});
