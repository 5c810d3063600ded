/**
 * The CLI's only link to the server: the user endpoints over HTTP (Node's fetch), with every
 * failure turned into an ApiError whose message says what to change.
 */
import { HEADERS, MAX_OUTPUT_WAIT_SECONDS, pathFor, ROUTES } from '../contract/http';
import type { Schedule, ScheduleFields, ScheduleList } from '../contract/schedule';
import type { AgentList, StreamName, Task, TaskPage, TaskState } from '../contract/task';
import { version } from '../package.json';
import type { CliConfig } from './config';
import { CliError, EXIT } from './errors';

/** Why an answer could not be used; `transient` ones may succeed if tried again later. */
export type ApiErrorKind = 'unreachable' | 'unauthorized' | 'server' | 'problem' | 'unusable';

/** A failed request: exit 125, except a 4xx problem (exit 1; 401, 403 and 421 are 125), whose detail is the message as the server wrote it. */
export class ApiError extends CliError {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly status = 0,
    /** short: the network error's code (ECONNREFUSED) or the status */
    readonly reason = String(status),
  ) {
    super(message, kind === 'problem' ? EXIT.failed : EXIT.noAnswer);
  }

  /** Network errors, timeouts, 429 and 5xx: a server restarting or a load balancer between two servers. */
  get transient(): boolean {
    return this.kind === 'unreachable' || this.kind === 'server';
  }
}

/** One read of a stream (GET /tasks/{id}/output). */
export type OutputRead = { data: Buffer; nextOffset: number; state: TaskState; complete: boolean };

export type CreateBody = {
  command: string;
  timeoutSeconds?: number;
  maxAttempts?: number;
  priority?: number;
  labels?: string[];
  /** ISO 8601 with a zone */
  runAt?: string;
};
export type ListQuery = { state?: string[]; label?: string[]; limit?: number; cursor?: string };

export type ApiClient = {
  /** POST /tasks. Never retried: a lost answer may have created the task. */
  createTask(body: CreateBody): Promise<Task>;
  /** GET /tasks: the page, and the body as it came (for --json). */
  listTasks(query: ListQuery): Promise<{ page: TaskPage; text: string }>;
  getTask(id: string): Promise<Task>;
  cancelTask(id: string): Promise<Task>;
  /** GET /agents: the list, and the body as it came (for --json). */
  listAgents(): Promise<{ list: AgentList; text: string }>;
  readOutput(id: string, stream: StreamName, offset: number, waitSeconds: number, signal?: AbortSignal): Promise<OutputRead>;
  /** POST /schedules */
  createSchedule(body: ScheduleFields): Promise<Schedule>;
  /** GET /schedules: the list, and the body as it came (for --json). */
  listSchedules(): Promise<{ list: ScheduleList; text: string }>;
  /** PATCH /schedules/{id} */
  updateSchedule(id: string, body: Partial<ScheduleFields>): Promise<Schedule>;
  /** DELETE /schedules/{id} */
  deleteSchedule(id: string): Promise<void>;
};

/** Plain requests; a held read gets its wait on top. */
const REQUEST_TIMEOUT_MS = 30000;
const HELD_READ_MARGIN_MS = 15000;

const CHECK_URL = 'is the server running? set TASKEXEC_URL or --url';

/** The network error's code (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET ...) from fetch's `cause`. */
function networkCode(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string; errors?: Array<{ code?: string }>; message?: string } };
  if (e.name === 'TimeoutError') return 'timeout';
  const cause = e.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (error as Error).message;
}

function isProblem(res: Response): boolean {
  return (res.headers.get('content-type') ?? '').toLowerCase().startsWith('application/problem+json');
}

