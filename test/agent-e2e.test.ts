/**
 * The real agent process (`node --import tsx agent/main.ts`) against the real server over HTTP,
 * on every store: tasks submitted as a user would, run by /bin/sh, reported and read back.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../contract/task';
import { loadConfig } from '../functions/shared/config';
import type { Db } from '../functions/shared/db/db';
import { type RunningServer, startServer } from '../infra/local/server';
import { waitFor as waitUntil } from './support/clock';
import { stores } from './support/databases';
import { freePort } from './support/net';
import { type Proc, startAgent as startAgentProcess, stopProcess } from './support/processes';
import { startTestServer, type TestServer } from './support/server';
import { getTask, submit as submitTask, type TaskWithOutput, waitState } from './support/tasks';

const AGENT_TOKEN = 'agent-token-e2e-7c1f';
const MiB = 1048576;

const agents = new Set<Proc>();

/** Starts a real agent process (no long-poll: these tests poll); every one is stopped in afterAll. */
function startAgent(id: string, env: Record<string, string> & { BACKEND_URL: string }): Proc {
  const { BACKEND_URL, ...rest } = env;
  const agent = startAgentProcess(id, BACKEND_URL, { POLL_WAIT: '0', AGENT_STOP_GRACE: '2s', ...rest });
  agents.add(agent);
  return agent;
}

/**
 * SIGTERM (stop picking); a second SIGTERM (stop the command now); SIGKILL as the last resort.
 * The agent's commands run in their own process groups, so a SIGKILLed agent would leave them.
 */
async function stopAgent(agent: Proc | undefined): Promise<void> {
  if (agent === undefined) return;
  agents.delete(agent);
  await stopProcess(agent, 15000, 5000);
}

afterAll(async () => {
  for (const release of releases) release();
  await Promise.all([...agents].map(stopAgent));
});

/** Polls until `probe` returns something truthy; on timeout the agent's log is in the error. */
const waitFor = <T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30000, agent?: Proc) =>
  waitUntil(what, probe, timeoutMs, 50, agent ? () => `agent output:\n${agent.output().slice(-4000)}` : undefined);

const submit = (base: string, command: string, timeoutSeconds?: number) =>
  submitTask(base, timeoutSeconds === undefined ? { command } : { command, timeoutSeconds });

const waitEnded = (base: string, id: string, agent?: Proc, timeoutMs = 30000) =>
  waitState(base, id, undefined, timeoutMs, agent ? () => `agent output:\n${agent.output().slice(-4000)}` : undefined);

async function run(base: string, agent: Proc, command: string, timeoutSeconds?: number): Promise<TaskWithOutput> {
  const task = await submit(base, command, timeoutSeconds);
  return waitEnded(base, task.id, agent);
}

/** Whether this host gives agents a PID namespace (root, or unprivileged user namespaces). */
const namespaceHere = (() => {
  const args = process.getuid?.() === 0 ? [] : ['--user', '--map-current-user'];
  return spawnSync('unshare', [...args, '--pid', '--fork', '--kill-child', '--mount-proc', 'true']).status === 0;
})();

/** The review's daemon, `(setsid sleep M &)`, once it has left the process group. */
const daemonCommand = (marker: string) =>
  `(setsid sh -c 'touch in-own-session; exec sleep ${marker}' > /dev/null 2>&1 &); while [ ! -e in-own-session ]; do sleep 0.01; done`;

/** Host pids (not zombies) with `marker` as one of their arguments. */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'agent-e2e-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const releases: Array<() => void> = [];

/** A command that runs until the returned release() is called (at the latest in afterAll). */
function blocker(name: string): { command: string; release(): void } {
  const file = join(scratch, name);
  const release = () => writeFileSync(file, '');
  releases.push(release);
  return { command: `while [ ! -e '${file}' ]; do sleep 0.05; done; echo released`, release };
}

