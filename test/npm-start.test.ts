/**
 * `npm start` as a user runs it (infra/local/start.ts: the server and a local agent as real
 * processes), attacked from a task: the review read API_TOKEN and AGENT_TOKEN from
 * /proc/<server pid>/environ. With containment in force the command cannot see the server's
 * or the agent's /proc entry, and the agent's environment never held the token.
 */
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describeUnless } from './support/conditional';
import { freePort } from './support/net';
import { call } from './support/server';

const ROOT = join(__dirname, '..');
const API_TOKEN = 'npm-start-api-token-0123456789';
const AGENT_TOKEN = 'npm-start-agent-token-0123456789';

const namespaceMissing = (() => {
  const args = process.getuid?.() === 0 ? [] : ['--user', '--map-current-user'];
  const probe = spawnSync('unshare', [...args, '--pid', '--fork', '--kill-child', '--mount-proc', 'true']);
  return probe.status === 0 ? null : 'no PID namespace for commands here (the agent falls back to the process group)';
})();

/** Polls until `probe` returns something truthy; fails after `timeoutMs` naming what it waited for. */
async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 60000, output?: () => string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${output ? `\n${output().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pid of the local agent npm start runs (its child running the agent's bundle, dist/agent.js). */
const agentOf = (pid: number): number | undefined => {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.find((child) => readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('dist/agent.js'));
  } catch {
    return undefined;
  }
};

describeUnless(namespaceMissing)('npm start, attacked by a task that reads the server’s environment', () => {
  let start: ChildProcessByStdio<null, Readable, Readable>;
  let output = '';
  let url: string;
  let dir: string;
  const auth = { authorization: `Bearer ${API_TOKEN}` };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'npm-start-test-'));
    const port = await freePort();
    // What `npm start` runs: the bundles of start.ts and the agent, built here when stale.
    start = spawn(process.execPath, ['bin/bundled', 'start'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        SERVER_PORT: String(port),
        DATA_DIR: join(dir, 'data'),
        API_TOKEN,
        AGENT_TOKEN,
        AGENTS: '1',
        POLL_INTERVAL: '100ms',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    start.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    url = `http://127.0.0.1:${port}`;
    await waitFor(
      'npm start to be ready',
      () => output.includes('ready on'),
      60000,
      () => output,
    );
  });
  afterAll(async () => {
    if (start.exitCode === null) {
      const exited = new Promise((r) => start.once('exit', r));
      start.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps both tokens from a task that reads /proc/<server pid>/environ and the agent’s', async () => {
    const server = start.pid as number;
    const agent = await waitFor('the local agent', () => agentOf(server));
    // What the attack would find: Linux keeps a process's starting environment in /proc.
    expect(readFileSync(`/proc/${server}/environ`, 'utf8')).toContain(API_TOKEN);
    const created = await call(url, 'POST', '/tasks', {
      headers: auth,
      body: { command: `cat /proc/${server}/environ; cat /proc/${agent}/environ; cat /proc/$PPID/environ; env` },
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const task = await waitFor(
      'the task to end',
      async () => {
        const t = (await call(url, 'GET', `/tasks/${id}`, { headers: auth })).body as { state: string; stdout: string; stderr: string };
        return ['succeeded', 'failed'].includes(t.state) ? t : null;
      },
      60000,
      () => output,
    );
    // It ran, so the agent had its token; and it read none.
    expect(`${task.stdout}${task.stderr}`).not.toContain(API_TOKEN);
    expect(`${task.stdout}${task.stderr}`).not.toContain(AGENT_TOKEN);
    expect(task.stderr).toMatch(new RegExp(`/proc/${server}/environ: No such file`));
    expect(task.stderr).toMatch(new RegExp(`/proc/${agent}/environ: No such file`));
  });

  it('gives the local agent its token over IPC: its own environment holds neither token', async () => {
    const agent = await waitFor('the local agent', () => agentOf(start.pid as number));
    const environ = readFileSync(`/proc/${agent}/environ`, 'utf8');
    expect(environ).not.toContain(AGENT_TOKEN);
    expect(environ).not.toContain(API_TOKEN);
    expect(environ.split('\0')).toContain('AGENT_TOKEN_FROM=ipc');
  });

  it('runs its local agent at nice 10, every thread of it and its autogroup, and the agent’s commands and their session too', async () => {
    const agent = await waitFor('the local agent', () => agentOf(start.pid as number));
    // Field 19 of /proc/<pid>/task/<tid>/stat (after the command name in parentheses) is the nice value.
    const niceOf = (path: string) => Number(readFileSync(path, 'utf8').split(') ')[1]?.split(' ')[16]);
    const threads = readdirSync(`/proc/${agent}/task`);
    expect(threads.length).toBeGreaterThan(1);
    expect(threads.map((tid) => niceOf(`/proc/${agent}/task/${tid}/stat`))).toEqual(threads.map(() => 10));
    expect(niceOf(`/proc/${start.pid}/stat`)).toBe(0);
    // and, the agent leading a session of its own, its autogroup (where the kernel has them)
    if (existsSync(`/proc/${agent}/autogroup`)) expect(readFileSync(`/proc/${agent}/autogroup`, 'utf8')).toMatch(/ nice 10$/m);
    // The command: its own niceness, and that of the autogroup of the spawner's session it runs in
    // (a session of its own, at 0 unless the agent sets it).
    const groupOf = existsSync(`/proc/${agent}/autogroup`) ? "; sed -n 's/.* nice //p' /proc/self/autogroup" : '';
    const created = await call(url, 'POST', '/tasks', { headers: auth, body: { command: `nice${groupOf}` } });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const task = await waitFor('the nice task to end', async () => {
      const t = (await call(url, 'GET', `/tasks/${id}`, { headers: auth })).body as { state: string; stdout: string };
      return t.state === 'succeeded' || t.state === 'failed' ? t : null;
    });
    expect(task).toMatchObject({ state: 'succeeded', stdout: groupOf ? '10\n10\n' : '10\n' });
  });

  it('says at start which containment its agent is in', () => {
    expect(output).toMatch(/command containment: PID namespace per agent, emptied after each task/);
  });
});
