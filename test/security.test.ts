/**
 * The attacks of the security review, performed against a real server over HTTP: each test
 * sends what the attacker sent and checks that it is refused and that nothing was stored
 * (docs/security.md names the finding each one closes).
 */
import { stores } from './support/databases';
import { type RawRequest, rawRequest } from './support/raw-http';
import { startTestServer, type TestServer } from './support/server';

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

  it('answers GET / and GET /health under any name: they hold nothing secret and health checkers use other names', async () => {
    for (const target of ['/', '/health']) {
      const reply = await rawRequest(server.url, { method: 'GET', target, headers: [['Host', `attacker.example:${port}`]] });
      expect(reply.status).toBe(200);
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
