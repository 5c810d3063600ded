/**
 * `bin/taskexec` as a user runs it: a real process against a real server, with a real agent
 * process where a task must run. Each verb, each exit status, --json, streaming order, Ctrl-C,
 * the status line (on a pseudo-terminal and without one), and the errors a user meets: a wrong
 * token, a server that is down, a gateway in front, a task that does not exist, usage errors.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../functions/shared/config';
import type { Db } from '../functions/shared/db/db';
import { type RunningServer, startServer } from '../infra/local/server';
import { type Proc, startAgent, stopAll, stopProcess, waitFor } from './faults/support';
import { describeUnless, itUnless } from './support/conditional';
import { pgliteStore, postgresStore } from './support/databases';
import { freePort } from './support/net';
import { call, startTestServer, type TestServer } from './support/server';
import { shellQuote, spawnTaskexec, stopTaskexecs, TASKEXEC, taskexec, taskexecEnv } from './support/taskexec';

// The CLI does not care which database is behind the API: one store, the faster one here.
const store = postgresStore ?? pgliteStore;
const ROOT = join(__dirname, '..');
const API_TOKEN = 'cli-test-api-token';
const AGENT_TOKEN = 'cli-test-agent-token';
const auth = { authorization: `Bearer ${API_TOKEN}` };
const ENDED = ['succeeded', 'failed', 'timed_out', 'canceled'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NO_SUCH_TASK = '00000000-0000-4000-8000-000000000000';

type Task = {
  id: string;
  command: string;
  state: string;
  exitCode: number | null;
  stdout?: string;
  stderr?: string;
  error: string | null;
  cancelRequested: boolean;
  createdAt: string;
};

let scratch: string;
const releases: Array<() => void> = [];
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'cli-test-'));
});
// A test that failed half-way must not leave its task blocking the agent for the next ones.
afterEach(() => {
  for (const release of releases.splice(0)) release();
});
afterAll(async () => {
  await stopTaskexecs();
  await stopAll();
  rmSync(scratch, { recursive: true, force: true });
});

/** A shell snippet that waits until release() is called (at the latest in afterAll). */
function gate(name: string): { wait: string; release(): void } {
  const file = join(scratch, name);
  const release = () => writeFileSync(file, '');
  releases.push(release);
  return { wait: `while [ ! -e '${file}' ]; do sleep 0.05; done`, release };
}

async function getTask(base: string, id: string): Promise<Task> {
  const res = await call(base, 'GET', `/tasks/${id}`, { headers: auth });
  expect(res.status).toBe(200);
  return res.body as Task;
}

const noScript = existsSync('/usr/bin/script') ? null : 'util-linux script (a pseudo-terminal) is not installed';

