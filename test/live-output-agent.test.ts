/**
 * Live output end to end: the real agent process (`node --import tsx agent/main.ts`) streaming
 * to the real server over HTTP, read back through GET /tasks/{id}/output, on every store. Where
 * the host gives commands a PID namespace, the agent is made to use one (AGENT_CONTAINMENT), so
 * every case streams from inside it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTask, type Proc, startAgent, startDroppingProxy, stopAll, stopProcess, submit, waitFor, waitState } from './faults/support';
import { itUnless } from './support/conditional';
import { stores } from './support/databases';
import { call, startTestServer, type TestServer } from './support/server';

const MARKER = /\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n/g;

const namespaceMissing = (() => {
  const args = process.getuid?.() === 0 ? [] : ['--user', '--map-current-user'];
  const probe = spawnSync('unshare', [...args, '--pid', '--fork', '--kill-child', '--mount-proc', 'true']);
  return probe.status === 0 ? null : 'no PID namespace for commands here (the agent falls back to the process group)';
})();

/** The agent process's peak resident memory (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) * 1024;
}

/** Follows a stream from 0 with held reads until it is complete; calls onPiece with each non-empty body. */
async function follow(
  base: string,
  id: string,
  onPiece: (text: string, state: string) => void = () => {},
  stream = 'stdout',
): Promise<string> {
  let text = '';
  let offset = 0;
  for (;;) {
    const r = await call(base, 'GET', `/tasks/${id}/output?stream=${stream}&offset=${offset}&wait=5`);
    if (r.status !== 200) throw new Error(`read answered ${r.status}: ${r.text}`);
    if (r.text !== '') onPiece(r.text, r.headers.get('x-task-state') as string);
    text += r.text;
    offset = Number(r.headers.get('x-next-offset'));
    if (r.headers.get('x-output-complete') === 'true') return text;
  }
}

