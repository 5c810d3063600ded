/**
 * Agent faults with real agent processes against the real server (issue 3 item 7): kill -9 mid-task,
 * cancel of queued and running tasks (the process tree is gone), SIGTERM within and beyond the
 * stop grace, a second SIGTERM, and a finish whose answer is lost on the wire.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/clock';
import { itUnless } from '../support/conditional';
import { pgliteStore, postgresStore } from '../support/databases';
import { killGroup, processAlive, startAgent, stopAll, stopProcess } from '../support/processes';
import { call, startTestServer, type TestServer } from '../support/server';
import { getTask, submit, waitState } from '../support/tasks';
import { startDroppingProxy } from './support';

/** Real PostgreSQL when the run has one; PGlite otherwise (the processes are real either way). */
const store = postgresStore ?? pgliteStore;
const LEASE_SECONDS = 3;

/**
 * The server has AGENT_TOKEN, so the agent behind the dropping proxy (another port: a Host the
 * token-less rule answers 421, as it would for any proxy in front of a token-less server) is
 * let in by its token. The tests follow a command's processes by the pids it writes down, which
 * are the host's only outside a PID namespace: their agents use the process group (containment
 * is tested in agent/containment.test.ts, and against SIGKILL below).
 */
const AGENT_TOKEN = 'fault-agent-token-0123456789';
const startFaultAgent = (id: string, url: string, env: Record<string, string> = {}) =>
  startAgent(id, url, { AGENT_TOKEN, AGENT_CONTAINMENT: 'process-group', ...env });

let server: TestServer;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'te-agent-faults-'));
  server = await startTestServer(store, { LEASE_SECONDS: String(LEASE_SECONDS), AGENT_TOKEN });
});