/** Runs a shell command line on a pseudo-terminal (stdout and stderr both the terminal); resolves with what the terminal got. */
async function onTerminal(commandLine: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  // Not execFileSync: the server answering the CLI runs in this process.
  const child = spawn('script', ['-qfec', commandLine, '/dev/null'], { env: taskexecEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out };
}

/** The one task whose command contains `marker` (each test's gate file names are unique). */
async function taskWith(base: string, marker: string): Promise<Task> {
  return waitFor(`a task with ${marker}`, async () => {
    const res = await call(base, 'GET', '/tasks?limit=1000', { headers: auth });
    return (res.body as { tasks: Task[] }).tasks.find((t) => t.command.includes(marker)) ?? null;
  });
}

const waitState = (base: string, id: string, states: string[], timeoutMs = 30000) =>
  waitFor(
    `task ${id} to be ${states.join(' or ')}`,
    async () => {
      const t = await getTask(base, id);
      return states.includes(t.state) ? t : null;
    },
    timeoutMs,
  );

describe('taskexec against a real server and agent', () => {
  let server: TestServer;
  let agent: Proc;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}) => taskexec(args, { ...env, ...extra });

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN });
    // A long kill grace: a command that ignores SIGTERM takes that long to stop (the second Ctrl-C test).
    agent = startAgent('cli-agent', server.url, { AGENT_TOKEN, AGENT_KILL_GRACE: '20s', POLL_WAIT: '5s' });
    env = { TASKEXEC_URL: server.url, API_TOKEN };
  });
  afterAll(async () => {
    await stopProcess(agent);
    await server?.stop();
  });

  describe('run', () => {
    it('writes the command output to stdout and exits 0', async () => {
      const r = await cli(['run', 'echo', 'hello']);
      expect(r).toMatchObject({ code: 0, stdout: 'hello\n', stderr: '' });
    });

    it('keeps stdout and stderr apart and exits with the command own exit code', async () => {
      const r = await cli(['run', 'echo out; echo err >&2; exit 3']);
      expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    });

    it('joins its words with spaces and leaves options after the first word to the command', async () => {
      expect(await cli(['run', 'echo', '-n', 'hi'])).toMatchObject({ code: 0, stdout: 'hi' });
      expect(await cli(['run', '--', 'echo', '--json', '--timeout', '1'])).toMatchObject({ code: 0, stdout: '--json --timeout 1\n' });
    });

    it('exits 124 when the task timed out, saying so on stderr', async () => {
      const r = await cli(['run', '--timeout', '1', 'sleep', '30']);
      expect(r).toMatchObject({ code: 124, stdout: '', stderr: 'taskexec: timed out after 1s\n' });
    });

    it('exits 130 when the task is canceled by someone else', async () => {
      const g = gate('canceled-elsewhere');
      const proc = spawnTaskexec(['run', g.wait], env);
      const task = await taskWith(server.url, 'canceled-elsewhere');
      await waitState(server.url, task.id, ['running']);
      expect((await cli(['cancel', task.id])).code).toBe(0);
      const r = await proc.ended;
      expect(r.code).toBe(130);
      expect(r.stderr).toBe('taskexec: canceled by user\n');
      expect((await getTask(server.url, task.id)).state).toBe('canceled');
    });

    it('--max-attempts reaches the task', async () => {
      const r = await cli(['run', '--max-attempts', '3', '--detach', '--json', 'true']);
      expect(JSON.parse(r.stdout)).toMatchObject({ maxAttempts: 3 });
    });

    it('--json prints the ended task as JSON instead of the output, and still exits with its status', async () => {
      const r = await cli(['run', '--json', 'echo json-out; exit 4']);
      expect(r.code).toBe(4);
      const task = JSON.parse(r.stdout) as Task;
      expect(task).toMatchObject({ state: 'failed', exitCode: 4, stdout: 'json-out\n', command: 'echo json-out; exit 4' });
      expect(r.stderr).toBe('');
    });

    it('--detach prints the id and exits 0 at once; with --json the created task', async () => {
      const g = gate('detached');
      const r = await cli(['run', '--detach', g.wait]);
      expect(r.code).toBe(0);
      const id = r.stdout.trim();
      expect(id).toMatch(UUID);
      expect(r.stdout).toBe(`${id}\n`);
      expect(ENDED).not.toContain((await getTask(server.url, id)).state);
      g.release();

      const j = await cli(['run', '--detach', '--json', 'echo', 'later']);
      expect(j.code).toBe(0);
      expect(JSON.parse(j.stdout)).toMatchObject({ id: expect.stringMatching(UUID), state: 'queued', command: 'echo later' });
    });

    it('writes output as it arrives, long before the task ends', async () => {
      const g = gate('streams-early');
      const proc = spawnTaskexec(['run', `echo first; echo first-err >&2; ${g.wait}; echo second`], env);
      await waitFor('the first line on stdout and on stderr', () => proc.stdout() === 'first\n' && proc.stderr() === 'first-err\n', 15000);
      const task = await taskWith(server.url, 'streams-early');
      expect((await getTask(server.url, task.id)).state).toBe('running');
      g.release();
      expect(await proc.ended).toMatchObject({ code: 0, stdout: 'first\nsecond\n', stderr: 'first-err\n' });
    });

    it('delivers interleaved stdout and stderr each on its own stream, in the order they were written', async () => {
      const gates = [gate('order-1'), gate('order-2'), gate('order-3')];
      const [g1, g2, g3] = gates as [ReturnType<typeof gate>, ReturnType<typeof gate>, ReturnType<typeof gate>];
      const command = `printf 'o1\\n'; ${g1.wait}; printf 'e1\\n' >&2; ${g2.wait}; printf 'o2\\n'; ${g3.wait}; printf 'e2\\n' >&2`;
      const proc = spawnTaskexec(['run', command], env);
      await waitFor('o1 on stdout', () => proc.stdout() === 'o1\n', 15000);
      g1.release();
      await waitFor('e1 on stderr', () => proc.stderr() === 'e1\n', 15000);
      g2.release();
      await waitFor('o2 on stdout', () => proc.stdout() === 'o1\no2\n', 15000);
      g3.release();
      const r = await proc.ended;
      expect(r).toMatchObject({ code: 0, stdout: 'o1\no2\n', stderr: 'e1\ne2\n' });
      expect(proc.pieces.map((p) => `${p.stream}:${p.text}`)).toEqual(['stdout:o1\n', 'stderr:e1\n', 'stdout:o2\n', 'stderr:e2\n']);
    });

    it('writes bytes of every kind through unchanged (UTF-8, quotes, no newline at the end)', async () => {
      const text = 'emoji 😀 "double" \'single\' $HOME שלום';
      const r = await cli(['run', `printf '%s' ${shellQuote(text)}`]);
      expect(r).toMatchObject({ code: 0, stdout: text });
    });
  });

  describe('Ctrl-C during run', () => {
    it('cancels the task, waits for it to end and exits 130', async () => {
      const g = gate('ctrl-c');
      const proc = spawnTaskexec(['run', g.wait], env);
      const task = await taskWith(server.url, 'ctrl-c');
      await waitState(server.url, task.id, ['running']);
      proc.child.kill('SIGINT');
      const r = await proc.ended;
      expect(r.code).toBe(130);
      expect(r.stderr).toContain(`taskexec: canceling task ${task.id}`);
      expect((await getTask(server.url, task.id)).state).toBe('canceled');
    });

    it('leaves at once with 130 on a second Ctrl-C, while the task is still stopping', async () => {
      const g = gate('ctrl-c-twice');
      // Ignores SIGTERM: the agent stops it only after its 20 s kill grace (or when released).
      const proc = spawnTaskexec(['run', `trap '' TERM; ${g.wait}; echo released`], env);
      const task = await taskWith(server.url, 'ctrl-c-twice');
      await waitState(server.url, task.id, ['running']);
      proc.child.kill('SIGINT');
      await waitFor('the cancel to be requested', async () => (await getTask(server.url, task.id)).cancelRequested);
      // Past the window in which a repeat counts as the same Ctrl-C (npm forwards one).
      await new Promise((r) => setTimeout(r, 1200));
      proc.child.kill('SIGINT');
      const r = await proc.ended;
      expect(r.code).toBe(130);
      expect(r.stderr).toContain(`taskexec: left without waiting for task ${task.id} to stop`);
      expect((await getTask(server.url, task.id)).state).toBe('running');
      g.release();
      expect((await waitState(server.url, task.id, ENDED)).state).toBe('canceled');
    });
  });

  describe('wait, logs, show, cancel, ls', () => {
    it('wait exits with the task exit status, like run; --json prints the ended task', async () => {
      const id = (await cli(['run', '--detach', 'sleep 0.5; echo waited; exit 3'])).stdout.trim();
      expect(await cli(['wait', id])).toMatchObject({ code: 3, stdout: '', stderr: '' });
      const j = await cli(['wait', '--json', id]);
      expect(j.code).toBe(3);
      expect(JSON.parse(j.stdout)).toMatchObject({ id, state: 'failed', exitCode: 3, stdout: 'waited\n' });
    });

    it('logs writes the stored stdout to stdout and stderr to stderr', async () => {
      const id = (await cli(['run', '--detach', 'echo to-out; echo to-err >&2'])).stdout.trim();
      await waitState(server.url, id, ENDED);
      expect(await cli(['logs', id])).toMatchObject({ code: 0, stdout: 'to-out\n', stderr: 'to-err\n' });
    });

    it('logs --json writes one JSON line per piece, naming its stream and offset', async () => {
      const id = (await cli(['run', '--detach', 'printf abc; printf de >&2'])).stdout.trim();
      await waitState(server.url, id, ENDED);
      const r = await cli(['logs', '--json', id]);
      expect(r.code).toBe(0);
      const lines = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toEqual([
        { stream: 'stdout', offset: 0, data: 'abc' },
        { stream: 'stderr', offset: 0, data: 'de' },
      ]);
    });

    it('logs -f follows a running task until it ends', async () => {
      const g = gate('logs-follow');
      const id = (await cli(['run', '--detach', `echo before; ${g.wait}; echo after; echo after-err >&2`])).stdout.trim();
      const proc = spawnTaskexec(['logs', '-f', id], env);
      await waitFor('the first line', () => proc.stdout() === 'before\n', 15000);
      expect(proc.child.exitCode).toBeNull();
      g.release();
      expect(await proc.ended).toMatchObject({ code: 0, stdout: 'before\nafter\n', stderr: 'after-err\n' });
    });

    it('show prints the task readable, and --json as the API gives it', async () => {
      const id = (await cli(['run', '--detach', 'echo shown'])).stdout.trim();
      await waitState(server.url, id, ENDED);
      const r = await cli(['show', id]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`id           ${id}\n`);
      expect(r.stdout).toContain('command      echo shown\n');
      expect(r.stdout).toContain('state        succeeded\n');
      expect(r.stdout).toContain('exit code    0\n');
      expect(r.stdout).toContain('--- stdout ---\nshown\n--- stderr (empty) ---\n');
      const j = await cli(['show', '--json', id]);
      expect(JSON.parse(j.stdout)).toEqual(await getTask(server.url, id));
    });

    it('cancel prints the new state of a running task and exits 1 with the detail for an ended one', async () => {
      const g = gate('cancel-verb');
      const id = (await cli(['run', '--detach', g.wait])).stdout.trim();
      await waitState(server.url, id, ['running']);
      const r = await cli(['cancel', id]);
      expect(r).toMatchObject({ code: 0, stdout: 'running (cancel requested: its agent stops it within a few seconds)\n', stderr: '' });
      await waitState(server.url, id, ['canceled']);
      const again = await cli(['cancel', id]);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe('');
      expect(again.stderr).toMatch(/^taskexec: [^\n]+\n$/);
      const problem = await call(server.url, 'POST', `/tasks/${id}/cancel`, { headers: auth });
      expect(problem.status).toBe(409);
      expect(again.stderr).toBe(`taskexec: ${(problem.body as { detail: string }).detail}\n`);
    });

    it.each([['show'], ['logs'], ['cancel'], ['wait']])('%s of a task that does not exist exits 1 with the server detail', async (verb) => {
      const r = await cli([verb, NO_SUCH_TASK]);
      const problem = await call(server.url, 'GET', `/tasks/${NO_SUCH_TASK}`, { headers: auth });
      expect(problem.status).toBe(404);
      expect(r).toMatchObject({ code: 1, stdout: '', stderr: `taskexec: ${(problem.body as { detail: string }).detail}\n` });
    });

    it('show of an id that is not a UUID exits 1 with the server detail', async () => {
      const r = await cli(['show', 'not-an-id']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^taskexec: The task id "not-an-id" is not a UUID[^\n]*\n$/);
    });

    it('ls --json prints the API list answer as it came', async () => {
      const r = await cli(['ls', '--json', '--limit', '5']);
      expect(r.code).toBe(0);
      const raw = await call(server.url, 'GET', '/tasks?limit=5', { headers: auth });
      expect(r.stdout).toBe(`${raw.text}\n`);
    });
  });

  describe('the status line', () => {
    it('writes no status byte when stderr is not a terminal', async () => {
      const r = await cli(['run', 'sleep 1.5; echo done']);
      expect(r).toMatchObject({ code: 0, stdout: 'done\n', stderr: '' });
    });

    describeUnless(noScript)('on a terminal (script from util-linux)', () => {
      it('shows the state and elapsed time in place, and erases it before the task output', async () => {
        const { code, out } = await onTerminal([TASKEXEC, 'run', 'sleep 1.5; echo done; sleep 1.5'].map(shellQuote).join(' '), env);
        expect(code).toBe(0);
        // Frames: \r, spinner, state, elapsed, hint, erase-to-end; one write each.
        expect(out).toMatch(/\r. (queued|running) \ds {2}Ctrl-C cancels\u001b\[K/u);
        // The line is erased right before the output, which a pty ends with \r\n.
        expect(out).toContain('\r\u001b[Kdone\r\n');
        // Every frame drawn is erased again: nothing of it is left on the screen.
        const lastFrame = 'Ctrl-C cancels\u001b[K';
        expect(out.slice(out.lastIndexOf(lastFrame) + lastFrame.length).startsWith('\r\u001b[K')).toBe(true);
      });

      it('draws nothing on a terminal that cannot redraw a line (TERM=dumb)', async () => {
        const { code, out } = await onTerminal([TASKEXEC, 'run', 'sleep 1.5; echo done'].map(shellQuote).join(' '), {
          ...env,
          TERM: 'dumb',
        });
        expect(code).toBe(0);
        expect(out).toBe('done\r\n');
      });
    });
  });

  describe('errors a user meets', () => {
    it('exits 125 naming API_TOKEN and --token when the server wants a token and none was given', async () => {
      const r = await taskexec(['ls'], { TASKEXEC_URL: server.url });
      expect(r).toMatchObject({ code: 125, stdout: '', stderr: 'taskexec: the server wants a token: set API_TOKEN or pass --token\n' });
    });

    it('exits 125 naming where a refused token came from', async () => {
      expect(await taskexec(['ls'], { TASKEXEC_URL: server.url, API_TOKEN: 'wrong' })).toMatchObject({
        code: 125,
        stderr: "taskexec: the server refused the token from API_TOKEN: check that it is the server's API_TOKEN\n",
      });
      expect(await taskexec(['run', '--token', 'wrong', 'echo', 'x'], { TASKEXEC_URL: server.url, API_TOKEN })).toMatchObject({
        code: 125,
        stderr: "taskexec: the server refused the token from --token: check that it is the server's API_TOKEN\n",
      });
    });

    it('takes --url and --token over the environment', async () => {
      const r = await taskexec(['run', '--url', server.url, '--token', API_TOKEN, 'echo', 'flags'], { TASKEXEC_URL: 'http://127.0.0.1:1' });
      expect(r).toMatchObject({ code: 0, stdout: 'flags\n' });
    });

    it('exits 2 with the server detail when the server refuses the command itself', async () => {
      const r = await cli(['run', `echo ${'x'.repeat(70000)}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^taskexec: [^\n]*longer than 65536 bytes[^\n]*\(see 'taskexec run --help'\)\n$/);
    });

    it('exits 2 with the server detail for a state ls does not know', async () => {
      const r = await cli(['ls', '--state', 'bogus']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^taskexec: Unknown state "bogus"[^\n]*\n$/);
    });
  });
});

describe('taskexec with no agent (tasks stay queued)', () => {
  let server: TestServer;
  let env: Record<string, string>;
  const cli = (args: string[]) => taskexec(args, env);

  beforeAll(async () => {
    server = await startTestServer(store);
    env = { TASKEXEC_URL: server.url };
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('exits 125 with the server advice when a server without API_TOKEN is reached under another name (421)', async () => {
    // A proxy on another port passes the Host it was sent: the name a DNS rebinding page would send too.
    const proxy = await startGateway(server.url);
    try {
      const r = await taskexec(['ls'], { TASKEXEC_URL: `${proxy.url}/prod` });
      expect(r.code).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `taskexec: ${proxy.url}/prod refused the request (421): Without API_TOKEN this server answers only requests that name it ${server.url} (or localhost, [::1]); the Host "${new URL(proxy.url).host}" is another name, as a DNS rebinding web page would send. Use ${server.url}, or set API_TOKEN to serve other names.\n`,
      );
      expect((await taskexec(['run', '--detach', 'echo never stored'], { TASKEXEC_URL: `${proxy.url}/prod` })).code).toBe(125);
      expect((await call(server.url, 'GET', '/tasks')).text).not.toContain('never stored');
    } finally {
      await proxy.close();
    }
  });

  it('cancel of a queued task prints canceled', async () => {
    const id = (await cli(['run', '--detach', 'echo never'])).stdout.trim();
    expect(await cli(['cancel', id])).toMatchObject({ code: 0, stdout: 'canceled\n', stderr: '' });
    const other = (await cli(['run', '--detach', 'echo never again'])).stdout.trim();
    const j = await cli(['cancel', '--json', other]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ id: other, state: 'canceled', error: 'canceled by user' });
  });

  it('Ctrl-C while the task is queued cancels it and exits 130', async () => {
    const proc = spawnTaskexec(['run', 'echo queued-ctrl-c'], env);
    const task = await taskWith(server.url, 'queued-ctrl-c');
    proc.child.kill('SIGINT');
    expect((await proc.ended).code).toBe(130);
    expect((await getTask(server.url, task.id)).state).toBe('canceled');
  });

  it('wait of a task canceled meanwhile exits 130 and writes no status byte without a terminal', async () => {
    const id = (await cli(['run', '--detach', 'echo waits'])).stdout.trim();
    const proc = spawnTaskexec(['wait', id], env);
    await new Promise((r) => setTimeout(r, 1500));
    await call(server.url, 'POST', `/tasks/${id}/cancel`);
    const r = await proc.ended;
    expect(r).toMatchObject({ code: 130, stdout: '', stderr: '' });
  });

  it('ls prints a table newest first; --state filters; --limit pages with a cursor hint on stderr', async () => {
    const ids: string[] = [];
    for (const word of ['ls-one', 'ls-two', 'ls-three']) ids.push((await cli(['run', '--detach', 'echo', word])).stdout.trim());
    await cli(['cancel', ids[0] as string]);

    const r = await cli(['ls']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +STATE +EXIT +CREATED +DURATION +COMMAND$/);
    const rows = lines.slice(1).filter((l) => /echo ls-/.test(l));
    expect(rows.map((l) => l.split(/ +/)[0])).toEqual([...ids].reverse());
    expect(rows[2]).toMatch(/ canceled +- +\d+s ago +- +echo ls-one$/);

    const queued = await cli(['ls', '--state', 'queued']);
    expect(queued.stdout).toContain('echo ls-three');
    expect(queued.stdout).not.toContain('echo ls-one');

    const page = await cli(['ls', '--limit', '1']);
    expect(page.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(page.stdout).toContain(ids[2]);
    const cursor = /^taskexec: more tasks: taskexec ls --limit 1 --cursor (\S+)\n$/.exec(page.stderr)?.[1];
    expect(cursor).toBeDefined();
    const next = await cli(['ls', '--limit', '1', '--cursor', cursor as string]);
    expect(next.stdout).toContain(ids[1]);
  });

  itUnless(noScript)('ls on a terminal cuts each row to its width', async () => {
    await cli(['run', '--detach', `echo ${'z'.repeat(300)}`]);
    const { code, out } = await onTerminal(`stty cols 100; ${shellQuote(TASKEXEC)} ls`, env);
    expect(code).toBe(0);
    // The table's rows (stderr's more-tasks line, on the same terminal here, is not one).
    const rows = out.split('\r\n').filter((l) => l !== '' && !l.startsWith('taskexec:'));
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) expect([...row].length).toBeLessThanOrEqual(100);
    expect(out).toMatch(/echo z+…\r\n/);
  });

  it('ls keeps whole commands when stdout is not a terminal', async () => {
    const long = `echo ${'y'.repeat(400)}`;
    await cli(['run', '--detach', long]);
    expect((await cli(['ls'])).stdout).toContain(long);
  });

  it('works the same from the bundle (npm run build:cli) on plain node, built from cli/ and contract/ alone', async () => {
    // The flags of package.json's build:cli, written to the scratch dir.
    const out = join(scratch, 'taskexec.js');
    const meta = join(scratch, 'taskexec.meta.json');
    const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts[
      'build:cli'
    ] as string;
    const args = script
      .split(/\s+/)
      .slice(1)
      .map((a) => a.replace(/^--outfile=.*/, `--outfile=${out}`).replace(/^--metafile=.*/, `--metafile=${meta}`));
    execFileSync(join(ROOT, 'node_modules', '.bin', 'esbuild'), args, { cwd: ROOT });
    const inputs = Object.keys((JSON.parse(readFileSync(meta, 'utf8')) as { inputs: Record<string, unknown> }).inputs);
    expect(inputs.filter((f) => !/^(cli|contract)\/|^package\.json$|^node_modules\/commander\//.test(f))).toEqual([]);

    const id = (await cli(['run', '--detach', 'echo bundled'])).stdout.trim();
    const child = spawn(process.execPath, [out, 'show', '--json', id], {
      env: { PATH: process.env.PATH ?? '/usr/bin', TASKEXEC_URL: server.url },
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ id, command: 'echo bundled', state: 'queued' });
  });

  describe('usage errors', () => {
    it.each([
      [['nope'], "unknown command 'nope'", 'taskexec'],
      [['run'], "missing required argument 'command'", 'taskexec run'],
      [['run', '--timeout', 'abc', 'echo', 'x'], "argument 'abc' is invalid", 'taskexec run'],
      [['run', '--bogus', 'echo', 'x'], "unknown option '--bogus'", 'taskexec run'],
      [['run', ''], 'the command is empty', 'taskexec run'],
      [['ls', '--limit', '0'], "argument '0' is invalid", 'taskexec ls'],
      [['show'], "missing required argument 'id'", 'taskexec show'],
      [['--url', 'ftp://example.com', 'ls'], '--url must start with http:// or https://', 'taskexec'],
    ])('%j exits 2 with one line on stderr, nothing on stdout and nothing created', async (args, message, help) => {
      const before = (await call(server.url, 'GET', '/tasks?limit=1000')).body as { tasks: unknown[] };
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^taskexec: [^\n]+\n$/);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain(`(see '${help} --help')`);
      const after = (await call(server.url, 'GET', '/tasks?limit=1000')).body as { tasks: unknown[] };
      expect(after.tasks).toHaveLength(before.tasks.length);
    });

    it('a bad TASKEXEC_URL exits 2 naming the variable', async () => {
      const r = await taskexec(['ls'], { TASKEXEC_URL: 'localhost:3500' });
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toMatch(/^taskexec: TASKEXEC_URL must start with http:\/\/ or https:\/\/: localhost:3500/);
    });

    it('no verb at all exits 2 with the help on stderr', async () => {
      const r = await cli([]);
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toContain('Usage: taskexec');
    });

    it('--help exits 0 with the usage on stdout, and --version prints the version', async () => {
      const help = await cli(['run', '--help']);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toContain('Usage: taskexec run [options] <command...>');
      const version = await cli(['--version']);
      expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    });
  });
});

describe('taskexec when the server is not there', () => {
  it('exits 125 naming the URL and what to check when nothing listens there', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    for (const args of [['run', 'echo', 'x'], ['ls'], ['show', NO_SUCH_TASK], ['wait', NO_SUCH_TASK]]) {
      const r = await taskexec(args, { TASKEXEC_URL: url });
      expect(r).toMatchObject({
        code: 125,
        stdout: '',
        stderr: `taskexec: cannot reach ${url} (ECONNREFUSED): is the server running? set TASKEXEC_URL or --url\n`,
      });
    }
  });
});

type Gateway = { url: string; mode: 'pass' | 'unavailable' | 'no-output-route'; close(): Promise<void> };

/**
 * A stand-in for API Gateway in front of the server: the API lives under a stage path (/prod),
 * other paths answer API Gateway's own 404 body, `unavailable` answers its 503, and
 * `no-output-route` answers GET /tasks/{id}/output as a server from before live output did.
 */
async function startGateway(target: string): Promise<Gateway> {
  const upstream = new URL(target);
  const gw: Gateway = { url: '', mode: 'pass', close: async () => undefined };
  const srv: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (gw.mode === 'unavailable') {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"Service Unavailable"}');
      return;
    }
    if (gw.mode === 'no-output-route' && /^\/prod\/tasks\/[^/]+\/output/.test(url)) {
      const detail = `No endpoint at GET ${url.slice('/prod'.length).split('?')[0]}; see openapi.yaml for the API.`;
      res
        .writeHead(404, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'x', title: 'Not found', status: 404, detail }));
      return;
    }
    if (!url.startsWith('/prod/')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
      return;
    }
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: url.slice('/prod'.length), headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502, { 'content-type': 'application/json' }).end('{"message":"Bad Gateway"}'));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  gw.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  gw.close = () => new Promise<void>((resolve) => srv.close(() => resolve()));
  return gw;
}

describe('taskexec behind a gateway (an API Gateway stage path)', () => {
  let server: TestServer;
  let agent: Proc;
  let gw: Gateway;

  beforeAll(async () => {
    // Both tokens, as a deployment behind API Gateway always has them: without API_TOKEN the
    // server answers 421 to the gateway's Host (tested above).
    server = await startTestServer(store, { API_TOKEN, AGENT_TOKEN });
    agent = startAgent('cli-gateway-agent', server.url, { AGENT_TOKEN });
    gw = await startGateway(server.url);
  });
  afterAll(async () => {
    await stopProcess(agent);
    await gw?.close();
    await server?.stop();
  });

  it('runs, lists and shows through the stage path', async () => {
    const env = { TASKEXEC_URL: `${gw.url}/prod`, API_TOKEN };
    const r = await taskexec(['run', 'echo via-gateway; echo e >&2; exit 5'], env);
    expect(r).toMatchObject({ code: 5, stdout: 'via-gateway\n', stderr: 'e\n' });
    expect((await taskexec(['ls'], env)).stdout).toContain('via-gateway');
  });

  it('runs and follows against a server from before live output, by polling the task', async () => {
    gw.mode = 'no-output-route';
    try {
      const env = { TASKEXEC_URL: `${gw.url}/prod`, API_TOKEN };
      expect(await taskexec(['run', 'echo old-server; echo e >&2; exit 7'], env)).toMatchObject({
        code: 7,
        stdout: 'old-server\n',
        stderr: 'e\n',
      });
      const id = (await taskexec(['run', '--detach', 'sleep 0.5; echo followed'], env)).stdout.trim();
      expect(await taskexec(['logs', '-f', id], env)).toMatchObject({ code: 0, stdout: 'followed\n', stderr: '' });
      expect(await taskexec(['wait', id], env)).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect((await taskexec(['show', NO_SUCH_TASK], env)).code).toBe(1);
    } finally {
      gw.mode = 'pass';
    }
  });

  it('exits 125 saying it is not the task API when the URL lacks the stage path', async () => {
    const r = await taskexec(['ls'], { TASKEXEC_URL: gw.url, API_TOKEN });
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(
      `taskexec: ${gw.url}/tasks answered 404 {"message":"Not Found"}: not the task API; check TASKEXEC_URL or --url\n`,
    );
  });

  it('exits 125 with the status when the gateway answers 503', async () => {
    gw.mode = 'unavailable';
    try {
      const r = await taskexec(['ls'], { TASKEXEC_URL: `${gw.url}/prod`, API_TOKEN });
      expect(r).toMatchObject({ code: 125, stderr: `taskexec: ${gw.url}/prod answered 503: {"message":"Service Unavailable"}\n` });
    } finally {
      gw.mode = 'pass';
    }
  });
});

describe('taskexec while the server restarts', () => {
  let db: Db | undefined;
  let running: RunningServer | undefined;
  let agent: Proc | undefined;

  afterAll(async () => {
    await stopProcess(agent);
    await running?.close(1000);
    await db?.close();
  });

  it('keeps following a run across a server restart and exits with the task status', async () => {
    db = await store.open();
    const config = loadConfig({ SERVER_PORT: String(await freePort()), LOG_LEVEL: 'error', AGENT_TOKEN });
    running = await startServer(config, { db });
    const base = running.url;
    agent = startAgent('cli-restart-agent', base, { AGENT_TOKEN });
    const g = gate('restart');
    const proc = spawnTaskexec(['run', `echo before; ${g.wait}; echo after; exit 6`], { TASKEXEC_URL: base });
    const task = await taskWith(base, 'restart');
    await waitFor('the task to run', async () => (await call(base, 'GET', `/tasks/${task.id}`)).text.includes('"running"'));

    await running.close(1000);
    running = undefined;
    g.release();
    await new Promise((r) => setTimeout(r, 2000));
    running = await startServer(config, { db });

    const r = await proc.ended;
    expect(r).toMatchObject({ code: 6, stdout: 'before\nafter\n', stderr: '' });
  }, 90000);
});

describe('taskexec exits 1 when a task failed without an exit code', () => {
  let server: TestServer;
  let agent: Proc;

  beforeAll(async () => {
    server = await startTestServer(store, { AGENT_TOKEN });
    agent = startAgent('cli-stopping-agent', server.url, { AGENT_TOKEN, AGENT_STOP_GRACE: '200ms' });
  });
  afterAll(async () => {
    await stopProcess(agent);
    await server?.stop();
  });

  it('run exits 1 and says why when the agent stopped the command', async () => {
    const proc = spawnTaskexec(['run', 'sleep 300'], { TASKEXEC_URL: server.url });
    const task = await waitFor('the task to run', async () => {
      const res = await call(server.url, 'GET', '/tasks?state=running');
      return (res.body as { tasks: Task[] }).tasks[0] ?? null;
    });
    agent.child.kill('SIGTERM');
    const r = await proc.ended;
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'taskexec: agent stopped\n' });
    expect(await getTask(server.url, task.id)).toMatchObject({ state: 'failed', exitCode: null, error: 'agent stopped' });
  });
});
