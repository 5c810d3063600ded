/**
 * Each Lambda function bundled by esbuild with the options template.yaml gives SAM, then
 * loaded with require() from the bundle in a plain Node process (no jest transform, no
 * node_modules beside it, as on Lambda) and invoked with the real API Gateway events of
 * ../shared/fixtures/apigw/ and a short walk-through, against real PostgreSQL.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { routes } from '../../functions/routes';
import { buildDashboard } from '../../infra/local/dashboard-build';
import { itUnless } from '../support/conditional';
import { expectProblem } from '../support/problem';
import { createFreshDatabase, type FreshDatabase, ROOT, readYaml, samFunctions, type Template, testDatabaseMissing } from './helpers';

const FIXTURES = resolve(__dirname, '../../../shared/fixtures/apigw');

const functions = samFunctions(readYaml<Template>('template.yaml'));
const OUT = mkdtempSync(join(tmpdir(), 'te-bundles-'));

/** The child: requires bundles on demand and invokes their `handler`, one message per call. */
const RUNNER = `
const bundles = new Map();
process.on('message', async ({ id, bundle, event, functionName }) => {
  try {
    let mod = bundles.get(bundle);
    if (!mod) { mod = require(bundle); bundles.set(bundle, mod); }
    if (typeof mod.handler !== 'function') throw new Error(bundle + ' exports no handler function');
    const context = {
      callbackWaitsForEmptyEventLoop: true, functionName, functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:' + functionName,
      memoryLimitInMB: '512', awsRequestId: 'req-' + id, logGroupName: '/aws/lambda/' + functionName,
      logStreamName: 'test', getRemainingTimeInMillis: () => 25000,
      done() {}, fail() {}, succeed() {},
    };
    const result = await mod.handler(event, context);
    process.send({ id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    process.send({ id, ok: false, error: String((error && error.stack) || error) });
  }
});
`;

type Built = { dir: string; file: string; metafile: Metafile };
type LambdaResult = { statusCode?: number; headers?: Record<string, unknown>; body?: string; isBase64Encoded?: boolean };
type Reply = { ok: true; result: unknown } | { ok: false; error: string };

const built = new Map<string, Built>();

/** Bundles every function with the BuildProperties of its template entry. */
beforeAll(async () => {
  for (const f of functions) {
    const p = f.buildProperties as {
      EntryPoints: string[];
      Target: string;
      Format: 'cjs';
      Sourcemap: boolean;
      External: string[];
      Minify?: boolean;
    };
    const outdir = join(OUT, f.dir);
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: p.EntryPoints,
      bundle: true,
      platform: 'node',
      target: p.Target,
      format: p.Format,
      sourcemap: p.Sourcemap,
      // SAM passes --minify unless the template says otherwise.
      minify: p.Minify ?? true,
      external: p.External,
      outdir,
      metafile: true,
      logLevel: 'silent',
    });
    // SAM's Handler is handler.handler: the bundle must be handler.js at the top of the artifact.
    built.set(f.dir, { dir: f.dir, file: join(outdir, 'handler.js'), metafile: result.metafile });
  }
  writeFileSync(join(OUT, 'runner.js'), RUNNER);
}, 120000);

afterAll(() => {
  rmSync(OUT, { recursive: true, force: true });
});

describe('the esbuild bundles', () => {
  it('builds one handler.js per function, requiring nothing but Node built-ins and what the template marks external', () => {
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    for (const f of functions) {
      const b = built.get(f.dir) as Built;
      expect(existsSync(b.file)).toBe(true);
      expect(existsSync(`${b.file}.map`)).toBe(true);
      const externals = Object.values(b.metafile.outputs)
        .flatMap((o) => o.imports)
        .filter((i) => i.external && !builtins.has(i.path))
        .map((i) => i.path);
      // pg-native: pg requires it inside a try, only when `pg.native` is read; esbuild leaves it out.
      const allowed = /^(@aws-sdk\/|@electric-sql\/pglite$|pg-native$)/;
      for (const e of externals) expect({ fn: f.dir, external: e }).toEqual({ fn: f.dir, external: expect.stringMatching(allowed) });
    }
  });

  it('leaves PGlite out of every bundle (Lambda never opens an embedded database)', () => {
    for (const b of built.values()) expect(readFileSync(b.file, 'utf8')).not.toMatch(/pglite\.(wasm|data)/);
  });
});

