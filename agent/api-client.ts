/**
 * The agent's only link to the server: HTTP(S) with keep-alive through node:http's Agent.
 * Network failures and 5xx are `retryable`; other answers are final. Not fetch: an idle agent
 * parked in a long-poll woke every 499 ms for undici's timer wheel, and each fetch built a
 * Request, web streams and two AbortSignals (about 1 ms of the agent's CPU per task here).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { AGENT_BODY_LIMIT, HEADERS, pathFor, ROUTES } from '../contract/http';
import { capText } from '../contract/output-limit';
import {
  type FinishBody,
  type HeartbeatAnswer,
  type OutputAck,
  type OutputSend,
  type PickedTask as PickAnswer,
  STREAMS,
} from '../contract/task';
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
  /** Sends new output; answers the bytes of each stream the server holds. A 409 means: stop the command. */
  sendOutput(task: PickedTask, body: OutputSend, signal?: AbortSignal): Promise<OutputAck>;
  finish(task: PickedTask, result: RunResult, signal?: AbortSignal): Promise<void>;
  /** Tells the server this agent stopped cleanly (POST /agents/{id}/stop), so it shows as gone at once. */
  stopped?(signal?: AbortSignal): Promise<void>;
};

/** A finish body's JSON never grows past this on a 413's account: the output is cut instead. */
const MIN_FINISH_BYTES = 64 * 1024;
/** The shortest stored text a stream is cut to (its JSON is at most six times that). */
const MIN_STREAM_LIMIT = 1024;
const MAX_FIT_ROUNDS = 10;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * The finish body of a result, at most `maxBytes` as JSON. Output fits its stored-text limit,
 * but control characters grow sixfold when JSON-escaped (\u0001): where the body would be too
 * large, the streams are cut more, head and tail with the same marker, from the captured bytes
 * (so the marker still counts the real output), until it fits. The result is never dropped.
 * Deterministic, so a retried finish is the same body.
 */
export function finishBody(result: RunResult, maxBytes: number, withUsage = true): string {
  const finish: FinishBody = {
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    outputTruncated: result.outputTruncated,
    state: result.state,
    error: result.error,
  };
  // Sent only when measured: a server older than `usage` refuses the field (see finish below).
  if (withUsage && result.usage) finish.usage = result.usage;
  let json = JSON.stringify(finish);
  for (let round = 0; round < MAX_FIT_ROUNDS && Buffer.byteLength(json) > maxBytes; round++) {
    const sizes = { stdout: jsonBytes(finish.stdout), stderr: jsonBytes(finish.stderr) };
    const room = maxBytes - (Buffer.byteLength(json) - sizes.stdout - sizes.stderr);
    // Each stream gets half the room, and what the other does not need.
    const half = Math.floor(room / 2);
    const share = {
      stdout: sizes.stderr < half ? room - sizes.stderr : Math.max(half, room - sizes.stderr),
      stderr: sizes.stdout < half ? room - sizes.stdout : Math.max(half, room - sizes.stdout),
    };
    for (const stream of STREAMS) {
      if (sizes[stream] <= share[stream]) continue;
      const text = finish[stream];
      const stored = Buffer.byteLength(text);
      // Escaping grows text by sizes/stored on average: aim 5 % under the share.
      const limit = Math.max(MIN_STREAM_LIMIT, Math.floor((stored * share[stream] * 0.95) / sizes[stream]));
      const cut = result.capture ? result.capture[stream].finish(limit) : capText(text, limit);
      finish[stream] = cut.text;
      finish.outputTruncated ||= cut.truncated;
    }
    json = JSON.stringify(finish);
  }
  return json;
}

/** A whole answer: the bodies the agent reads are small (a task, an ack, a problem). */
type Answer = { status: number; body: string; json(): unknown };

function problemDetail(res: Answer): string {
  try {
    const p = JSON.parse(res.body) as { detail?: string; title?: string };
    return p.detail ?? p.title ?? res.body.slice(0, 200);
  } catch {
    return res.body.slice(0, 200);
  }
}

type RequestInit = { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number };