describe.each(stores)('live output from the real agent on $name', (store) => {
  let server: TestServer;
  let agent: Proc;
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'te-live-'));
    server = await startTestServer(store);
    agent = startAgent('live-agent', server.url, {
      POLL_WAIT: '2s',
      ...(namespaceMissing === null ? { AGENT_CONTAINMENT: 'pid-namespace' } : {}),
    });
    await waitFor('the agent to start', () => /agent started/.test(agent.output()), 30000);
  }, 60000);
  afterAll(async () => {
    await stopAll();
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('shows each line of a command printing one a second while it runs, each before the next is written', async () => {
    // The command writes line i, then waits (up to 10 s) until the reader has seen it.
    const prefix = join(scratch, `seen-${store.name}-`);
    const seen = (i: number) => `${prefix}${i}`;
    const command = `for i in 1 2 3 4 5; do echo "line $i $(date +%s%3N)"; n=0; while [ ! -e ${prefix}$i ] && [ $n -lt 500 ]; do sleep 0.02; n=$((n+1)); done; [ -e ${prefix}$i ] || echo "NOT SEEN $i"; sleep 1; done`;
    const task = await submit(server.url, { command });
    const delays: number[] = [];
    const states: string[] = [];
    const text = await follow(server.url, task.id, (piece, state) => {
      for (const m of piece.matchAll(/^line (\d) (\d+)$/gm)) {
        delays.push(Date.now() - Number(m[2]));
        states.push(state);
        writeFileSync(seen(Number(m[1])), '');
      }
    });
    expect(text).not.toMatch(/NOT SEEN/);
    expect(text.match(/^line \d/gm)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(states.every((s) => s === 'running')).toBe(true);
    expect((await getTask(server.url, task.id)).stdout).toBe(text);
    console.log(`line written -> seen by a held reader, ${store.name}: ${delays.map((d) => `${d} ms`).join(', ')}`);
  }, 60000);

  it('shows output without a newline while the command runs', async () => {
    const flag = join(scratch, `no-newline-${store.name}`);
    const task = await submit(server.url, {
      command: `printf 'no newline yet'; n=0; while [ ! -e ${flag} ] && [ $n -lt 500 ]; do sleep 0.02; n=$((n+1)); done; printf ' and then the end'`,
    });
    const pieces: [string, string][] = [];
    const text = await follow(server.url, task.id, (piece, state) => {
      pieces.push([piece, state]);
      if (piece.includes('no newline yet')) writeFileSync(flag, '');
    });
    expect(pieces[0]).toEqual(['no newline yet', 'running']);
    expect(text).toBe('no newline yet and then the end');
  }, 60000);

  it('streams 50 MB with bounded memory in the agent and the database, and ends with head, marker and tail', async () => {
    const task = await submit(server.url, { command: 'head -c 50000000 /dev/urandom | base64 -w 76; echo END-OF-OUTPUT' });
    let maxStored = 0;
    let sawRunningOutput = false;
    const sampler = setInterval(async () => {
      const rows = await server.db
        .query<{ n: string }>('select coalesce(sum(octet_length(data)), 0) as n from task_output where task_id = $1::uuid', [task.id])
        .catch(() => [{ n: '0' }]);
      maxStored = Math.max(maxStored, Number(rows[0]?.n));
    }, 100);
    const reader = follow(server.url, task.id, (_piece, state) => {
      if (state === 'running') sawRunningOutput = true;
    });
    const ended = await waitState(server.url, task.id, undefined, 180000);
    clearInterval(sampler);
    const streamed = await reader;
    const rss = peakRss(agent.child.pid as number);
    expect(ended.state).toBe('succeeded');
    expect(sawRunningOutput).toBe(true);
    const stdout = ended.stdout as string;
    expect(Buffer.byteLength(stdout)).toBeLessThanOrEqual(1048576);
    const markers = [...stdout.matchAll(MARKER)];
    expect(markers).toHaveLength(1);
    expect(stdout.endsWith('END-OF-OUTPUT\n')).toBe(true);
    expect(streamed.endsWith('END-OF-OUTPUT\n')).toBe(true);
    // the database held at most about the limit per stream plus a send, never the 67 MB
    expect(maxStored).toBeLessThanOrEqual(1048576 + 2 * 1048576);
    // the agent's peak memory (node and tsx included) stays far below the output's size
    expect(rss).toBeLessThan(300 * 1048576);
    console.log(
      `50 MB of base64 (67.6 MB) on ${store.name}: agent peak RSS ${(rss / 1048576).toFixed(0)} MiB, task_output peak ${(maxStored / 1048576).toFixed(2)} MiB, the reader got ${(Buffer.byteLength(streamed) / 1048576).toFixed(2)} MiB with ${[...streamed.matchAll(MARKER)].length} marker line(s)`,
    );
  }, 240000);

  it('stores the result of a command that prints a megabyte of control characters, cut until its JSON fits', async () => {
    const task = await submit(server.url, { command: `head -c 1048576 /dev/zero | tr '\\000' '\\001'; echo; echo the-end` });
    const ended = await waitState(server.url, task.id, undefined, 60000);
    expect(ended.state).toBe('succeeded');
    expect(ended.error).toBeNull();
    const stdout = ended.stdout as string;
    expect(stdout.startsWith('\u0001\u0001')).toBe(true);
    expect(stdout.endsWith('\u0001\nthe-end\n')).toBe(true);
    expect([...stdout.matchAll(MARKER)]).toHaveLength(1);
    expect(Buffer.byteLength(JSON.stringify(stdout))).toBeLessThanOrEqual(6 * 1048576);
  }, 60000);

  it('stops the command when a send answers 409: the task is no longer this attempt', async () => {
    const alive = join(scratch, `alive-${store.name}`);
    const task = await submit(server.url, { command: `while true; do echo tick; date +%s%N > ${alive}; sleep 0.1; done` });
    await waitFor('output to arrive', async () => ((await getTask(server.url, task.id)).stdout ?? '').includes('tick'), 30000);
    // Another attempt took over: the agent's lease token is no longer the task's.
    await server.db.query(`update tasks set lease_token = '00000000-0000-4000-8000-000000000000' where id = $1::uuid`, [task.id]);
    await waitFor('the agent to stop the command', () => /task is no longer ours/.test(agent.output()), 30000);
    const before = readFileSync(alive, 'utf8');
    await new Promise((r) => setTimeout(r, 1500));
    expect(readFileSync(alive, 'utf8')).toBe(before);
    await server.db.query(`update tasks set state = 'failed', finished_at = now() where id = $1::uuid`, [task.id]);
  }, 60000);

  itUnless(namespaceMissing)(
    'streams a command contained in the agent’s PID namespace while it runs (its PID 1 is the spawner)',
    async () => {
      expect(agent.output()).toMatch(/command containment: PID namespace/);
      const task = await submit(server.url, { command: 'echo "init $(cat /proc/1/comm)"; sleep 2; echo end' });
      const pieces: [string, string][] = [];
      const streamed = await follow(server.url, task.id, (text, state) => pieces.push([text, state]));
      expect(pieces[0]).toEqual(['init perl\n', 'running']);
      expect(streamed).toBe('init perl\nend\n');
      expect(await waitState(server.url, task.id)).toMatchObject({ state: 'succeeded', stdout: 'init perl\nend\n' });
    },
    30000,
  );
});

/**
 * The agents here reach the server through something in front of it on another port, whose Host
 * a server without AGENT_TOKEN answers 421 (functions/shared/auth.ts): the server has the token,
 * as any server behind a proxy or gateway would.
 */
const FAULT_AGENT_TOKEN = 'live-fault-agent-token-0123456789';

describe.each(stores)('live output through faults on $name', (store) => {
  let server: TestServer;
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'te-live-faults-'));
    server = await startTestServer(store, { AGENT_TOKEN: FAULT_AGENT_TOKEN });
  });
  afterEach(stopAll);
  afterAll(async () => {
    await stopAll();
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('resends from the server’s figure after an answer to a send was lost: the stream has every byte once', async () => {
    const proxy = await startDroppingProxy(server.url, 'output');
    const agent = startAgent('live-dropped', proxy.url, { POLL_WAIT: '2s', AGENT_TOKEN: FAULT_AGENT_TOKEN });
    try {
      const task = await submit(server.url, { command: 'for i in $(seq 1 30); do echo "n=$i"; sleep 0.1; done' });
      const expected = Array.from({ length: 30 }, (_, i) => `n=${i + 1}\n`).join('');
      const streamed = await follow(server.url, task.id);
      expect(proxy.finishes[0]).toMatchObject({ status: 200, dropped: true });
      expect(proxy.finishes.length).toBeGreaterThan(1);
      expect(streamed).toBe(expected);
      expect((await getTask(server.url, task.id)).stdout).toBe(expected);
    } finally {
      await stopProcess(agent);
      await proxy.close();
    }
  }, 60000);

  it('cuts the finish smaller when something in front of the server answers 413, and the result arrives', async () => {
    // A gateway with a 256 KiB limit in front of the server.
    const gateway: Server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(parts);
        if (body.length > 256 * 1024) {
          res.writeHead(413, { 'content-type': 'application/problem+json' });
          res.end(JSON.stringify({ type: 'about:blank', title: 'Payload too large', status: 413, detail: 'over 256 KiB' }));
          return;
        }
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')) as Record<
          string,
          string
        >;
        const upstream = await fetch(`${server.url}${req.url}`, { method: req.method, headers, body: body.length > 0 ? body : undefined });
        res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
        res.end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
    const { port } = gateway.address() as { port: number };
    const agent = startAgent('live-413', `http://127.0.0.1:${port}`, {
      POLL_WAIT: '2s',
      AGENT_LIVE_OUTPUT: 'false',
      AGENT_TOKEN: FAULT_AGENT_TOKEN,
    });
    try {
      const task = await submit(server.url, { command: 'seq 1 200000' });
      const ended = await waitState(server.url, task.id, undefined, 60000);
      expect(ended.state).toBe('succeeded');
      const stdout = ended.stdout as string;
      expect(stdout.startsWith('1\n2\n3\n')).toBe(true);
      expect(stdout.endsWith('199999\n200000\n')).toBe(true);
      expect(Buffer.byteLength(stdout)).toBeLessThan(256 * 1024);
      expect([...stdout.matchAll(MARKER)]).toHaveLength(1);
    } finally {
      await stopProcess(agent);
      await new Promise<void>((r) => gateway.close(() => r()));
    }
  }, 60000);
});
