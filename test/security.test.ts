/**
 * The attacks of the security review, performed against a real server over HTTP: each test
 * sends what the attacker sent and checks that it is refused and that nothing was stored
 * (docs/security.md names the finding each one closes).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY_BODY_LIMIT, LIST_COMMAND_MAX_CHARS, LIST_PAGE_MAX_BYTES, OUTPUT_BODY_LIMIT } from '../contract/http';
import { findDashboardDir, loadDashboard } from '../functions/root/root';
import { loadConfig } from '../functions/shared/config';
import { openDb } from '../functions/shared/deps';
import { createLogger } from '../functions/shared/logger';
import { ensureDashboard } from '../infra/local/dashboard-build';
import { HTTP_OPTIONS, MAX_CONNECTIONS, startServer } from '../infra/local/server';
import { itUnless } from './support/conditional';
import { stores } from './support/databases';
import { type RawRequest, rawRequest } from './support/raw-http';
import { agentHeaders, call, startTestServer, type TestServer } from './support/server';

const JSON_TYPE: [string, string] = ['Content-Type', 'application/json'];
const API_TOKEN = 'security-api-token-0123456789';
const AGENT_TOKEN = 'security-agent-token-0123456789';

describe.each(stores)('a web page reaching a server that has no tokens, through DNS rebinding or cross-site ($name)', (store) => {
  let server: TestServer;
  let port: number;
  const count = async () => Number((await server.db.query<{ n: string }>('select count(*) as n from tasks'))[0]?.n);
  const create = (headers: [string, string][]): RawRequest => ({
    method: 'POST',
    target: '/tasks',
    headers: [...headers, JSON_TYPE],
    body: JSON.stringify({ command: 'touch /tmp/pwned-by-a-web-page' }),
  });

  beforeAll(async () => {
    server = await startTestServer(store);
    port = server.port;
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await server.db.query('delete from tasks');
  });

  it('answers 421 problem+json to POST /tasks with the rebinding Host and Origin, and stores nothing', async () => {
    const reply = await rawRequest(
      server.url,
      create([
        ['Host', `attacker.example:${port}`],
        ['Origin', `http://attacker.example:${port}`],
      ]),
    );
    expect(reply.status).toBe(421);
    expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(reply.json).toMatchObject({ status: 421, detail: expect.stringContaining('API_TOKEN') });
    expect(await count()).toBe(0);
  });

  it('answers 421 to GET /tasks with a foreign Host, so the page reads no task', async () => {
    const reply = await rawRequest(server.url, { method: 'GET', target: '/tasks', headers: [['Host', `attacker.example:${port}`]] });
    expect(reply.status).toBe(421);
    expect(reply.text).not.toContain('"tasks"');
  });

  it('answers 403 to a cross-site POST straight at 127.0.0.1 (the Origin names the page), and stores nothing', async () => {
    const reply = await rawRequest(server.url, create([['Origin', 'http://attacker.example']]));
    expect(reply.status).toBe(403);
    expect(reply.json).toMatchObject({ status: 403 });
    expect(await count()).toBe(0);
  });

  it('answers 403 to a cross-site GET without Origin (an <img> at /tasks/pick), and claims nothing', async () => {
    expect((await rawRequest(server.url, create([]))).status).toBe(201);
    const reply = await rawRequest(server.url, {
      method: 'GET',
      target: '/tasks/pick',
      headers: [
        ['X-Agent-Id', 'img'],
        ['Sec-Fetch-Site', 'cross-site'],
      ],
    });
    expect(reply.status).toBe(403);
    expect(await server.db.query('select state from tasks')).toEqual([{ state: 'queued' }]);
  });

  it('still serves programs (no Origin) and the server’s own pages (same origin)', async () => {
    expect((await rawRequest(server.url, create([]))).status).toBe(201);
    const ownPage = await rawRequest(
      server.url,
      create([
        ['Origin', `http://127.0.0.1:${port}`],
        ['Sec-Fetch-Site', 'same-origin'],
      ]),
    );
    expect(ownPage.status).toBe(201);
    expect((await rawRequest(server.url, create([['Host', `localhost:${port}`]]))).status).toBe(201);
    expect(await count()).toBe(3);
  });

  it('answers GET /, its assets and GET /health under any name: they hold nothing secret and health checkers use other names', async () => {
    await ensureDashboard();
    const script = loadDashboard(findDashboardDir() as string).script;
    for (const target of ['/', `/assets/${script}`, '/health']) {
      const reply = await rawRequest(server.url, { method: 'GET', target, headers: [['Host', `attacker.example:${port}`]] });
      expect({ target, status: reply.status }).toEqual({ target, status: 200 });
    }
  });

  it('answers 421 to the output and the counts under a foreign Host, so a rebinding copy of the dashboard reads nothing', async () => {
    const created = await rawRequest(server.url, create([]));
    const id = (created.json as { id: string }).id;
    for (const target of [`/tasks/${id}/output`, '/tasks/summary', `/tasks/${id}`]) {
      const reply = await rawRequest(server.url, { method: 'GET', target, headers: [['Host', `attacker.example:${port}`]] });
      expect({ target, status: reply.status }).toEqual({ target, status: 421 });
      expect(reply.text).not.toContain('pwned');
    }
  });
});

describe.each(stores)('a web page reaching a server with tokens ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('is refused by the token (401), and a holder of the token is served under any Host', async () => {
    const foreign: [string, string][] = [['Host', 'tasks.example.com'], ['Origin', 'https://tasks.example.com'], JSON_TYPE];
    const body = JSON.stringify({ command: 'echo via a proxy' });
    expect((await rawRequest(server.url, { method: 'POST', target: '/tasks', headers: foreign, body })).status).toBe(401);
    const withToken = await rawRequest(server.url, {
      method: 'POST',
      target: '/tasks',
      headers: [...foreign, ['Authorization', `Bearer ${API_TOKEN}`]],
      body,
    });
    expect(withToken.status).toBe(201);
  });
});

/**
 * Sends the head of a request announcing `announced` body bytes and `sent` of them, then waits
 * for an answer without sending the rest: the server must answer from the head alone.
 */