const BUNDLE_API_TOKEN = 'bundle-test-api-token-0123456789';
const BUNDLE_AGENT_TOKEN = 'bundle-test-agent-token-0123456789';

describe('the bundled handlers answering real API Gateway events', () => {
  const missing = testDatabaseMissing('invoking the bundled handlers against PostgreSQL');
  const skip = missing !== null;
  const fixtures = existsSync(FIXTURES)
    ? readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
  if (fixtures.length === 0) {
    console.warn(`${FIXTURES} holds no API Gateway events: the bundles are invoked with the walk-through only.`);
  }
  const ready = itUnless(missing);

  let db: FreshDatabase;
  let child: ChildProcess;
  let output = '';
  const pending = new Map<number, (reply: Reply) => void>();
  let nextId = 0;
  /** Which bundle answered which event how: printed at the end, the record the issue asks for. */
  const summary: string[] = [];

  beforeAll(async () => {
    if (skip) return;
    db = await createFreshDatabase(process.env.TEST_DATABASE_URL as string, 'te_bundle');
    child = fork(join(OUT, 'runner.js'), [], {
      cwd: OUT,
      execArgv: ['--enable-source-maps'],
      // What Lambda gives a function, plus the database and the tokens (as the secrets would):
      // a deployed function always has them, and without them the captured events' API Gateway
      // Host would be refused (421) before reaching the cores.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        AWS_LAMBDA_FUNCTION_NAME: 'task-executor-bundle-test',
        AWS_REGION: 'eu-west-1',
        DATABASE_URL: db.url,
        API_TOKEN: BUNDLE_API_TOKEN,
        AGENT_TOKEN: BUNDLE_AGENT_TOKEN,
        DB_POOL_MAX: '2',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.on('message', (m: Reply & { id: number }) => pending.get(m.id)?.(m));
  }, 60000);

  afterAll(async () => {
    if (summary.length > 0) console.log(`bundled handlers answering real API Gateway events:\n${summary.sort().join('\n')}`);
    if (skip) return;
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await db.drop();
  });

  /** Invokes the bundled handler of `dir` with `event` in the child process. */
  function invoke(dir: string, event: unknown): Promise<Reply> {
    const id = nextId++;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`${dir} did not answer in 30 s; child output:\n${output}`)), 30000);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        pending.delete(id);
        resolvePromise(reply);
      });
      child.send({ id, bundle: (built.get(dir) as Built).file, event, functionName: dir });
    });
  }

  /** Invokes and checks the answer is a well-formed HTTP result: a status, string headers, a problem+json body on errors. */
  async function answer(dir: string, event: unknown): Promise<LambdaResult> {
    const reply = await invoke(dir, event);
    if (!reply.ok) throw new Error(`${dir} threw: ${reply.error}\nchild output:\n${output}`);
    const r = reply.result as LambdaResult;
    expect(Number.isInteger(r.statusCode)).toBe(true);
    expect(r.statusCode).toBeGreaterThanOrEqual(200);
    for (const v of Object.values(r.headers ?? {})) expect(['string', 'number', 'boolean']).toContain(typeof v);
    expect(typeof (r.body ?? '')).toBe('string');
    if ((r.statusCode as number) >= 400) {
      expectProblem(r, r.statusCode as number);
    } else if (r.statusCode !== 204) {
      expect(String(r.headers?.['content-type'])).toMatch(/^application\/json/);
      JSON.parse(r.body as string);
    }
    return r;
  }

  /** Invokes and returns the result as it came (for answers that are not JSON). */
  async function invokeRaw(dir: string, event: unknown): Promise<LambdaResult> {
    const reply = await invoke(dir, event);
    if (!reply.ok) throw new Error(`${dir} threw: ${reply.error}\nchild output:\n${output}`);
    return reply.result as LambdaResult;
  }

  const httpDirs = [...new Set(functions.filter((f) => Object.values(f.events).some((e) => e.Type === 'HttpApi')).map((f) => f.dir))];
  const cases = httpDirs.flatMap((dir) => fixtures.map((fixture) => [dir, fixture] as const));

  // jest refuses an empty table: with no fixtures the one placeholder row is skipped.
  itUnless(missing ?? (cases.length === 0 ? `no API Gateway events in ${FIXTURES}` : null)).each(
    cases.length > 0 ? cases : [['none', 'none'] as const],
  )('%s answers %s with a well-formed response, never a 5xx', async (dir, fixture) => {
    const event = JSON.parse(readFileSync(join(FIXTURES, fixture), 'utf8')) as { headers?: Record<string, string> };
    // With the route's token, as a deployed caller sends it, so the event reaches the core.
    const audience = routes.find((r) => r.dir === dir)?.audience;
    const token = audience === 'user' ? BUNDLE_API_TOKEN : audience === 'agent' ? BUNDLE_AGENT_TOKEN : undefined;
    if (token !== undefined) event.headers = { ...event.headers, authorization: `Bearer ${token}` };
    const r = await answer(dir, event);
    summary.push(
      `${dir.padEnd(15)} ${fixture.padEnd(52)} ${r.statusCode} ${r.statusCode !== undefined && r.statusCode >= 400 ? (JSON.parse(r.body as string) as { detail: string }).detail.slice(0, 90) : ''}`,
    );
    expect(r.statusCode).toBeLessThan(500);
  });

  /** A request as API Gateway sends it, made from the captured HTTP API event of the fixtures. */
  function request(
    method: string,
    routePath: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; pathParameters?: Record<string, string> } = {},
  ) {
    const captured = existsSync(join(FIXTURES, 'http-v2-captured-post-route-no-auth.powertools.json'))
      ? (JSON.parse(readFileSync(join(FIXTURES, 'http-v2-captured-post-route-no-auth.powertools.json'), 'utf8')) as Record<
          string,
          unknown
        > & {
          headers: Record<string, string>;
          requestContext: Record<string, unknown> & { http: Record<string, unknown> };
        })
      : { headers: {}, requestContext: { http: {} } };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { ...captured.headers, ...opts.headers };
    delete headers.authorization;
    const audience = routes.find((r) => r.method === method && r.path === routePath)?.audience;
    if (audience === 'user') headers.authorization = `Bearer ${BUNDLE_API_TOKEN}`;
    if (audience === 'agent') headers.authorization = `Bearer ${BUNDLE_AGENT_TOKEN}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return {
      ...captured,
      routeKey: `${method} ${routePath}`,
      rawPath: path,
      rawQueryString: '',
      headers,
      pathParameters: opts.pathParameters,
      requestContext: {
        ...captured.requestContext,
        routeKey: `${method} ${routePath}`,
        http: { ...captured.requestContext.http, method, path },
      },
      body,
      isBase64Encoded: false,
    };
  }

  ready(
    'creates a task with a valid request (201), then get, list, pick, heartbeat, finish and cancel answer from their own bundles',
    async () => {
      const created = await answer(
        'create-task',
        request('POST', '/tasks', '/tasks', { body: { command: 'echo from a bundle', timeoutSeconds: 60 } }),
      );
      expect(created.statusCode).toBe(201);
      const task = JSON.parse(created.body as string) as { id: string; state: string };
      expect(task.state).toBe('queued');
      expect(created.headers?.location).toBe(`/tasks/${task.id}`);
      summary.push(`${'create-task'.padEnd(15)} ${'valid POST /tasks'.padEnd(52)} ${created.statusCode}`);

      const idPath = { pathParameters: { id: task.id } };
      const got = await answer('get-task', request('GET', '/tasks/{id}', `/tasks/${task.id}`, idPath));
      expect(got.statusCode).toBe(200);
      expect(JSON.parse(got.body as string)).toMatchObject({ id: task.id, command: 'echo from a bundle' });

      const listed = await answer('list-tasks', request('GET', '/tasks', '/tasks'));
      expect(listed.statusCode).toBe(200);
      expect((JSON.parse(listed.body as string) as { tasks: { id: string }[] }).tasks.map((t) => t.id)).toContain(task.id);

      const agent = { headers: { 'x-agent-id': 'bundle-test-agent' } };
      const picked = await answer('pick-task', request('GET', '/tasks/pick', '/tasks/pick', agent));
      expect(picked.statusCode).toBe(200);
      const lease = JSON.parse(picked.body as string) as { id: string; leaseToken: string };
      expect(lease.id).toBe(task.id);
      const leased = { headers: { ...agent.headers, 'x-lease-token': lease.leaseToken }, pathParameters: { id: task.id } };

      const beat = await answer('heartbeat-task', request('POST', '/tasks/{id}/heartbeat', `/tasks/${task.id}/heartbeat`, leased));
      expect(beat.statusCode).toBe(200);
      const finished = await answer(
        'finish-task',
        request('POST', '/tasks/{id}/finish', `/tasks/${task.id}/finish`, {
          ...leased,
          body: { exitCode: 0, stdout: 'from a bundle\n', stderr: '' },
        }),
      );
      expect(finished.statusCode).toBe(200);
      expect(JSON.parse(finished.body as string)).toMatchObject({ state: 'succeeded', stdout: 'from a bundle\n' });

      const late = await answer('cancel-task', request('POST', '/tasks/{id}/cancel', `/tasks/${task.id}/cancel`, idPath));
      expect(late.statusCode).toBe(409);
      const empty = await answer('pick-task', request('GET', '/tasks/pick', '/tasks/pick', agent));
      expect(empty.statusCode).toBe(204);
    },
  );

  ready(
    'serves the dashboard page from the Root bundle to a browser, with the assets SAM built beside its handler',
    async () => {
      const root = built.get('root') as Built;
      expect(existsSync(join(root.file, '..', 'browser.js'))).toBe(true);
      expect(existsSync(join(root.file, '..', 'browser.css'))).toBe(true);
      const page = await invokeRaw('root', request('GET', '/', '/', { headers: { accept: 'text/html,application/xhtml+xml' } }));
      expect(page.statusCode).toBe(200);
      expect(page.headers?.['content-type']).toBe('text/html; charset=utf-8');
      expect(String(page.headers?.['content-security-policy'])).toContain("script-src 'self'");
      const names = [...(page.body ?? '').matchAll(/assets\/(browser\.[0-9a-f]{12}\.(?:js|css))/g)].map((m) => m[1] as string);
      expect(names).toHaveLength(2);

      // The same options as the local build: the names (hashes of the content) are the ones npm start serves.
      const local = mkdtempSync(join(tmpdir(), 'te-dashboard-'));
      try {
        await buildDashboard(local);
        const { loadDashboard } = await import('../../functions/root/root');
        const here = loadDashboard(local);
        expect(names.sort()).toEqual([here.script, here.stylesheet].sort());
      } finally {
        rmSync(local, { recursive: true, force: true });
      }

      for (const name of names) {
        const asset = await invokeRaw('root', request('GET', '/assets/{file}', `/assets/${name}`, { pathParameters: { file: name } }));
        expect(asset.statusCode).toBe(200);
        expect(asset.headers?.['cache-control']).toBe('public, max-age=31536000, immutable');
        expect(String(asset.headers?.['content-type'])).toMatch(name.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
        expect(Buffer.from(asset.body ?? '', asset.isBase64Encoded ? 'base64' : 'utf8').length).toBeGreaterThan(1000);
      }
      const missing = await answer('root', request('GET', '/assets/{file}', '/assets/nope.js', { pathParameters: { file: 'nope.js' } }));
      expect(missing.statusCode).toBe(404);
      const status = await answer('root', request('GET', '/', '/', { headers: { accept: '*/*' } }));
      expect(JSON.parse(status.body as string)).toEqual({
        service: 'task-executor',
        status: 'ok',
        endpoints: '/tasks, /health; see openapi.yaml',
      });
      summary.push(`${'root'.padEnd(15)} ${'GET / (text/html) and its two assets'.padEnd(52)} ${page.statusCode}`);
    },
    60000,
  );

  ready('runs the scheduled expire-leases bundle with an EventBridge scheduled event', async () => {
    const scheduled = {
      version: '0',
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: new Date().toISOString(),
      region: 'eu-west-1',
      resources: ['arn:aws:events:eu-west-1:123456789012:rule/task-executor-ExpireLeasesFunctionEveryMinute'],
      detail: {},
    };
    const reply = await invoke('expire-leases', scheduled);
    if (!reply.ok) throw new Error(`expire-leases threw: ${reply.error}\n${output}`);
    expect(reply.result).toEqual({ expired: expect.any(Number), promoted: expect.any(Number), deleted: expect.any(Number) });
    summary.push(`${'expire-leases'.padEnd(15)} ${'EventBridge scheduled event'.padEnd(52)} ${JSON.stringify(reply.result)}`);
  });
});
