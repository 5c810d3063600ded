/** The HTTP load the phases are made of: creating tasks, picking and finishing them, reading them back. */
import type { PickedTask, Task, TaskPage } from '../contract/task';
import { waitFor } from '../test/support/clock';
import { type Client, concurrently } from './http';
import type { Stage } from './system';

const agentHeaders = (id: string) => ({ 'x-agent-id': id });
const EMPTY_FINISH = { exitCode: 0, stdout: '', stderr: '' };

/** Creates `n` tasks with the clients (concurrently); returns their ids and each request's latency. */
export async function createTasks(clients: Client[], n: number, command = 'true'): Promise<{ ids: string[]; latencies: number[] }> {
  const ids: string[] = new Array(n);
  const latencies: number[] = new Array(n);
  await concurrently(clients.length, n, async (i, w) => {
    const r = await (clients[w] as Client).json<Task>('POST', '/tasks', 201, { body: { command } });
    ids[i] = r.body.id;
    latencies[i] = r.ms;
  });
  return { ids, latencies };
}

/** Creates one task; returns its id. */
export async function createTask(api: Client): Promise<string> {
  return (await api.json<Task>('POST', '/tasks', 201, { body: { command: 'true' } })).body.id;
}

/** Each client is an "agent": pick (no wait), finish at once, until the queue is empty. */
export async function pickFinishLoops(clients: Client[]): Promise<{ count: number; elapsedMs: number }> {
  let count = 0;
  let last = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, w) => {
      const agentId = `bench-loop-${w}`;
      for (;;) {
        const r = await c.request('GET', '/tasks/pick', { headers: agentHeaders(agentId) });
        if (r.status === 204) return;
        if (r.status !== 200) throw new Error(`pick answered ${r.status}: ${r.text.slice(0, 300)}`);
        const task = JSON.parse(r.text) as PickedTask;
        await c.json('POST', `/tasks/${task.id}/finish`, 200, {
          headers: { ...agentHeaders(agentId), 'x-lease-token': task.leaseToken },
          body: EMPTY_FINISH,
        });
        count += 1;
        last = performance.now();
      }
    }),
  );
  return { count, elapsedMs: last - t0 };
}

/** Waits until no task is queued or running. */
export async function waitIdle(api: Client, timeoutMs: number): Promise<void> {
  await waitFor(
    'every task to finish',
    async () => (await api.json<TaskPage>('GET', '/tasks?state=queued,running&limit=1', 200)).body.tasks.length === 0,
    timeoutMs,
    250,
  );
}

/** The list items of these tasks (newest first, pages of 1000, until all are found). */
export async function fetchTasks(api: Client, ids: readonly string[]): Promise<Task[]> {
  const wanted = new Set(ids);
  const found: Task[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: TaskPage } = await api.json('GET', `/tasks?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, 200);
    for (const t of page.body.tasks) if (wanted.has(t.id)) found.push(t);
    cursor = page.body.nextCursor;
  } while (cursor !== null && found.length < wanted.size);
  if (found.length !== wanted.size) throw new Error(`only ${found.length} of ${wanted.size} tasks found in the list`);
  return found;
}

/** Checks every task succeeded on its first pick; returns first create to last finish. */
export function spanOf(tasks: Task[]): { firstCreated: number; lastFinished: number } {
  const bad = tasks.filter((t) => t.state !== 'succeeded' || t.attempts !== 1);
  if (bad.length > 0) throw new Error(`${bad.length} task(s) did not succeed once, e.g. ${JSON.stringify(bad[0])}`);
  return {
    firstCreated: Math.min(...tasks.map((t) => Date.parse(t.createdAt))),
    lastFinished: Math.max(...tasks.map((t) => Date.parse(t.finishedAt as string))),
  };
}

/** startedAt - createdAt of each task, as stored; each must have succeeded. */
export async function pickupLatencies(api: Client, ids: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const id of ids) {
    const t = (await api.json<Task>('GET', `/tasks/${id}`, 200)).body;
    if (t.state !== 'succeeded' || t.startedAt === null) throw new Error(`task ${id} ended ${t.state}`);
    out.push(Date.parse(t.startedAt) - Date.parse(t.createdAt));
  }
  return out;
}

/**
 * Pick latency (one client, no wait) and GET /tasks first-page latency, `n` of each after
 * `warm` untimed ones; needs n + warm queued tasks, which are finished afterwards, untimed.
 */
export async function pickAndListLatency(stage: Stage, n: number): Promise<{ pick: number[]; list: number[] }> {
  const warm = stage.ctx.options.latencyWarm;
  const picked: PickedTask[] = [];
  const pick: number[] = [];
  const list: number[] = [];
  for (let i = 0; i < n + warm; i++) {
    const r = await stage.api.json<PickedTask>('GET', '/tasks/pick', 200, { headers: agentHeaders('bench-latency') });
    picked.push(r.body);
    if (i >= warm) pick.push(r.ms);
  }
  for (let i = 0; i < n + warm; i++) {
    const r = await stage.api.json<TaskPage>('GET', '/tasks', 200);
    if (r.body.tasks.length === 0) throw new Error('GET /tasks answered an empty first page');
    if (i >= warm) list.push(r.ms);
  }
  await concurrently(stage.clients.length, picked.length, async (i, w) => {
    const t = picked[i] as PickedTask;
    await (stage.clients[w] as Client).json('POST', `/tasks/${t.id}/finish`, 200, {
      headers: { ...agentHeaders('bench-latency'), 'x-lease-token': t.leaseToken },
      body: EMPTY_FINISH,
    });
  });
  return { pick, list };
}

/** Untimed: tasks through create and pick+finish, and list pages, so the measured phases start warm. */
export async function warmUp(stage: Stage): Promise<void> {
  await createTasks(stage.clients, stage.ctx.options.sizes.warmup);
  await pickFinishLoops(stage.clients);
  for (let i = 0; i < 50; i++) await stage.api.json('GET', '/tasks', 200);
}