function answerBeforeBody(url: string, head: string, announced: number, sent: number): Promise<{ status: number; text: string }> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 10 s while ${announced - sent} announced body bytes were still unsent`));
    }, 10000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(text);
      if (end !== -1 && length && text.length >= end + 4 + Number(length[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ status: Number(text.slice(9, 12)), text: text.slice(end + 4) });
      }
    });
    socket.on('error', () => {});
    socket.write(`${head}Host: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${announced}\r\n\r\n`);
    socket.write(Buffer.alloc(sent, 0x20));
  });
}

describe.each(stores)('bodies held open by clients ($name)', (store) => {
  let server: TestServer;
  const MiB = 1048576;
  const id = '0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11';
  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN });
  });
  afterAll(async () => {
    await server.stop();
  });

  it.each([
    ['finish', `POST /tasks/${id}/finish HTTP/1.1\r\nX-Agent-Id: a\r\n`, 6 * MiB],
    ['output send', `POST /tasks/${id}/output HTTP/1.1\r\nX-Agent-Id: a\r\nX-Lease-Token: ${id}\r\n`, OUTPUT_BODY_LIMIT],
    ['create', 'POST /tasks HTTP/1.1\r\n', MiB],
  ])('answers 401 to an unauthenticated %s while its body is still being sent, reading none of it', async (_what, head, size) => {
    const reply = await answerBeforeBody(server.url, head, size, 64 * 1024);
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toMatchObject({ status: 401 });
  });

  it.each([
    ['pick', 'POST /tasks/pick HTTP/1.1\r\nX-Agent-Id: a\r\n'],
    ['heartbeat', `POST /tasks/${id}/heartbeat HTTP/1.1\r\nX-Agent-Id: a\r\n`],
  ])('answers 413 at once to a %s announcing 6 MiB, with the token: it takes only an empty body or {}', async (_what, head) => {
    const reply = await answerBeforeBody(server.url, `${head}Authorization: Bearer ${AGENT_TOKEN}\r\n`, 6 * MiB, 0);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.text).detail).toContain(`(${EMPTY_BODY_LIMIT} bytes)`);
  });

  it('answers 413 at once to an output send announcing one byte over its 1 MiB, with the token', async () => {
    const head = `POST /tasks/${id}/output HTTP/1.1\r\nX-Agent-Id: a\r\nX-Lease-Token: ${id}\r\nAuthorization: Bearer ${AGENT_TOKEN}\r\n`;
    const reply = await answerBeforeBody(server.url, head, OUTPUT_BODY_LIMIT + 1, 0);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.text).detail).toContain(`(${OUTPUT_BODY_LIMIT} bytes)`);
  });

  it.each([
    ['an output read', `GET /tasks/${id}/output HTTP/1.1\r\n`],
    ['the counts', 'GET /tasks/summary HTTP/1.1\r\n'],
  ])('answers 413 at once to %s announcing 6 MiB, with the token: a GET takes at most 4 KiB', async (_what, head) => {
    const reply = await answerBeforeBody(server.url, `${head}Authorization: Bearer ${API_TOKEN}\r\n`, 6 * MiB, 0);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.text).detail).toContain(`(${EMPTY_BODY_LIMIT} bytes)`);
  });

  it('answers 413 at once to a GET /health announcing a body: public routes read no large body either', async () => {
    const reply = await answerBeforeBody(server.url, 'GET /health HTTP/1.1\r\n', 6 * MiB, 1024);
    expect(reply.status).toBe(413);
  });

  it('runs with a headers timeout, a request timeout and a connection cap (infra/local/server.ts)', () => {
    expect(server.server.headersTimeout).toBe(HTTP_OPTIONS.headersTimeout);
    expect(server.server.requestTimeout).toBe(HTTP_OPTIONS.requestTimeout);
    expect(server.server.maxConnections).toBe(MAX_CONNECTIONS);
  });
});

describe.each(stores)('answers amplified by what was stored or sent ($name)', (store) => {
  let server: TestServer;
  const auth: [string, string] = ['Authorization', `Bearer ${API_TOKEN}`];
  const CONTROLS = 64 * 1024;
  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN });
    // 300 tasks whose command is 64 KiB of \u0001, which JSON escapes in six bytes each.
    await server.db.query(
      `insert into tasks (id, command, timeout_seconds, created_at, run_at)
       select gen_random_uuid(), repeat(chr(1), $1::int), 60, now(), now() from generate_series(1, 300)`,
      [CONTROLS],
    );
  });
  afterAll(async () => {
    await server.stop();
  });

  it('answers GET /tasks?limit=100 over 64 KiB commands of control characters within the page budget, commands cut and flagged', async () => {
    const reply = await rawRequest(server.url, { method: 'GET', target: '/tasks?limit=100', headers: [auth] });
    expect(reply.status).toBe(200);
    // Before: 39 MB for this page.
    expect(reply.body.length).toBeLessThanOrEqual(LIST_PAGE_MAX_BYTES);
    const page = reply.json as { tasks: { id: string; command: string; commandTruncated?: boolean }[]; nextCursor: string | null };
    expect(page.tasks.length).toBeGreaterThan(0);
    for (const task of page.tasks) expect(task).toMatchObject({ command: '\u0001'.repeat(LIST_COMMAND_MAX_CHARS), commandTruncated: true });
    const whole = await rawRequest(server.url, { method: 'GET', target: `/tasks/${page.tasks[0]?.id}`, headers: [auth] });
    expect((whole.json as { command: string; commandTruncated?: boolean }).command).toHaveLength(CONTROLS);
    expect(whole.json).not.toHaveProperty('commandTruncated');
  });

  it('still lists every task exactly once at limit=1000, page after page, each page within the budget', async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const target: string = `/tasks?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`;
      const reply = await rawRequest(server.url, { method: 'GET', target, headers: [auth] });
      expect(reply.body.length).toBeLessThanOrEqual(LIST_PAGE_MAX_BYTES);
      const page = reply.json as { tasks: { id: string }[]; nextCursor: string | null };
      for (const t of page.tasks) {
        expect(seen.has(t.id)).toBe(false);
        seen.add(t.id);
      }
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 50);
    expect(seen.size).toBe(300);
    expect(pages).toBeGreaterThan(1);
  });

  it('names at most five of 95,554 unknown fields, in an answer of a few hundred bytes', async () => {
    const body = `{"command":"true",${Array.from({ length: 95554 }, (_, i) => `"k${i}":1`).join(',')}}`;
    const reply = await rawRequest(server.url, { method: 'POST', target: '/tasks', headers: [auth, JSON_TYPE], body });
    expect(reply.status).toBe(400);
    // Before: 1.1 MB (and the same detail in one log line).
    expect(reply.body.length).toBeLessThan(1000);
    expect((reply.json as { detail: string }).detail).toMatch(/^Unknown fields "k0", "k1", "k2", "k3", "k4" and 95549 more; allowed: /);
  });

  it('names at most five unknown query parameters', async () => {
    const query = Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&');
    const reply = await rawRequest(server.url, { method: 'GET', target: `/tasks?${query}`, headers: [auth] });
    expect(reply.status).toBe(400);
    expect(reply.body.length).toBeLessThan(1000);
    expect((reply.json as { detail: string }).detail).toContain('and 995 more');
  });
});

describe('the embedded database folder (DATA_DIR)', () => {
  const asRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'data-dir-test-'));
    // The scratch folder itself is open to everyone, as the review's probe found DATA_DIR's parent.
    chmodSync(scratch, 0o755);
  });
  afterEach(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts a server on DATA_DIR, stores a finished task whose stdout is `marker`, stops it. */
  async function storeOutput(dataDir: string, marker: string, warnings: string[] = []): Promise<void> {
    const config = loadConfig({ SERVER_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'error' });
    const logger = createLogger('error');
    const warn = logger.warn.bind(logger);
    logger.warn = (message: string) => {
      warnings.push(message);
      warn(message);
    };
    const db = await openDb(config, logger);
    const server = await startServer(config, { db });
    try {
      const created = await call(server.url, 'POST', '/tasks', { body: { command: 'echo x' } });
      const id = (created.body as { id: string }).id;
      const picked = await call(server.url, 'GET', '/tasks/pick', { headers: agentHeaders('a') });
      const lease = (picked.body as { leaseToken: string }).leaseToken;
      const finished = await call(server.url, 'POST', `/tasks/${id}/finish`, {
        headers: agentHeaders('a', { 'x-lease-token': lease }),
        body: { exitCode: 0, stdout: marker, stderr: '' },
      });
      expect(finished.status).toBe(200);
    } finally {
      await server.close(1000);
      await db.close();
    }
  }

  const modesUnder = (dir: string): { path: string; mode: string; dir: boolean }[] =>
    readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => {
      const path = join(e.parentPath, e.name);
      return { path, mode: (statSync(path).mode & 0o777).toString(8), dir: e.isDirectory() };
    });

  it('creates DATA_DIR 0700, with its folders 0700 and its files 0600 after tasks were stored', async () => {
    const dataDir = join(scratch, 'data');
    await storeOutput(dataDir, 'mode-check-output');
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    const entries = modesUnder(dataDir);
    expect(entries.length).toBeGreaterThan(100);
    expect(entries.filter((e) => e.mode !== (e.dir ? '700' : '600'))).toEqual([]);
  });

  it('takes its lock file 0600', async () => {
    const dataDir = join(scratch, 'locked');
    const db = await openDb(loadConfig({ DATA_DIR: dataDir }), createLogger('error'));
    try {
      expect((statSync(join(dataDir, 'lock')).mode & 0o777).toString(8)).toBe('600');
    } finally {
      await db.close();
    }
  });

  it('tightens an existing DATA_DIR that others could read, with a warning', async () => {
    const dataDir = join(scratch, 'existing');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const warnings: string[] = [];
    await storeOutput(dataDir, 'tightened-output', warnings);
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    expect(warnings).toEqual([expect.stringContaining(`DATA_DIR ${dataDir} was mode 0755, readable by other users; it is now 0700`)]);
  });

  itUnless(asRoot ? null : 'reading DATA_DIR as another user needs root and setpriv')(
    'keeps a task’s output from another local user: as nobody, grep -r finds nothing and is refused',
    async () => {
      const dataDir = join(scratch, 'data');
      const marker = `secret-output-${Date.now()}`;
      await storeOutput(dataDir, marker);
      // The output is on disk (the review found it in pg_wal/)...
      const asOwner = spawnSync('grep', ['-rl', marker, dataDir], { encoding: 'utf8' });
      expect(asOwner.stdout).toMatch(/\S/);
      // ...and another user can neither read it nor list where it is.
      const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'grep', '-r', marker, dataDir], {
        encoding: 'utf8',
      });
      expect(asNobody.stdout).toBe('');
      expect(asNobody.stderr).toMatch(/Permission denied/);
      expect(asNobody.status).not.toBe(0);
      const lock = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'ls', join(dataDir, 'pgdata')], {
        encoding: 'utf8',
      });
      expect(lock.status).not.toBe(0);
    },
  );
});
