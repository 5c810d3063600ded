/**
 * The dashboard's calls to the API: same-origin paths only (no host, so the page works behind
 * any address and sends no foreign Origin), the API token from sessionStorage as a bearer
 * header, problem+json details surfaced as ApiError.
 */
import { HEADERS, pathFor, ROUTES } from '../contract/http';
import type { Schedule, ScheduleFields, ScheduleList } from '../contract/schedule';
import type { AgentList, Problem, StreamName, Task, TaskOverview, TaskPage, TaskState } from '../contract/task';

const TOKEN_KEY = 'taskexec.apiToken';

/** The API token kept for this browser tab, if the user gave one. */
export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps (or, with null, forgets) the API token for this browser tab. */
export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** A 4xx/5xx answer, with the server's detail (what to change) when it sent problem+json. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

/** Told of every 401, so the page can ask for the token again. */
let onUnauthorized: (detail: string) => void = () => {};

/** Sets what happens when the API answers 401 (the sign-in prompt). */
export function whenUnauthorized(handler: (detail: string) => void): void {
  onUnauthorized = handler;
}

async function call(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = storedToken();
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers, signal, cache: 'no-store' });
  if (res.ok) return res;
  let detail = `The server answered ${res.status}.`;
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    const problem = (await res.json().catch(() => null)) as Partial<Problem> | null;
    if (typeof problem?.detail === 'string') detail = problem.detail;
  }
  if (res.status === 401) onUnauthorized(detail);
  throw new ApiError(res.status, detail);
}

async function callJson<T>(path: string, init?: RequestInit, signal?: AbortSignal): Promise<T> {
  return (await (await call(path, init, signal)).json()) as T;
}

export type ListQuery = { states: TaskState[]; limit: number; cursor?: string | null };

/** GET /tasks: newest first, optionally by state, one page. */
export function listTasks(q: ListQuery, signal?: AbortSignal): Promise<TaskPage> {
  const params = new URLSearchParams({ limit: String(q.limit) });
  if (q.states.length > 0) params.set('state', q.states.join(','));
  if (q.cursor) params.set('cursor', q.cursor);
  return callJson<TaskPage>(`${ROUTES.tasks}?${params}`, {}, signal);
}

/** GET /tasks/summary: counts per state and the oldest queued task. */
export function taskSummary(signal?: AbortSignal): Promise<TaskOverview> {
  return callJson<TaskOverview>(ROUTES.summary, {}, signal);
}

/** GET /agents: the agents seen in the last 10 minutes. */
export function listAgents(signal?: AbortSignal): Promise<AgentList> {
  return callJson<AgentList>(ROUTES.agents, {}, signal);
}

/** GET /tasks/{id}: the task with its output so far. */
export function getTask(id: string, signal?: AbortSignal): Promise<Task> {
  return callJson<Task>(pathFor(ROUTES.task, id), {}, signal);
}

/** POST /tasks: a new queued task. */
export function createTask(command: string, timeoutSeconds?: number): Promise<Task> {
  const body = timeoutSeconds === undefined ? { command } : { command, timeoutSeconds };
  return callJson<Task>(ROUTES.tasks, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** POST /tasks/{id}/cancel */
export function cancelTask(id: string): Promise<Task> {
  return callJson<Task>(pathFor(ROUTES.cancel, id), { method: 'POST' });
}

export type OutputRead = { text: string; nextOffset: number; state: TaskState | null; complete: boolean };

/** GET /tasks/{id}/output: a stream's text from `offset`, held up to `wait` seconds for more. */
export async function readOutput(id: string, stream: StreamName, offset: number, wait: number, signal?: AbortSignal): Promise<OutputRead> {
  const params = new URLSearchParams({ stream, offset: String(offset), wait: String(wait) });
  const res = await call(`${pathFor(ROUTES.output, id)}?${params}`, {}, signal);
  const text = await res.text();
  const next = Number(res.headers.get(HEADERS.nextOffset));
  return {
    text,
    nextOffset: Number.isFinite(next) && next >= offset ? next : offset + new TextEncoder().encode(text).length,
    state: res.headers.get(HEADERS.taskState) as TaskState | null,
    complete: res.headers.get(HEADERS.outputComplete) === 'true',
  };
}

/** GET /schedules: every schedule by name (at most MAX_SCHEDULES_LISTED). */
export function listSchedules(signal?: AbortSignal): Promise<ScheduleList> {
  return callJson<ScheduleList>(ROUTES.schedules, {}, signal);
}

/** POST /schedules */
export function createSchedule(body: ScheduleFields): Promise<Schedule> {
  return callJson<Schedule>(ROUTES.schedules, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** PATCH /schedules/{id}: pause or resume. */
export function setSchedulePaused(id: string, paused: boolean): Promise<Schedule> {
  return callJson<Schedule>(pathFor(ROUTES.schedule, id), {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ paused }),
  });
}

/** DELETE /schedules/{id} */
export async function deleteSchedule(id: string): Promise<void> {
  await call(pathFor(ROUTES.schedule, id), { method: 'DELETE' });
}
