/**
 * GET /agents and POST /agents/{id}/stop over HTTP on every store: what pick, heartbeat and
 * finish record, gone after LEASE_SECONDS (clock moved) or at once after a stop, the 10-minute
 * window, the agents gauge, and the finish's `usage` (stored, shown, bad values refused).
 */
import type { Agent, AgentList, PickedTask, Task } from '../contract/task';
import { movableClock } from './support/clock';
import { stores } from './support/databases';
import { expectProblem } from './support/problem';
import { call, startTestServer, type TestServer } from './support/server';

const API = 'agents-api-token-0123456789';
const AGENT = 'agents-agent-token-0123456789';
const user = { authorization: `Bearer ${API}` };
const agent = (id: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${AGENT}`, 'x-agent-id': id, ...extra });

describe.each(stores)('agents on $name', (store) => {
  let server: TestServer;
  const clock = movableClock();

  beforeAll(async () => {
    server = await startTestServer(store, { API_TOKEN: API, AGENT_TOKEN: AGENT, LEASE_SECONDS: '30' }, clock.now);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const agents = async (): Promise<Agent[]> => {
    const reply = await call(server.url, 'GET', '/agents', { headers: user });
    expect(reply.status).toBe(200);
    return (reply.body as AgentList).agents;
  };
  const byId = async (id: string) => (await agents()).find((a) => a.id === id);
  const create = async (command = 'true') => {
    const reply = await call(server.url, 'POST', '/tasks', { body: { command }, headers: user });
    expect(reply.status).toBe(201);
    return reply.body as Task;
  };
  const pick = async (id: string, extra: Record<string, string> = {}) =>
    call(server.url, 'GET', '/tasks/pick', { headers: agent(id, extra) });
  const finish = (t: PickedTask, id: string, body: Record<string, unknown> = { exitCode: 0, stdout: '', stderr: '' }) =>
    call(server.url, 'POST', `/tasks/${t.id}/finish`, { body, headers: agent(id, { 'x-lease-token': t.leaseToken }) });
  const gauges = async () => {
    const text = (await call(server.url, 'GET', '/metrics', { headers: user })).text;
    const value = (state: string) => Number(new RegExp(`^taskexec_agents\\{state="${state}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    return { idle: value('idle'), busy: value('busy') };
  };

  it('records an agent on an empty pick as idle with its labels, then busy with the task it holds, then idle after finish', async () => {
    expect((await pick('a1', { 'x-agent-labels': 'linux,gpu' })).status).toBe(204);
    expect(await byId('a1')).toEqual({
      id: 'a1',
      labels: ['gpu', 'linux'],
      state: 'idle',
      taskId: null,
      lastSeenAt: expect.any(String),
      tasksRun: 0,
    });
    expect(Math.abs(Date.parse((await byId('a1'))?.lastSeenAt ?? '') - clock.now().getTime())).toBeLessThan(5000);
    const task = await create();
    const picked = (await pick('a1')).body as PickedTask;
    expect(picked.id).toBe(task.id);
    expect(await byId('a1')).toMatchObject({ state: 'busy', taskId: task.id, tasksRun: 1, labels: [] });
    expect(await gauges()).toEqual({ idle: 0, busy: 1 });
    expect((await finish(picked, 'a1')).status).toBe(200);
    expect(await byId('a1')).toMatchObject({ state: 'idle', taskId: null, tasksRun: 1 });
    expect(await gauges()).toEqual({ idle: 1, busy: 0 });
  });

  it('keeps a busy agent alive by its heartbeats, and shows it gone once not seen for LEASE_SECONDS', async () => {
    await create();
    const picked = (await pick('a2')).body as PickedTask;
    clock.advance(25);
    const beat = await call(server.url, 'POST', `/tasks/${picked.id}/heartbeat`, {
      headers: agent('a2', { 'x-lease-token': picked.leaseToken }),
    });
    expect(beat.status).toBe(200);
    clock.advance(25);
    expect(await byId('a2')).toMatchObject({ state: 'busy', taskId: picked.id });
    clock.advance(6);
    expect(await byId('a2')).toMatchObject({ state: 'gone', taskId: null });
    expect((await gauges()).busy).toBe(0);
    // Seen again (the lease had not been reaped): busy once more.
    const again = await call(server.url, 'POST', `/tasks/${picked.id}/heartbeat`, {
      headers: agent('a2', { 'x-lease-token': picked.leaseToken }),
    });
    expect(again.status).toBe(200);
    expect(await byId('a2')).toMatchObject({ state: 'busy' });
    expect((await finish(picked, 'a2')).status).toBe(200);
  });

  it('shows an agent that said it stopped as gone at once, and idle again when it picks again', async () => {
    expect((await pick('a3')).status).toBe(204);
    const stopped = await call(server.url, 'POST', '/agents/a3/stop', { headers: agent('a3') });
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ id: 'a3', state: 'gone', taskId: null });
    expect(await byId('a3')).toMatchObject({ state: 'gone' });
    expect((await pick('a3')).status).toBe(204);
    expect(await byId('a3')).toMatchObject({ state: 'idle' });
  });

  it('lists only agents seen in the last 10 minutes, the most recently seen first', async () => {
    expect((await pick('old-agent')).status).toBe(204);
    clock.advance(601);
    expect((await pick('new-agent')).status).toBe(204);
    const ids = (await agents()).map((a) => a.id);
    expect(ids).toEqual(['new-agent']);
  });

  it('stores the usage a finish reports and shows it in the task; a finish without it shows null', async () => {
    await create();
    const picked = (await pick('a4')).body as PickedTask;
    const usage = { cpuUserSeconds: 0.31, cpuSystemSeconds: 0.02, maxRssBytes: 54525952 };
    const done = await finish(picked, 'a4', { exitCode: 0, stdout: '', stderr: '', usage });
    expect(done.status).toBe(200);
    expect((done.body as Task).usage).toEqual(usage);
    expect(((await call(server.url, 'GET', `/tasks/${picked.id}`, { headers: user })).body as Task).usage).toEqual(usage);
    await create();
    const plain = (await pick('a4')).body as PickedTask;
    expect(((await finish(plain, 'a4')).body as Task).usage).toBeNull();
    const queued = await create();
    expect(queued.usage).toBeNull();
  });

  it.each([
    [{ cpuUserSeconds: -1 }, 'usage.cpuUserSeconds'],
    [{ cpuSystemSeconds: '1' }, 'usage.cpuSystemSeconds'],
    [{ maxRssBytes: 1.5 }, 'usage.maxRssBytes'],
    [{ maxRssBytes: 2 ** 60 }, 'usage.maxRssBytes'],
    [{ cpu: 1 }, '"cpu"'],
    [[1, 2], '"usage"'],
    ['fast', '"usage"'],
  ])('answers 400 naming the field for usage %j, and stores nothing', async (usage, named) => {
    await create();
    const picked = (await pick('a5')).body as PickedTask;
    const reply = await finish(picked, 'a5', { exitCode: 0, stdout: '', stderr: '', usage });
    expectProblem(reply, 400);
    expect((reply.body as { detail: string }).detail).toContain(named);
    const stored = (await call(server.url, 'GET', `/tasks/${picked.id}`, { headers: user })).body as Task;
    expect(stored).toMatchObject({ state: 'running', usage: null });
    expect((await finish(picked, 'a5')).status).toBe(200);
  });

  it('refuses a stop of another agent, one without X-Agent-Id, with a body field or without the agent token', async () => {
    const other = await call(server.url, 'POST', '/agents/someone-else/stop', { headers: agent('a6') });
    expectProblem(other, 400);
    expect((other.body as { detail: string }).detail).toContain('X-Agent-Id');
    expectProblem(await call(server.url, 'POST', '/agents/a6/stop', { headers: { authorization: `Bearer ${AGENT}` } }), 400);
    expectProblem(await call(server.url, 'POST', '/agents/a6/stop', { headers: agent('a6'), body: { now: true } }), 400);
    expectProblem(await call(server.url, 'POST', '/agents/a6/stop', { headers: { 'x-agent-id': 'a6' } }), 401);
    expect(await byId('a6')).toBeUndefined();
  });

  it('needs the API token for GET /agents, and takes no query parameters', async () => {
    expectProblem(await call(server.url, 'GET', '/agents'), 401);
    expectProblem(await call(server.url, 'GET', '/agents', { headers: { authorization: `Bearer ${AGENT}` } }), 401);
    const reply = await call(server.url, 'GET', '/agents?state=idle', { headers: user });
    expectProblem(reply, 400);
    expect((reply.body as { detail: string }).detail).toContain('"state"');
  });
});
