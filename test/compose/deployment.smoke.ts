/**
 * The docker compose deployment, run for real through the Makefile (`make smoke`, or
 * `npm run test:compose`): make run, a task, make scale-agents num=3 with tasks over three
 * agents, the network and port rules of docker-compose.yaml seen from inside the containers,
 * make down while tasks run (the agents' grace), make run again (the data survives), and
 * make down-prune-db, which also runs when a step fails. It needs a Docker engine (`docker info`)
 * and says why it is skipped without one. Its own compose project name and free host ports keep
 * it off a developer's deployment and off ports in use (a PostgreSQL on 5432, a server on 3500).
 * The figures it prints (start time, tasks per agent, how long make down takes) are measured, not
 * asserted: speed is for benchmarks.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { eventually } from '../support/clock';
import { describeUnless } from '../support/conditional';
import { freePort } from '../support/net';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

function dockerMissing(): string | null {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 20000 });
    return null;
  } catch {
    return 'docker info does not answer (no Docker engine here; on these machines: bash ../shared/docker-harness/setup.sh install daemon images): the compose smoke test is skipped';
  }
}

type Task = { id: string; state: string; agentId: string | null; stdout: string | null; error: string | null; exitCode: number | null };

const project = `te-smoke-${randomBytes(3).toString('hex')}`;
const figures: Record<string, unknown> = {};
let env: NodeJS.ProcessEnv;
let base: string;
let token: string;

/** Runs a make target with the smoke test's project name and ports; returns its output and seconds taken. */
async function make(...args: string[]): Promise<{ output: string; seconds: number }> {
  const t0 = Date.now();
  try {
    const { stdout, stderr } = await run('make', args, { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 });
    return { output: stdout + stderr, seconds: (Date.now() - t0) / 1000 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`make ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** The compose command the Makefile picks: `docker compose` v2, else docker-compose v1. */
function composeCommand(): string[] {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
    return ['docker', 'compose'];
  } catch {
    return ['docker-compose'];
  }
}

async function compose(...args: string[]): Promise<string> {
  const [cmd, ...pre] = composeCommand() as [string, ...string[]];
  const { stdout } = await run(cmd, [...pre, ...args], { cwd: ROOT, env });
  return stdout;
}

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { env });
  return stdout.trim();
}

/** Container ids of a service. */
async function containers(service: string): Promise<string[]> {
  return (await compose('ps', '-q', service)).split('\n').filter(Boolean);
}

/** Resolves once every container of the project is running and healthy. */
async function allHealthy(expected: number, timeoutMs = 180000): Promise<void> {
  await eventually(
    async () => {
      const ids = (await compose('ps', '-q')).split('\n').filter(Boolean);
      if (ids.length !== expected) return false;
      const health = await docker('inspect', '-f', '{{.State.Health.Status}}', ...ids);
      return health.split('\n').every((h) => h === 'healthy');
    },
    timeoutMs,
    500,
  );
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const submit = async (command: string) => {
  const reply = await api('POST', '/tasks', { command });
  expect(reply.status).toBe(201);
  return reply.body as Task;
};
const get = async (id: string) => (await api('GET', `/tasks/${id}`)).body as Task;
const ended = (t: Task) => !['queued', 'running'].includes(t.state);

/** The .env value make wrote (compose reads the same file). */
const fromEnvFile = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(readFileSync(join(ROOT, '.env'), 'utf8'))?.[1] ?? '';

describeUnless(dockerMissing())('the compose deployment, run for real', () => {
  let dbPort: number;

  beforeAll(async () => {
    const serverPort = await freePort();
    dbPort = await freePort();
    // The shell's variables win over .env in compose: the project name and ports stay the test's.
    env = { ...process.env, COMPOSE_PROJECT_NAME: project, SERVER_PUBLISH_PORT: String(serverPort), DB_PUBLISH_PORT: String(dbPort) };
    base = `http://127.0.0.1:${serverPort}`;
  });

  afterAll(async () => {
    // Whatever happened above: no containers, networks or volume of this project stay behind.
    const down = await make('down-prune-db').catch((e: Error) => ({ output: e.message, seconds: Number.NaN }));
    const left = await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`).catch(() => '?');
    if (left) await compose('down', '-v', '--remove-orphans').catch(() => undefined);
    console.log(`compose smoke (${project}) figures:\n${JSON.stringify({ ...figures, finalDownPruneSeconds: down.seconds }, null, 2)}`);
  }, 180000);

  it('starts db, backend-api-server and one agent with make run, all healthy, and runs a task', async () => {
    const t0 = Date.now();
    const started = await make('run');
    figures.makeRunSeconds = started.seconds;
    await allHealthy(3);
    figures.runUntilHealthySeconds = (Date.now() - t0) / 1000;
    token = fromEnvFile('API_TOKEN');
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(fromEnvFile('DB_PASSWORD')).toMatch(/^[0-9a-f]{64}$/);

    expect((await fetch(`${base}/tasks`, { method: 'POST', body: '{"command":"true"}' })).status).toBe(401);
    const task = await submit('echo hi');
    const done = await eventually(async () => {
      const t = await get(task.id);
      return ended(t) && t;
    }, 60000);
    expect(done).toMatchObject({ state: 'succeeded', exitCode: 0, stdout: 'hi\n' });
  }, 900000);

  it('keeps the database off the agents: db unresolvable from an agent, published on 127.0.0.1 only, with the password make env wrote', async () => {
    const [agentId] = await containers('task-exec-agent');
    const [serverId] = await containers('backend-api-server');
    const [dbId] = await containers('db');
    const lookup = "require('dns').lookup('db', (e) => console.log(e ? e.code : 'resolved'))";
    expect(await docker('exec', serverId as string, 'node', '-e', lookup)).toBe('resolved');
    expect(await docker('exec', agentId as string, 'node', '-e', lookup)).toMatch(/^(ENOTFOUND|EAI_AGAIN)$/);

    expect(await docker('port', dbId as string, '5432/tcp')).toBe(`127.0.0.1:${dbPort}`);
    const pg = new Client({
      host: '127.0.0.1',
      port: dbPort,
      user: 'postgres',
      password: fromEnvFile('DB_PASSWORD'),
      database: 'postgres',
    });
    await pg.connect();
    try {
      expect((await pg.query<{ n: string }>('select count(*) as n from tasks')).rows[0]?.n).toBe('1');
    } finally {
      await pg.end();
    }
    const wrong = new Client({ host: '127.0.0.1', port: dbPort, user: 'postgres', password: 'secretpass', database: 'postgres' });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
  }, 120000);

  it("publishes no agent port and serves the agent's /healthz on the container's loopback only", async () => {
    const [agentId] = await containers('task-exec-agent');
    expect(await docker('port', agentId as string)).toBe('');
    // /proc/net/tcp: listening sockets (state 0A) on port 3000 (0BB8), by local address.
    const tcp = await docker('exec', agentId as string, 'sh', '-c', 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true');
    const listening = tcp
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[3] === '0A' && f[1]?.endsWith(':0BB8'))
      .map((f) => f[1]);
    expect(listening).toEqual(['0100007F:0BB8']);
    const health = await docker(
      'exec',
      agentId as string,
      'node',
      '-e',
      "fetch('http://127.0.0.1:3000/healthz').then(r=>r.json()).then(j=>console.log(j.state))",
    );
    expect(health).toBe('idle');
  }, 60000);

  it('spreads tasks over three agents after make scale-agents num=3', async () => {
    const scaled = await make('scale-agents', 'num=3');
    figures.scaleAgentsSeconds = scaled.seconds;
    const t0 = Date.now();
    await allHealthy(5);
    figures.scaleUntilHealthySeconds = scaled.seconds + (Date.now() - t0) / 1000;
    const tasks: Task[] = [];
    for (let i = 0; i < 30; i++) tasks.push(await submit(`sleep 1; echo task${i}`));
    const t1 = Date.now();
    const done = await eventually(
      async () => {
        const all = await Promise.all(tasks.map((t) => get(t.id)));
        return all.every(ended) && all;
      },
      180000,
      500,
    );
    figures.thirtyOneSecondTasksSeconds = (Date.now() - t1) / 1000;
    expect(done.filter((t) => t.state !== 'succeeded')).toEqual([]);
    const perAgent: Record<string, number> = {};
    for (const t of done) perAgent[t.agentId as string] = (perAgent[t.agentId as string] ?? 0) + 1;
    figures.tasksPerAgent = Object.values(perAgent).sort((a, b) => b - a);
    expect(Object.keys(perAgent)).toHaveLength(3);
    for (const [i, t] of done.entries()) expect(t.stdout).toBe(`task${i}\n`);
  }, 600000);

  it("lets running tasks end within the agents' grace on make down: one finishes, one past the grace is stopped and reported", async () => {
    const short = await submit('sleep 8; echo drained');
    const long = await submit('sleep 300');
    await eventually(async () => (await get(short.id)).state === 'running' && (await get(long.id)).state === 'running', 60000, 200);
    const down = await make('down');
    figures.makeDownWithRunningTasksSeconds = down.seconds;
    expect(await containers('task-exec-agent')).toEqual([]);

    // The volume stays: the next make run has both tasks as the draining agents reported them.
    const again = await make('run');
    figures.makeRunAgainSeconds = again.seconds;
    await allHealthy(3);
    expect(await get(short.id)).toMatchObject({ state: 'succeeded', stdout: 'drained\n' });
    expect(await get(long.id)).toMatchObject({ state: 'failed', error: 'agent stopped' });
  }, 600000);

  it('removes the containers and the database volume with make down-prune-db', async () => {
    const volume = `${project.replace(/[^a-z0-9_-]/g, '')}_db-data`;
    expect(await docker('volume', 'ls', '-q', '--filter', `name=${volume}`)).toContain(volume);
    const pruned = await make('down-prune-db');
    figures.downPruneDbSeconds = pruned.seconds;
    expect(await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`)).toBe('');
    expect(await docker('volume', 'ls', '-q', '--filter', `name=${volume}`)).toBe('');
  }, 180000);
});