describe.each(stores)('the agent process against a real server on $name', (store) => {
  describe('with the server up', () => {
    let server: TestServer | undefined;
    let agent: Proc;
    let healthPort: number;
    let base: string;

    beforeAll(async () => {
      server = await startTestServer(store, { AGENT_TOKEN });
      base = server.url;
      healthPort = await freePort();
      agent = startAgent(`e2e-${store.name}`, {
        BACKEND_URL: base,
        AGENT_TOKEN,
        API_TOKEN: 'api-secret-e2e-0123456789',
        DB_PASSWORD: 'db-secret-e2e',
        TASK_ENV_FOO: 'bar',
        AGENT_HEALTH_PORT: String(healthPort),
      });
    });
    afterAll(async () => {
      await stopAgent(agent);
      await server?.stop();
    });

    it('runs `echo hello` to succeeded with stdout "hello\\n"', async () => {
      const t = await run(base, agent, 'echo hello');
      expect(t).toMatchObject({ state: 'succeeded', exitCode: 0, stdout: 'hello\n', stderr: '', error: null, agentId: agent.name });
      expect(t.outputTruncated).toBe(false);
      expect(Date.parse(t.startedAt as string)).toBeLessThanOrEqual(Date.parse(t.finishedAt as string));
    });

    it('reports `exit 3` as failed with exit code 3', async () => {
      const t = await run(base, agent, 'exit 3');
      expect(t).toMatchObject({ state: 'failed', exitCode: 3, error: null });
    });

    it('stores stderr apart from stdout', async () => {
      const t = await run(base, agent, 'echo out; echo oops >&2');
      expect(t).toMatchObject({ state: 'succeeded', stdout: 'out\n', stderr: 'oops\n' });
    });

    it('stores bytes that are not UTF-8, and NUL, as U+FFFD and keeps the rest', async () => {
      const t = await run(base, agent, "printf '\\377\\376abc'; printf 'a\\000b' >&2");
      expect(t).toMatchObject({ state: 'succeeded', stdout: '\uFFFD\uFFFDabc', stderr: 'a\uFFFDb' });
    });

    it('keeps the head and tail of 3 MB of output and marks the task outputTruncated', async () => {
      const t = await run(base, agent, 'seq 1 450000');
      expect(t.state).toBe('succeeded');
      expect(t.outputTruncated).toBe(true);
      expect(Buffer.byteLength(t.stdout)).toBeLessThanOrEqual(MiB);
      expect(t.stdout.startsWith('1\n2\n3\n')).toBe(true);
      expect(t.stdout.endsWith('449999\n450000\n')).toBe(true);
      expect(t.stdout).toMatch(/\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n/);
    });

    it('stops `sleep 30` with timeoutSeconds 1 as timed_out', async () => {
      const t = await run(base, agent, 'sleep 30', 1);
      expect(t).toMatchObject({ state: 'timed_out', exitCode: null, error: 'timed out after 1s' });
    });

    it('says at start which containment is in force, in one line', async () => {
      await waitFor('the start-up line', () => agent.output().includes('command containment: '), 30000, agent);
      const lines = agent
        .output()
        .split('\n')
        .filter((l) => l.includes('command containment: '));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(namespaceHere ? /PID namespace per agent, emptied after each task/ : /process group .*no PID namespace: /);
    });

    it.each([
      ['a normal end', (m: string) => `${daemonCommand(m)}; echo started`, undefined, 'succeeded'],
      ['a timeout', (m: string) => `${daemonCommand(m)}; sleep 30`, 1, 'timed_out'],
    ] as const)(
      'leaves no daemon of a task behind after %s where the PID namespace is in force',
      async (_what, command, timeout, state) => {
        const marker = `300.${process.pid}${Math.floor(Math.random() * 1e6)}`;
        const t = await run(base, agent, command(marker), timeout);
        expect(t.state).toBe(state);
        if (namespaceHere) expect(processesWith(marker)).toEqual([]);
        else for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
      },
    );

    it('reports a command that does not exist as failed with exit code 127', async () => {
      const t = await run(base, agent, 'no-such-command-e2e');
      expect(t).toMatchObject({ state: 'failed', exitCode: 127 });
      expect(t.stderr).toMatch(/not found/);
    });

    it('gives the command TASK_ID and TASK_ENV_FOO as FOO, and none of the agent tokens or secrets', async () => {
      const t = await run(base, agent, 'env');
      const vars = t.stdout.split('\n');
      expect(vars).toEqual(expect.arrayContaining([`TASK_ID=${t.id}`, 'FOO=bar']));
      expect(t.stdout).not.toContain(AGENT_TOKEN);
      expect(t.stdout).not.toMatch(/AGENT_TOKEN|API_TOKEN|DB_PASSWORD|secret|BACKEND_URL/);
    });

    it('returns emoji, quotes, $(...), newlines and right-to-left text byte-exact', async () => {
      const text = 'emoji 😀👍🏽\n"double" \'single\' $(echo not-run) `tick` $HOME\nשלום עולם مرحبا\n';
      const t = await run(base, agent, `cat <<'END_OF_TEXT'\n${text}END_OF_TEXT`);
      expect(t.stdout).toBe(text);
    });

    it('runs tasks one at a time in the order they were created', async () => {
      const hold = blocker(`order-${store.name}`);
      const first = await submit(base, hold.command);
      await waitFor('the first task to start', async () => (await getTask(base, first.id)).state === 'running', 30000, agent);
      const rest: Task[] = [];
      for (let i = 1; i <= 5; i++) rest.push(await submit(base, `echo ${i}`));
      hold.release();
      const ended = [await waitEnded(base, first.id, agent)];
      for (const t of rest) ended.push(await waitEnded(base, t.id, agent));

      expect(ended.map((t) => t.state)).toEqual(Array(6).fill('succeeded'));
      expect(ended.map((t) => t.agentId)).toEqual(Array(6).fill(agent.name));
      expect(ended.slice(1).map((t) => t.stdout)).toEqual(['1\n', '2\n', '3\n', '4\n', '5\n']);
      for (let i = 1; i < ended.length; i++) {
        const prev = ended[i - 1] as Task;
        const cur = ended[i] as Task;
        expect(Date.parse(cur.startedAt as string)).toBeGreaterThanOrEqual(Date.parse(prev.startedAt as string));
        expect(Date.parse(cur.startedAt as string)).toBeGreaterThanOrEqual(Date.parse(prev.finishedAt as string));
      }
    });

    it('answers /healthz with idle, then busy with the running task id, then idle again', async () => {
      type Health = { agentId: string; state: string; taskId: string | null; lastContactAt: string | null };
      const health = async (): Promise<Health | null> => {
        try {
          const res = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
          return res.status === 200 ? ((await res.json()) as Health) : null;
        } catch {
          return null;
        }
      };
      const idle = await waitFor('an idle /healthz', async () => {
        const h = await health();
        return h?.state === 'idle' && h.lastContactAt !== null ? h : null;
      });
      expect(idle).toMatchObject({ agentId: agent.name, taskId: null });
      expect(Number.isNaN(Date.parse(idle.lastContactAt as string))).toBe(false);

      const hold = blocker(`health-${store.name}`);
      const task = await submit(base, hold.command);
      const busy = await waitFor('a busy /healthz', async () => {
        const h = await health();
        return h?.state === 'busy' ? h : null;
      });
      expect(busy.taskId).toBe(task.id);

      hold.release();
      expect((await waitEnded(base, task.id, agent)).state).toBe('succeeded');
      await waitFor('/healthz to be idle again', async () => {
        const h = await health();
        return h?.state === 'idle' && h.taskId === null;
      });
    });

    it('says so in one warning line at start when it runs with the process-group fallback', async () => {
      const fallback = startAgent(`e2e-fallback-${store.name}`, { BACKEND_URL: base, AGENT_TOKEN, AGENT_CONTAINMENT: 'process-group' });
      await waitFor('the agent to start polling', () => fallback.output().includes('agent started'), 30000, fallback);
      const lines = fallback
        .output()
        .split('\n')
        .filter((l) => l.includes('command containment: '));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({
        level: 'WARN',
        message: expect.stringMatching(
          /^command containment: process group under a spawner that is its child subreaper: .* \(no PID namespace: AGENT_CONTAINMENT=process-group\)$/,
        ),
      });
      await stopAgent(fallback);
    });

    it('falls back to the subreaper spawner, and stays up, when unshare is refused (an unprivileged container)', async () => {
      // A real process (not jest's loop): the agent must not exit while it waits for the probes.
      const fake = mkdtempSync(join(tmpdir(), 'fake-unshare-'));
      writeFileSync(join(fake, 'unshare'), '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n', {
        mode: 0o755,
      });
      const refused = startAgent(`e2e-refused-${store.name}`, { BACKEND_URL: base, AGENT_TOKEN, PATH: `${fake}:${process.env.PATH}` });
      try {
        await waitFor('the agent to start polling', () => refused.output().includes('agent started'), 30000, refused);
        const line = refused
          .output()
          .split('\n')
          .find((l) => l.includes('command containment: '));
        expect(JSON.parse(line as string).message).toMatch(
          /^command containment: process group under a spawner that is its child subreaper: .*\(no PID namespace: unshare refused: /,
        );
      } finally {
        await stopAgent(refused);
        rmSync(fake, { recursive: true, force: true });
      }
    });

    it('exits 0 on SIGTERM while idle', async () => {
      const idleAgent = startAgent(`e2e-idle-${store.name}`, { BACKEND_URL: base, AGENT_TOKEN });
      await waitFor('the agent to start polling', () => idleAgent.output().includes('agent started'), 30000, idleAgent);
      idleAgent.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([idleAgent.exited, new Promise((r) => (timer = setTimeout(() => r('still running'), 10000)))]);
      clearTimeout(timer);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(idleAgent.output()).toContain('agent stopped');
      agents.delete(idleAgent);
    });
  });

  describe('with the server down when the agent starts', () => {
    let server: TestServer | undefined;
    let agent: Proc;

    afterAll(async () => {
      await stopAgent(agent);
      await server?.stop();
    });

    it('keeps retrying and runs the task once the server is up', async () => {
      const port = await freePort();
      agent = startAgent(`e2e-late-${store.name}`, { BACKEND_URL: `http://127.0.0.1:${port}`, AGENT_TOKEN });
      await waitFor('the agent to find the server unreachable', () => agent.output().includes('server unreachable'), 30000, agent);

      server = await startTestServer(store, { AGENT_TOKEN, SERVER_PORT: String(port) });
      const t = await run(server.url, agent, 'echo late');
      expect(t).toMatchObject({ state: 'succeeded', stdout: 'late\n', agentId: agent.name });
      expect(agent.alive()).toBe(true);
    }, 90000);
  });

  describe('when the server goes away while a command runs', () => {
    let db: Db | undefined;
    let running: RunningServer | undefined;
    let agent: Proc;

    afterAll(async () => {
      await stopAgent(agent);
      await running?.close(1000);
      await db?.close();
    });

    it('keeps the finished result and delivers it once the server is back', async () => {
      // Two servers in turn on one port and one database: a restart, as the agent sees it.
      db = await store.open();
      const config = loadConfig({ SERVER_PORT: String(await freePort()), LOG_LEVEL: 'error', AGENT_TOKEN });
      running = await startServer(config, { db });
      const base = running.url;
      agent = startAgent(`e2e-restart-${store.name}`, { BACKEND_URL: base, AGENT_TOKEN });
      const hold = blocker(`restart-${store.name}`);
      const task = await submit(base, hold.command);
      await waitFor('the task to start', async () => (await getTask(base, task.id)).state === 'running', 30000, agent);

      await running.close(1000);
      running = undefined;
      hold.release();
      await waitFor('the agent to find the server gone', () => agent.output().includes('server unreachable'), 30000, agent);

      running = await startServer(config, { db });
      expect(await waitEnded(base, task.id, agent, 60000)).toMatchObject({ state: 'succeeded', stdout: 'released\n', agentId: agent.name });
    }, 90000);
  });

  describe('on SIGTERM while busy', () => {
    let server: TestServer | undefined;
    let base: string;
    const started: Proc[] = [];

    beforeAll(async () => {
      server = await startTestServer(store, { AGENT_TOKEN });
      base = server.url;
    });
    afterAll(async () => {
      await Promise.all(started.map(stopAgent));
      await server?.stop();
    });

    it('stops picking, lets the running command finish, reports it and exits 0', async () => {
      const agent = startAgent(`e2e-drain-${store.name}`, { BACKEND_URL: base, AGENT_TOKEN, AGENT_STOP_GRACE: '60s' });
      started.push(agent);
      const hold = blocker(`drain-${store.name}`);
      const running = await submit(base, hold.command);
      await waitFor('the task to start', async () => (await getTask(base, running.id)).state === 'running', 30000, agent);

      agent.child.kill('SIGTERM');
      await waitFor('the agent to stop picking', () => agent.output().includes('stopping: no new tasks'), 30000, agent);
      const next = await submit(base, 'echo too-late');
      hold.release();

      expect(await waitEnded(base, running.id, agent)).toMatchObject({ state: 'succeeded', stdout: 'released\n' });
      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect((await getTask(base, next.id)).state).toBe('queued');
    });

    it('stops a command that outlives AGENT_STOP_GRACE, reports it and exits 0', async () => {
      const agent = startAgent(`e2e-grace-${store.name}`, { BACKEND_URL: base, AGENT_TOKEN, AGENT_STOP_GRACE: '200ms' });
      started.push(agent);
      const task = await submit(base, 'sleep 300');
      await waitFor('the task to start', async () => (await getTask(base, task.id)).state === 'running', 30000, agent);

      agent.child.kill('SIGTERM');
      expect(await waitEnded(base, task.id, agent)).toMatchObject({ state: 'failed', exitCode: null, error: 'agent stopped' });
      expect(await agent.exited).toEqual({ code: 0, signal: null });
    });
  });

  describe('when its temporary directory disappears', () => {
    let server: TestServer | undefined;
    let agent: Proc;
    let agentTmp: string;

    beforeAll(async () => {
      server = await startTestServer(store, { AGENT_TOKEN });
      agentTmp = mkdtempSync(join(scratch, 'agent-tmp-'));
      agent = startAgent(`e2e-notmp-${store.name}`, { BACKEND_URL: server.url, AGENT_TOKEN, TMPDIR: agentTmp });
      // Removed once the agent runs (tsx keeps its cache there while loading): as a tmp
      // cleaner or a full disk would, working directories can no longer be made.
      await waitFor('the agent to start', () => agent.output().includes('agent started'), 30000, agent);
      rmSync(agentTmp, { recursive: true, force: true });
    });
    afterAll(async () => {
      await stopAgent(agent);
      await server?.stop();
    });

    it('reports each task as failed with "could not start" and keeps running', async () => {
      const base = (server as TestServer).url;
      for (const command of ['echo one', 'echo two']) {
        const t = await run(base, agent, command);
        expect(t).toMatchObject({ state: 'failed', exitCode: null, stdout: '', agentId: agent.name });
        expect(t.error).toMatch(/^could not start: ENOENT/);
      }
      expect(agent.alive()).toBe(true);
    });
  });
});