/** A short, single-line excerpt of a body that is not ours (a proxy's HTML, API Gateway's {"message"}). */
function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** Creates the client for the configured server. */
export function createClient(config: CliConfig): ApiClient {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `taskexec/${version}` };
  if (config.token) headers.authorization = `Bearer ${config.token}`;

  const fail = async (res: Response, path: string): Promise<never> => {
    const text = await res.text().catch(() => '');
    let detail: string | undefined;
    if (isProblem(res)) {
      try {
        const body = JSON.parse(text) as { detail?: unknown; title?: unknown };
        detail = typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : undefined;
      } catch {
        // a problem type with a body that is not JSON: treated as not ours below
      }
    }
    if (res.status === 401) {
      throw new ApiError(
        'unauthorized',
        config.tokenSource
          ? `the server refused the token from ${config.tokenSource}: check that it is the server's API_TOKEN`
          : 'the server wants a token: set API_TOKEN or pass --token',
        401,
      );
    }
    // A server without API_TOKEN answers only requests that name it by a loopback name (421)
    // and come from no other site's page (403): the URL, not the invocation, is what to change,
    // and the server's detail says how.
    if ((res.status === 421 || res.status === 403) && detail !== undefined) {
      throw new ApiError('unauthorized', `${config.url} refused the request (${res.status}): ${detail}`, res.status);
    }
    if (res.status >= 500 || res.status === 429) {
      throw new ApiError('server', `${config.url} answered ${res.status}: ${detail ?? (excerpt(text) || res.statusText)}`, res.status);
    }
    if (detail !== undefined) throw new ApiError('problem', detail, res.status);
    // A 4xx that is not problem+json comes from something in front of the API (API Gateway's
    // {"message":"Not Found"} for a URL without the stage, a proxy's login page).
    throw new ApiError(
      'unusable',
      `${config.url}${path} answered ${res.status} ${excerpt(text) || res.statusText}: not the task API; check TASKEXEC_URL or --url`,
      res.status,
    );
  };

  const request = async (
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal } = {},
  ) => {
    const timeout = AbortSignal.timeout(init.timeoutMs ?? REQUEST_TIMEOUT_MS);
    const h = { ...headers, ...init.headers };
    if (init.body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(config.url + path, {
        method,
        headers: h,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      const code = networkCode(error);
      throw new ApiError(
        'unreachable',
        code === 'timeout'
          ? `no answer from ${config.url} within ${Math.round((init.timeoutMs ?? REQUEST_TIMEOUT_MS) / 1000)}s: ${CHECK_URL}`
          : `cannot reach ${config.url} (${code}): ${CHECK_URL}`,
        0,
        code,
      );
    }
    if (res.status >= 400) return fail(res, path);
    return res;
  };

  const json = async <T>(res: Response, path: string): Promise<{ value: T; text: string }> => {
    const text = await res.text();
    try {
      const value = JSON.parse(text) as T;
      if (typeof value === 'object' && value !== null) return { value, text };
    } catch {
      // falls through
    }
    throw new ApiError(
      'unusable',
      `${config.url}${path} answered ${res.status} ${excerpt(text)}: not the task API; check TASKEXEC_URL or --url`,
    );
  };

  return {
    async createSchedule(body) {
      return (await json<Schedule>(await request('POST', ROUTES.schedules, { body }), ROUTES.schedules)).value;
    },
    async listSchedules() {
      const { value, text } = await json<ScheduleList>(await request('GET', ROUTES.schedules), ROUTES.schedules);
      if (!Array.isArray(value.schedules)) {
        throw new ApiError(
          'unusable',
          `${config.url}${ROUTES.schedules} answered without a schedules list: is the server older than schedules?`,
        );
      }
      return { list: value, text };
    },
    async updateSchedule(id, body) {
      const path = pathFor(ROUTES.schedule, id);
      return (await json<Schedule>(await request('PATCH', path, { body }), path)).value;
    },
    async deleteSchedule(id) {
      await request('DELETE', pathFor(ROUTES.schedule, id));
    },
    async createTask(body) {
      const res = await request('POST', ROUTES.tasks, { body });
      return (await json<Task>(res, ROUTES.tasks)).value;
    },
    async listTasks(query) {
      const params = new URLSearchParams();
      if (query.state && query.state.length > 0) params.set('state', query.state.join(','));
      if (query.label && query.label.length > 0) params.set('label', query.label.join(','));
      if (query.limit !== undefined) params.set('limit', String(query.limit));
      if (query.cursor !== undefined) params.set('cursor', query.cursor);
      const qs = params.toString();
      const path = qs ? `${ROUTES.tasks}?${qs}` : ROUTES.tasks;
      const { value, text } = await json<TaskPage>(await request('GET', path), ROUTES.tasks);
      if (!Array.isArray(value.tasks))
        throw new ApiError('unusable', `${config.url}${ROUTES.tasks} answered without a tasks list: check TASKEXEC_URL or --url`);
      return { page: value, text };
    },
    async getTask(id) {
      const path = pathFor(ROUTES.task, id);
      return (await json<Task>(await request('GET', path), path)).value;
    },
    async cancelTask(id) {
      const path = pathFor(ROUTES.cancel, id);
      return (await json<Task>(await request('POST', path), path)).value;
    },
    async listAgents() {
      const { value, text } = await json<AgentList>(await request('GET', ROUTES.agents), ROUTES.agents);
      if (!Array.isArray(value?.agents))
        throw new ApiError('unusable', `${config.url}${ROUTES.agents} answered without an agents list: check TASKEXEC_URL or --url`);
      return { list: value, text };
    },
    async readOutput(id, stream, offset, waitSeconds, signal) {
      const wait = Math.min(Math.max(0, Math.floor(waitSeconds)), MAX_OUTPUT_WAIT_SECONDS);
      const path = `${pathFor(ROUTES.output, id)}?stream=${stream}&offset=${offset}&wait=${wait}`;
      const res = await request('GET', path, { timeoutMs: wait * 1000 + HELD_READ_MARGIN_MS, signal });
      const data = Buffer.from(await res.arrayBuffer());
      const next = Number(res.headers.get(HEADERS.nextOffset));
      const state = res.headers.get(HEADERS.taskState);
      if (!Number.isSafeInteger(next) || next < 0 || !state) {
        throw new ApiError(
          'unusable',
          `${config.url}${pathFor(ROUTES.output, id)} answered without ${HEADERS.nextOffset} and ${HEADERS.taskState}: is the server older than live output?`,
        );
      }
      return { data, nextOffset: next, state: state as TaskState, complete: res.headers.get(HEADERS.outputComplete) === 'true' };
    },
  };
}
