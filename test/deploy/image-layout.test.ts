/**
 * What the container images run, without Docker: `npm run build`'s output laid out as
 * infra/Dockerfile lays out /app (the server: dist/, infra/migrations, node_modules; the agent:
 * its bundle alone), run with plain node, and probed with the exact healthcheck commands of
 * docker-compose.yaml.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildDashboard } from '../../infra/local/dashboard-build';
import { itUnless } from '../support/conditional';
import { freePort } from '../support/net';
import { createFreshDatabase, type FreshDatabase, ROOT, readYaml, testDatabaseMissing } from './helpers';

const run = promisify(execFile);
const APP = mkdtempSync(join(tmpdir(), 'te-image-'));
/** The agent image's /app: the bundle and nothing else (no node_modules anywhere above it). */
const AGENT_APP = mkdtempSync(join(tmpdir(), 'te-agent-image-'));
/** Only the variables a container would have: nothing of this shell or of jest leaks in. */
const BASE_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: APP, NODE_ENV: 'production' };

type Healthchecks = { services: Record<string, { healthcheck: { test: string[] } }> };
const healthchecks = readYaml<Healthchecks>('docker-compose.yaml').services;

beforeAll(async () => {
  // The build stage: tsconfig.build.json into dist/ (as `npm run build`, but into the scratch /app).
  const tsc = [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', join(APP, 'dist')];
  await run(process.execPath, tsc, { cwd: ROOT }).catch((e: { stdout?: string }) => {
    throw new Error(`npm run build (tsc -p tsconfig.build.json) failed, so the images would not build:\n${e.stdout}`);
  });
  // npm run build's last step: the dashboard's bundle into dist/dashboard, which the server stage copies with dist/.
  await buildDashboard(join(APP, 'dist', 'dashboard'));
  // The server stage copies the migrations beside dist/; node_modules stands in for `npm ci --omit=dev`.
  cpSync(join(ROOT, 'infra', 'migrations'), join(APP, 'infra', 'migrations'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(APP, 'node_modules'), 'dir');
  // The agent's bundle, with the flags of package.json's build:agent, written where the image has it.
  const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts[
    'build:agent'
  ] as string;
  const args = script
    .split(/\s+/)
    .slice(1)
    .map((a) =>
      a
        .replace(/^--outfile=.*/, `--outfile=${join(AGENT_APP, 'agent.js')}`)
        .replace(/^--metafile=.*/, `--metafile=${join(AGENT_APP, 'meta.json')}`),
    );
  mkdirSync(AGENT_APP, { recursive: true });
  await run(join(ROOT, 'node_modules', '.bin', 'esbuild'), args, { cwd: ROOT });
}, 120000);

afterAll(() => {
  rmSync(APP, { recursive: true, force: true });
  rmSync(AGENT_APP, { recursive: true, force: true });
});

/** Runs a compose healthcheck (["CMD", ...argv]) with its port swapped for the test's. */
async function healthcheck(service: string, from: number, to: number): Promise<number> {
  const [, cmd, ...args] = healthchecks[service]?.healthcheck.test ?? [];
  const argv = args.map((a) => a.replace(`:${from}/`, `:${to}/`));
  return run(cmd as string, argv, { env: BASE_ENV, timeout: 5000 }).then(
    () => 0,
    (e: { code?: number }) => e.code ?? 1,
  );
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 30000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => {
      seen += c.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before printing ${pattern}; output:\n${seen}`));
    });
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe('the compiled app as the images lay it out', () => {
  it('bundles the agent from agent/ and contract/ only: no server code', () => {
    const meta = JSON.parse(readFileSync(join(AGENT_APP, 'meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
    const own = Object.keys(meta.inputs).filter((f) => !f.startsWith('node_modules/'));
    expect(own.length).toBeGreaterThan(3);
    for (const file of own) expect(file).toMatch(/^(agent|contract)\//);
  });

  it('finds infra/migrations from dist/ (findMigrationsDir walks up from dist/functions/shared/db)', async () => {
    const { stdout } = await run(
      process.execPath,
      ['-e', "process.stdout.write(require('./dist/functions/shared/db/migrate.js').findMigrationsDir())"],
      {
        cwd: APP,
        env: BASE_ENV,
      },
    );
    expect(stdout).toBe(join(realpathSync(APP), 'infra', 'migrations'));
  });

  const withPostgres = itUnless(testDatabaseMissing('running the compiled server, agent and migrations against PostgreSQL'));
  let db: FreshDatabase | undefined;
  afterAll(async () => {
    await db?.drop();
  });

  withPostgres('migrates with the compiled `npm run migrate` entry point, once', async () => {
    db = await createFreshDatabase(process.env.TEST_DATABASE_URL as string, 'te_image', false);
    const env = { ...BASE_ENV, DATABASE_URL: db.url };
    const first = await run(process.execPath, ['dist/infra/local/migrate-main.js'], { cwd: APP, env });
    expect(first.stdout).toMatch(/^applied migrations \d+(, \d+)*\n$/);
    const again = await run(process.execPath, ['dist/infra/local/migrate-main.js'], { cwd: APP, env });
    expect(again.stdout).toBe('database is up to date\n');
  });

  withPostgres(
    'serves, runs a task through the agent bundle alone, passes both compose healthcheck commands, and stops cleanly on SIGTERM',
    async () => {
      if (!db) db = await createFreshDatabase(process.env.TEST_DATABASE_URL as string, 'te_image');
      const apiToken = 'image-test-api-token';
      const agentToken = 'image-test-agent-token';
      const server = spawn(process.execPath, ['dist/infra/local/server-main.js'], {
        cwd: APP,
        env: {
          ...BASE_ENV,
          DATABASE_URL: db.url,
          SERVER_HOST: '127.0.0.1',
          SERVER_PORT: '0',
          API_TOKEN: apiToken,
          AGENT_TOKEN: agentToken,
          LOG_LEVEL: 'warn',
        },
      });
      let agent: ChildProcess | undefined;
      try {
        const url = (await waitForLine(server, /listening on (http:\/\/127\.0\.0\.1:(\d+))/))[1] as string;
        const port = Number(new URL(url).port);
        expect(await healthcheck('backend-api-server', 3500, port)).toBe(0);
        // The dashboard from dist/dashboard: the page for a browser, its script under a hashed name.
        const page = await fetch(`${url}/`, { headers: { accept: 'text/html' } });
        expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
        const script = /assets\/(browser\.[0-9a-f]{12}\.js)/.exec(await page.text())?.[1];
        expect((await fetch(`${url}/assets/${script}`)).status).toBe(200);
        expect(await (await fetch(`${url}/`)).json()).toMatchObject({ status: 'ok' });

        const healthPort = await freePort();
        agent = spawn(process.execPath, ['agent.js'], {
          cwd: AGENT_APP,
          env: {
            ...BASE_ENV,
            BACKEND_URL: url,
            AGENT_TOKEN: agentToken,
            AGENT_HEALTH_PORT: String(healthPort),
            POLL_INTERVAL: '200ms',
            LOG_LEVEL: 'warn',
          },
        });
        const auth = { authorization: `Bearer ${apiToken}` };
        const created = await fetch(`${url}/tasks`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ command: 'echo "compiled agent says hi"' }),
        });
        expect(created.status).toBe(201);
        const { id } = (await created.json()) as { id: string };
        let task: { state: string; stdout: string } = { state: 'queued', stdout: '' };
        for (let i = 0; i < 100 && !['succeeded', 'failed'].includes(task.state); i++) {
          await new Promise((r) => setTimeout(r, 100));
          task = (await (await fetch(`${url}/tasks/${id}`, { headers: auth })).json()) as typeof task;
        }
        expect(task).toMatchObject({ state: 'succeeded', stdout: 'compiled agent says hi\n' });
        expect(await healthcheck('task-exec-agent', 3000, healthPort)).toBe(0);

        agent.kill('SIGTERM');
        expect(await exited(agent)).toBe(0);
        server.kill('SIGTERM');
        expect(await exited(server)).toBe(0);
      } finally {
        if (agent && agent.exitCode === null) agent.kill('SIGKILL');
        if (server.exitCode === null) server.kill('SIGKILL');
      }
    },
    120000,
  );
});
