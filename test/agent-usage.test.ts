/**
 * The real agent process against the real server, on every store: the `usage` of a command
 * that burns CPU and holds memory (measured in the task's PID namespace), and an agent that
 * stops cleanly showing as gone at once in GET /agents, long before its lease would say so.
 */
import { spawnSync } from 'node:child_process';
import type { Agent, AgentList } from '../contract/task';
import { waitFor } from './support/clock';
import { itUnless } from './support/conditional';
import { stores } from './support/databases';
import { type Proc, startAgent, stopProcess } from './support/processes';
import { call, startTestServer, type TestServer } from './support/server';
import { submit, waitState } from './support/tasks';

const MiB = 1048576;

/** Whether this host gives agents a PID namespace (root, or unprivileged user namespaces). */
const namespaceMissing = (() => {
  const args = process.getuid?.() === 0 ? [] : ['--user', '--map-current-user'];
  const ok = spawnSync('unshare', [...args, '--pid', '--fork', '--kill-child', '--mount-proc', 'true']).status === 0;
  return ok ? null : 'no PID namespace here: the agent measures no usage under process-group containment';
})();

describe.each(stores)('an agent process on $name', (store) => {
  let server: TestServer;
  let agent: Proc | undefined;
  const id = `usage-agent-${store.name}`;

  beforeAll(async () => {
    // A long lease: a "gone" seen here can only come from the agent's own word.
    server = await startTestServer(store, { LEASE_SECONDS: '600' });
    agent = startAgent(id, server.url, { POLL_WAIT: '1s', AGENT_CONTAINMENT: 'auto' });
  });
  afterAll(async () => {
    await stopProcess(agent, 5000);
    await server?.stop();
  });

  const agentNow = async (): Promise<Agent | undefined> =>
    ((await call(server.url, 'GET', '/agents')).body as AgentList).agents.find((a) => a.id === id);
  const explain = () => agent?.output().slice(-3000) ?? '';

  itUnless(namespaceMissing)(
    'shows the CPU seconds and peak memory of the command’s process tree in the ended task',
    async () => {
      // 0.3 s of user CPU in one child, 64 MiB held by another.
      const burn = `perl -e 'until ((times)[0] >= 0.3) { for (1 .. 100000) {} }'`;
      const hold = `perl -e '$x = "x" x (64 * 1024 * 1024); print length($x), "\\n"'`;
      const task = await submit(server.url, { command: `${burn} & ${hold}; wait` });
      const ended = await waitState(server.url, task.id, undefined, 60000, explain);
      expect(ended).toMatchObject({ state: 'succeeded', stdout: `${64 * MiB}\n` });
      expect(ended.usage?.cpuUserSeconds).toBeGreaterThanOrEqual(0.3);
      expect(ended.usage?.cpuSystemSeconds).toBeGreaterThanOrEqual(0);
      expect(ended.usage?.maxRssBytes).toBeGreaterThanOrEqual(64 * MiB);
      expect(await agentNow()).toMatchObject({ state: 'idle', taskId: null, tasksRun: 1 });
    },
    90000,
  );

  it('shows an agent that stopped on SIGTERM as gone at once, its lease notwithstanding', async () => {
    await waitFor('the agent to pick', async () => (await agentNow())?.state === 'idle', 30000, 50, explain);
    const exit = await stopProcess(agent, 10000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(agent?.output()).not.toContain('could not tell the server');
    expect(await agentNow()).toMatchObject({ state: 'gone', taskId: null });
  }, 60000);
});
