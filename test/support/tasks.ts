/**
 * Tasks for tests: factories for the resource and the row (unit tests of the cores), and
 * helpers that create and read tasks over HTTP (the process tests).
 */
import { isTerminal, type PickedTask, type Task, type TaskState } from '../../contract/task';
import { type ClaimedTask, type InsertedTask, type TaskRow, toTask } from '../../functions/shared/db/tasks';
import { waitFor } from './clock';
import { call } from './server';

export const TASK_ID = '0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11';
export const LEASE_TOKEN = '6f0f1a6a-8d2e-4f55-9a53-0b8a3c528d2e';
const CREATED_AT = '2026-11-28T10:00:00.000Z';

/** A queued task as the API shows it; `overrides` sets any field. */
export function buildTask(overrides: Partial<Task> = {}): Task {
  return {
    id: TASK_ID,
    command: 'echo hello',
    state: 'queued',
    exitCode: null,
    outputTruncated: false,
    error: null,
    timeoutSeconds: 3600,
    agentId: null,
    cancelRequested: false,
    attempts: 0,
    maxAttempts: 1,
    priority: 0,
    labels: [],
    runAt: CREATED_AT,
    createdAt: CREATED_AT,
    startedAt: null,
    finishedAt: null,
    ...overrides,
  };
}

/** A row of the tasks table, queued unless `overrides` says otherwise (list rows: pass stdout: undefined). */
export function buildTaskRow(overrides: Partial<TaskRow> = {}): TaskRow {
  return {
    id: TASK_ID,
    seq: '1',
    command: 'echo hello',
    state: 'queued',
    timeout_seconds: 3600,
    exit_code: null,
    stdout: null,
    stderr: null,
    output_truncated: false,
    stdout_bytes: '0',
    stderr_bytes: '0',
    output_watched: false,
    error: null,
    agent_id: null,
    lease_token: null,
    lease_expires_at: null,
    deadline_at: null,
    cancel_requested: false,
    attempts: 0,
    max_attempts: 1,
    idempotency_key: null,
    request_hash: null,
    finish_hash: null,
    priority: 0,
    labels: [],
    label_key: '',
    run_at: new Date(CREATED_AT),
    created_at: new Date(CREATED_AT),
    started_at: null,
    finished_at: null,
    ...overrides,
  };
}

/** A row's task resource as TASK_JSON writes it (usage and output always present), for scripted databases. */
function fullJson(row: TaskRow): string {
  return JSON.stringify(toTask({ usage_cpu_user_seconds: null, usage_cpu_system_seconds: null, usage_max_rss_bytes: null, ...row }));
}

/** What insertTask answers for this row. */
export function asInserted(row: TaskRow): InsertedTask {
  return { id: row.id, state: row.state, label_key: row.label_key, json: fullJson(row) };
}

/** What claimNextQueuedTask answers for this (running) row. */
export function asClaimed(row: TaskRow): ClaimedTask {
  return {
    id: row.id,
    lease_token: row.lease_token as string,
    lease_expires_at: (row.lease_expires_at as Date).toISOString(),
    seq: row.seq,
    json: fullJson(row),
  };
}

/** A row as pick leaves it: running, held by `agentId` with LEASE_TOKEN, started at `now`. */
export function buildRunningRow(agentId: string, now: Date, overrides: Partial<TaskRow> = {}): TaskRow {
  return buildTaskRow({
    state: 'running',
    agent_id: agentId,
    lease_token: LEASE_TOKEN,
    lease_expires_at: new Date(now.getTime() + 30000),
    deadline_at: new Date(now.getTime() + 3645000),
    attempts: 1,
    started_at: now,
    ...overrides,
  });
}

/** A task as GET /tasks/{id} answers it: with its output (list items come without). */
export type TaskWithOutput = Task & { stdout: string; stderr: string };

/** Creates a task over HTTP; throws unless it was created. */
export async function submit(base: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Task> {
  const res = await call(base, 'POST', '/tasks', { body, headers });
  if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${res.text}`);
  return res.body as Task;
}

/** Reads a task over HTTP; throws unless the server has it. */
export async function getTask(base: string, id: string, headers: Record<string, string> = {}): Promise<TaskWithOutput> {
  const res = await call(base, 'GET', `/tasks/${id}`, { headers });
  if (res.status !== 200) throw new Error(`GET /tasks/${id} answered ${res.status}: ${res.text}`);
  return res.body as TaskWithOutput;
}

/** Waits until the task reaches `state` (any terminal state when omitted); `explain` adds to a timeout's message. */
export function waitState(base: string, id: string, state?: TaskState, timeoutMs = 30000, explain?: () => string): Promise<TaskWithOutput> {
  return waitFor(
    `task ${id} to be ${state ?? 'ended'}`,
    async () => {
      const t = await getTask(base, id);
      return (state === undefined ? isTerminal(t.state) : t.state === state) ? t : null;
    },
    timeoutMs,
    50,
    explain,
  );
}

export type { PickedTask, Task };