/** A socket the server closed while it idled in the pool: the request never reached it, so it is sent once more. */
const isStaleSocket = (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET' || error.code === 'EPIPE';

/** Creates the client for one server. */
export function createApiClient(
  config: Pick<AgentConfig, 'backendUrl' | 'agentToken' | 'agentId'> & { labels?: readonly string[] },
): ApiClient {
  const headers: Record<string, string> = { [HEADERS.agentId]: config.agentId };
  // Only pick reads it; sent on every request, it also tells the server's agents view (GET /agents) what this agent runs.
  if (config.labels !== undefined && config.labels.length > 0) headers[HEADERS.agentLabels] = config.labels.join(',');
  if (config.agentToken) headers.authorization = `Bearer ${config.agentToken}`;

  const https = config.backendUrl.startsWith('https:');
  const send = https ? httpsRequest : httpRequest;
  const pool = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  // The server's URL is read once (host, port, credentials, a path prefix such as an API
  // Gateway stage), not once per request.
  const url = new URL(config.backendUrl);
  const server = urlToHttpOptions(url);
  const prefix = url.pathname.replace(/\/+$/, '');

  const once = (path: string, init: RequestInit, signal?: AbortSignal) =>
    new Promise<Answer>((resolve, reject) => {
      const req = send({ ...server, path: `${prefix}${path}`, method: init.method, headers: { ...headers, ...init.headers }, agent: pool });
      const fail = (error: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(Object.assign(error, { reused: req.reusedSocket }));
      };
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), init.timeoutMs);
      const onAbort = () => req.destroy(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      req.once('error', fail);
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', fail);
        res.once('end', () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const body = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) });
        });
      });
      req.end(init.body);
    });

  const request = async (path: string, init: RequestInit, signal?: AbortSignal): Promise<Answer> => {
    try {
      try {
        return await once(path, init, signal);
      } catch (error) {
        const e = error as NodeJS.ErrnoException & { reused?: boolean };
        if (!(e.reused && isStaleSocket(e)) || signal?.aborted) throw error;
        return await once(path, init, signal);
      }
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new ApiError(0, `${init.method} ${path}: ${e.code ?? e.message}`);
    }
  };

  return {
    async pick(waitSeconds, signal) {
      const query = waitSeconds > 0 ? `?wait=${waitSeconds}` : '';
      const res = await request(`${ROUTES.pick}${query}`, { method: 'GET', timeoutMs: (waitSeconds + 15) * 1000 }, signal);
      if (res.status === 204) return null;
      if (res.status !== 200) throw new ApiError(res.status, `pick answered ${res.status}: ${problemDetail(res)}`);
      return res.json() as PickedTask;
    },
    async heartbeat(task, signal) {
      const res = await request(
        pathFor(ROUTES.heartbeat, task.id),
        { method: 'POST', headers: { [HEADERS.leaseToken]: task.leaseToken }, timeoutMs: 10000 },
        signal,
      );
      if (res.status !== 200) throw new ApiError(res.status, `heartbeat answered ${res.status}: ${problemDetail(res)}`);
      return res.json() as HeartbeatAnswer;
    },
    async sendOutput(task, body, signal) {
      const res = await request(
        pathFor(ROUTES.output, task.id),
        {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json', [HEADERS.leaseToken]: task.leaseToken },
          timeoutMs: 20000,
        },
        signal,
      );
      if (res.status !== 200) throw new ApiError(res.status, `output answered ${res.status}: ${problemDetail(res)}`);
      return res.json() as OutputAck;
    },
    async finish(task, result, signal) {
      // A 413 (a proxy or gateway with a smaller limit than ours) is answered with a smaller
      // body, cut further, never by dropping the result.
      let withUsage = true;
      for (let maxBytes = AGENT_BODY_LIMIT; ; maxBytes = Math.floor(maxBytes / 2)) {
        const res = await request(
          pathFor(ROUTES.finish, task.id),
          {
            method: 'POST',
            body: finishBody(result, maxBytes, withUsage),
            headers: { 'content-type': 'application/json', [HEADERS.leaseToken]: task.leaseToken },
            timeoutMs: 60000,
          },
          signal,
        );
        if (res.status === 413 && maxBytes / 2 >= MIN_FINISH_BYTES) continue;
        if (res.status === 400 && withUsage && result.usage) {
          // A server older than `usage` refuses the unknown field: the result matters more.
          const detail = problemDetail(res);
          if (!detail.includes('usage')) throw new ApiError(400, `finish answered 400: ${detail}`);
          withUsage = false;
          maxBytes *= 2;
          continue;
        }
        if (res.status !== 200) throw new ApiError(res.status, `finish answered ${res.status}: ${problemDetail(res)}`);
        return;
      }
    },
    async stopped(signal) {
      const res = await request(pathFor(ROUTES.agentStop, config.agentId), { method: 'POST', timeoutMs: 5000 }, signal);
      if (res.status !== 200) throw new ApiError(res.status, `stop answered ${res.status}`);
    },
  };
}