afterAll(async () => {
  await stopAll();
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const namespaceMissing = (() => {
  const args = process.getuid?.() === 0 ? [] : ['--user', '--map-current-user'];
  const probe = spawnSync('unshare', [...args, '--pid', '--fork', '--kill-child', '--mount-proc', 'true']);
  return probe.status === 0 && spawnSync('setpriv', ['--version']).status === 0 ? null : 'no PID namespace or setpriv for commands here';
})();

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

/** The pids a command wrote to `file`, one a line. */
const pidsIn = (file: string): number[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((s) => Number(s));

/** A command that starts two background `sleep 300` children, writes every pid, and waits. */
function treeCommand(name: string): { command: string; file: string } {
  const file = join(scratch, `${name}.pids`);
  return { file, command: `echo $$ >> ${file}; sleep 300 & echo $! >> ${file}; sleep 300 & echo $! >> ${file}; wait` };
}

/** Waits until the command wrote its three pids. */
const waitTree = (file: string) =>
  waitFor(`pids in ${file}`, () => (safeRead(file).split('\n').filter(Boolean).length >= 3 ? true : null), 20000);
const safeRead = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Starts an agent and gives it a task whose command tree (a shell and two children) is running. */
async function agentRunningTree(id: string, env: Record<string, string> = {}) {
  const agent = startFaultAgent(id, server.url, env);
  const tree = treeCommand(id);
  const task = await submit(server.url, { command: tree.command });
  await waitState(server.url, task.id, 'running');
  await waitTree(tree.file);
  return { agent, task, tree };
}

/** Waits until no process of the tree the command wrote to `file` is left. */
function treeGone(file: string): Promise<boolean> {
  const pids = pidsIn(file);
  return waitFor('the tree to be gone', () => pids.every((pid) => !processAlive(pid)), 10000);
}

describe(`agent faults with real agent processes (${store.name})`, () => {
  it('ends the task of an agent killed with SIGKILL as failed "agent lost: lease expired" within lease plus reaper interval', async () => {
    const { agent, task, tree } = await agentRunningTree('fault-kill9');
    const killedAt = Date.now();
    agent.child.kill('SIGKILL');
    const ended = await waitState(server.url, task.id, undefined, 30000);
    const elapsed = Date.now() - killedAt;
    console.log(
      `agent killed with SIGKILL: its task ended ${ended.state} "${ended.error}" ${elapsed} ms later (LEASE_SECONDS=${LEASE_SECONDS}, reaper every 1 s)`,
    );
    expect(ended).toMatchObject({ state: 'failed', error: 'agent lost: lease expired' });
    // lease (3 s) + reaper interval (1 s), with generous slack for a busy CI box
    expect(elapsed).toBeLessThan(15000);
    // Nobody is left to stop the orphaned command: that is the limit of kill -9 (see the guarantees).
    for (const pid of pidsIn(tree.file)) killGroup(pid);
  });

  itUnless(namespaceMissing)('takes its running command’s whole PID namespace with it when killed with SIGKILL', async () => {
    const agent = startAgent('fault-kill9-ns', server.url, { AGENT_TOKEN, AGENT_CONTAINMENT: 'pid-namespace' });
    const marker = `300.${process.pid}${Date.now() % 100000}`;
    const ready = join(scratch, 'kill9-ns-started');
    const command = `(setsid sleep ${marker} > /dev/null 2>&1 &); sleep ${marker} & touch ${ready}; wait`;
    const task = await submit(server.url, { command });
    await waitState(server.url, task.id, 'running');
    await waitFor('the command to start', () => (existsSync(ready) ? true : null), 20000);
    await waitFor('both sleeps to run', () => (processesWith(marker).length === 2 ? true : null), 10000);
    agent.child.kill('SIGKILL');
    // setpriv --pdeathsig: unshare dies with the agent, and the namespace with it.
    await waitFor('every process of the task to be gone', () => (processesWith(marker).length === 0 ? true : null), 5000);
    expect(await waitState(server.url, task.id, undefined, 30000)).toMatchObject({ state: 'failed', error: 'agent lost: lease expired' });
  });

  it('cancels a queued task at once and a running one through its agent, leaving no process of its tree', async () => {
    const agent = startFaultAgent('fault-cancel', server.url);
    const tree = treeCommand('cancel');
    const running = await submit(server.url, { command: tree.command });
    const marker = join(scratch, 'queued-ran');
    const queued = await submit(server.url, { command: `touch ${marker}` });
    await waitState(server.url, running.id, 'running');
    await waitTree(tree.file);

    const q = await call(server.url, 'POST', `/tasks/${queued.id}/cancel`);
    expect(q.status).toBe(200);
    expect(q.body).toMatchObject({ state: 'canceled', error: 'canceled by user' });

    const r = await call(server.url, 'POST', `/tasks/${running.id}/cancel`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ state: 'running', cancelRequested: true });
    const ended = await waitState(server.url, running.id, undefined, 15000);
    expect(ended).toMatchObject({ state: 'canceled', error: 'canceled by user', agentId: 'fault-cancel' });

    expect(pidsIn(tree.file)).toHaveLength(3);
    expect(await treeGone(tree.file)).toBe(true);
    expect(safeRead(marker)).toBe('');
    expect((await getTask(server.url, queued.id)).state).toBe('canceled');
    await stopProcess(agent);
    expect(await agent.exited).toEqual({ code: 0, signal: null });
  });

  it('hands no task to an agent that hung up during a held pick, whether stopped or killed', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const agent = startFaultAgent(`fault-held-${signal}`, server.url, { POLL_WAIT: '20s' });
      await waitFor('the agent to start', () => /agent started/.test(agent.output()), 20000);
      await new Promise((r) => setTimeout(r, 1000)); // its pick is now held by the server
      agent.child.kill(signal);
      await agent.exited;
      const task = await submit(server.url, { command: 'echo picked-by-a-live-agent' });
      const next = startFaultAgent(`fault-after-${signal}`, server.url);
      expect(await waitState(server.url, task.id)).toMatchObject({ state: 'succeeded', agentId: `fault-after-${signal}` });
      await stopProcess(next);
    }
  });

  it('lets the current command finish on SIGTERM within the grace, picks nothing more, and exits 0', async () => {
    const agent = startFaultAgent('fault-term-within', server.url, { AGENT_STOP_GRACE: '20s' });
    const task = await submit(server.url, { command: 'sleep 2; echo done' });
    expect((await waitState(server.url, task.id, 'running')).agentId).toBe('fault-term-within');
    const next = await submit(server.url, { command: 'echo should-not-run' });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(await getTask(server.url, task.id)).toMatchObject({ state: 'succeeded', exitCode: 0, stdout: 'done\n' });
    expect((await getTask(server.url, next.id)).state).toBe('queued');
    await call(server.url, 'POST', `/tasks/${next.id}/cancel`);
  });

  it('stops the command after the grace on SIGTERM, reports it failed "agent stopped", and exits 0', async () => {
    const { agent, task, tree } = await agentRunningTree('fault-term-beyond', { AGENT_STOP_GRACE: '1s' });
    const t0 = Date.now();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(await getTask(server.url, task.id)).toMatchObject({ state: 'failed', error: 'agent stopped', agentId: 'fault-term-beyond' });
    expect(await treeGone(tree.file)).toBe(true);
  });

  it('stops at once on a second SIGTERM, still reporting the task, and exits 0', async () => {
    const { agent, task, tree } = await agentRunningTree('fault-term-twice', { AGENT_STOP_GRACE: '60s' });
    agent.child.kill('SIGTERM');
    await waitFor('the agent to say it is stopping', () => /stopping: no new tasks/.test(agent.output()), 10000);
    // A repeat within a second is taken as the same request (a terminal's Ctrl-C arrives twice
    // under npm): the second one is deliberate.
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(await getTask(server.url, task.id)).toMatchObject({ state: 'failed', error: 'agent stopped', agentId: 'fault-term-twice' });
    expect(await treeGone(tree.file)).toBe(true);
  });

  it('retries a finish whose answer was lost on the wire, and the retry is answered 200 with the same task', async () => {
    const proxy = await startDroppingProxy(server.url);
    try {
      const agent = startFaultAgent('fault-dropped-finish', proxy.url);
      const task = await submit(server.url, { command: 'echo once' });
      const ended = await waitState(server.url, task.id);
      expect(ended).toMatchObject({ state: 'succeeded', stdout: 'once\n', agentId: 'fault-dropped-finish' });
      await waitFor('the agent to log the report', () => /task reported/.test(agent.output()), 20000);
      // The first finish did reach the server (200, never relayed); the retry got 200 as well.
      expect(proxy.finishes).toEqual([
        { status: 200, dropped: true },
        { status: 200, dropped: false },
      ]);
      expect(agent.output()).not.toMatch(/finish refused/);
      expect((await getTask(server.url, task.id)).finishedAt).toBe(ended.finishedAt);
      await stopProcess(agent);
      expect(await agent.exited).toEqual({ code: 0, signal: null });
    } finally {
      await proxy.close();
    }
  });
});
