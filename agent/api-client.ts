/**
 * The agent's only link to the server: HTTP with keep-alive (Node's fetch pools connections).
 * Network failures and 5xx are `retryable`; other answers are final.
 */
import { HEADERS, pathFor, ROUTES } from '../contract/http';
import type { FinishBody, HeartbeatAnswer, PickedTask as PickAnswer } from '../contract/task';
import type { AgentConfig } from './config';
import type { RunResult } from './run-command';

/** What the agent relies on of a pick answer (the rest of the task it does not need). */
export type PickedTask = Pick<PickAnswer, 'id' | 'command' | 'timeoutSeconds' | 'leaseToken'> &
  Partial<Pick<PickAnswer, 'outputLimitBytes' | 'heartbeatIntervalSeconds'>>;

/** An answer the agent did not want, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Network errors, timeouts and 5xx may succeed later; 4xx will not. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export type ApiClient = {
  pick(waitSeconds: number, signal?: AbortSignal): Promise<PickedTask | null>;
  /** Extends the lease; tells whether a cancel was requested. A 409 means: stop the command. */
  heartbeat(task: PickedTask, signal?: AbortSignal): Promise<Pick<HeartbeatAnswer, 'cancelRequested'>>;
  finish(task: PickedTask, result: RunResult, signal?: AbortSignal): Promise<void>;
};

async function problemDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text) as { detail?: string; title?: string };
    return p.detail ?? p.title ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

/** Creates the client for one server. */
export function createApiClient(config: Pick<AgentConfig, 'backendUrl' | 'agentToken' | 'agentId'>): ApiClient {
  const headers: Record<string, string> = { [HEADERS.agentId]: config.agentId };
  if (config.agentToken) headers.authorization = `Bearer ${config.agentToken}`;

  const request = async (path: string, init: RequestInit & { timeoutMs: number }, signal?: AbortSignal) => {
    const timeout = AbortSignal.timeout(init.timeoutMs);
    try {
      return await fetch(`${config.backendUrl}${path}`, {
        ...init,
        headers: { ...headers, ...(init.headers as Record<string, string>) },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(0, `${init.method ?? 'GET'} ${path}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
  };

  return {
    async pick(waitSeconds, signal) {
      const query = waitSeconds > 0 ? `?wait=${waitSeconds}` : '';
      const res = await request(`${ROUTES.pick}${query}`, { method: 'GET', timeoutMs: (waitSeconds + 15) * 1000 }, signal);
      if (res.status === 204) return null;
      if (res.status !== 200) throw new ApiError(res.status, `pick answered ${res.status}: ${await problemDetail(res)}`);
      return (await res.json()) as PickedTask;
    },
    async heartbeat(task, signal) {
      const res = await request(
        pathFor(ROUTES.heartbeat, task.id),
        { method: 'POST', headers: { [HEADERS.leaseToken]: task.leaseToken }, timeoutMs: 10000 },
        signal,
      );
      if (res.status !== 200) throw new ApiError(res.status, `heartbeat answered ${res.status}: ${await problemDetail(res)}`);
      return (await res.json()) as HeartbeatAnswer;
    },
    async finish(task, result, signal) {
      const finish: FinishBody = {
        exitCode: result.exitCode,
        stdout: result.stdout,
        stderr: result.stderr,
        outputTruncated: result.outputTruncated,
        state: result.state,
        error: result.error,
      };
      const body = JSON.stringify(finish);
      const res = await request(
        pathFor(ROUTES.finish, task.id),
        {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', [HEADERS.leaseToken]: task.leaseToken },
          timeoutMs: 60000,
        },
        signal,
      );
      if (res.status !== 200) throw new ApiError(res.status, `finish answered ${res.status}: ${await problemDetail(res)}`);
      await res.arrayBuffer();
    },
  };
}
