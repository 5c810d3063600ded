/**
 * The agent loop: pick, run, report, one task at a time. After a task it picks again at once;
 * after an empty pick it waits POLL_INTERVAL plus jitter; while the server is unreachable it
 * backs off exponentially with jitter, logging once per change of state.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type ApiClient, ApiError, type PickedTask } from './api-client';
import type { AgentConfig } from './config';
import type { Containment } from './containment';
import { createLiveOutput, type LiveOutput } from './live-output';
import { type RunResult, runCommand, type StopReason } from './run-command';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30000;
const DEFAULT_OUTPUT_LIMIT = 1048576;
/** Used when the server does not say (it does: heartbeatIntervalSeconds in the pick answer). */
const DEFAULT_HEARTBEAT_SECONDS = 5;
/** How long the one report after a hard stop may take. */
const LAST_REPORT_MS = 5000;
/** How long telling the server "stopped" may hold the exit. */
const STOP_REPORT_MS = 3000;

export type AgentStatus = {
  state: 'idle' | 'busy' | 'stopping';
  taskId: string | null;
  lastContactAt: string | null;
  serverReachable: boolean;
  tasksRun: number;
};

export type AgentDeps = {
  api: ApiClient;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** Resolves after ms, or early when the signal aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  now: () => Date;
  /** how commands are contained (chosen at start by chooseContainment); the process group when absent */
  containment?: Containment;
};

/** Resolves after ms or when the signal aborts, whichever is first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Full-jitter exponential backoff: a random delay up to min(cap, base * 2^attempt). */
export function backoffDelay(attempt: number, random: () => number): number {
  return Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 20)));
}

export type Agent = {
  status(): AgentStatus;
  /** Runs until `stop` aborts and the current task is reported. */
  run(): Promise<void>;
  /**
   * First call: stop picking, let the running command finish within the stop grace.
   * Second call: stop the command now.
   */
  stop(): void;
};

/** Creates an agent; nothing happens until run(). */
export function createAgent(config: AgentConfig, deps: AgentDeps): Agent {
  const stopping = new AbortController();
  const hardStop = new AbortController();
  let current: { task: PickedTask; abort: AbortController } | null = null;
  let graceTimer: NodeJS.Timeout | undefined;
  const status: AgentStatus = { state: 'idle', taskId: null, lastContactAt: null, serverReachable: true, tasksRun: 0 };
  let failures = 0;

  const contact = () => {
    status.lastContactAt = deps.now().toISOString();
    if (!status.serverReachable) deps.log.info('server reachable again', { after: failures });
    status.serverReachable = true;
    failures = 0;
  };
  const lost = (error: unknown) => {
    failures += 1;
    if (status.serverReachable) deps.log.warn('server unreachable; backing off', { error: (error as Error).message });
    status.serverReachable = false;
    return backoffDelay(failures, deps.random);
  };

  const stopCommand = (reason: StopReason) => current?.abort.abort(reason);

  async function report(task: PickedTask, result: RunResult): Promise<void> {
    for (;;) {
      // After a hard stop the result is still sent, once and bounded, so that the task ends
      // "agent stopped" now instead of "agent lost" a lease later.
      const last = hardStop.signal.aborted;
      try {
        await deps.api.finish(task, result, last ? AbortSignal.timeout(LAST_REPORT_MS) : hardStop.signal);
        contact();
        deps.log.info('task reported', { taskId: task.id, state: result.state, exitCode: result.exitCode });
        return;
      } catch (error) {
        if (error instanceof ApiError && !error.retryable) {
          deps.log.warn('finish refused; dropping the result', { taskId: task.id, status: error.status, error: error.message });
          return;
        }
        if (last) {
          deps.log.error('stopped before the result reached the server', { taskId: task.id, error: (error as Error).message });
          return;
        }
        // A hard stop during the wait (or the request) leads to the last attempt above.
        await deps.sleep(lost(error), hardStop.signal);
      }
    }
  }

  /**
   * What the server tells the agent about a running task, from a heartbeat's or an output send's
   * answer: a cancel stops the command; a 409 means the task is no longer ours (reclaimed or
   * ended) and stops it too. Only this task's own command is ever stopped from here: an answer
   * still in flight when its task ended may come after the next task has started (the soak
   * caught that with a heartbeat's 409).
   */
  function taskLink(task: PickedTask, abort: AbortController) {
    let ended = false;
    /** when an output send was last answered (it extended the lease as a heartbeat does) */
    let sentAt = Number.NEGATIVE_INFINITY;
    const stopThisTask = (reason: StopReason) => {
      if (!ended && !abort.signal.aborted) abort.abort(reason);
    };
    return {
      get sentAt() {
        return sentAt;
      },
      answered(answer: { cancelRequested: boolean }, bySend = false) {
        if (bySend) sentAt = performance.now();
        contact();
        if (answer.cancelRequested && !ended && !abort.signal.aborted) {
          deps.log.info('cancel requested; stopping the command', { taskId: task.id });
          stopThisTask({ state: 'canceled', error: 'canceled by user' });
        }
      },
      conflict(error: Error) {
        if (!ended && !abort.signal.aborted) {
          deps.log.warn('task is no longer ours; stopping the command', { taskId: task.id, error: error.message });
        }
        stopThisTask({ state: 'failed', error: 'agent lost the task: lease no longer valid' });
      },
      end() {
        ended = true;
      },
    };
  }

  /**
   * Heartbeats while the command runs: extends the lease, learns of a cancel. A heartbeat is
   * skipped when an output send extended the lease within the interval. Network errors are only
   * counted; the lease gives the server time to see us again.
   */
  function startHeartbeats(task: PickedTask, link: ReturnType<typeof taskLink>, abort: AbortController): () => void {
    const everyMs = (task.heartbeatIntervalSeconds ?? DEFAULT_HEARTBEAT_SECONDS) * 1000;
    let inFlight = false;
    let stopped = false;
    const timer = setInterval(async () => {
      if (inFlight || stopped || abort.signal.aborted) return;
      if (performance.now() - link.sentAt < everyMs) return;
      inFlight = true;
      try {
        link.answered(await deps.api.heartbeat(task, hardStop.signal));
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) link.conflict(error);
        else if (!(error instanceof ApiError && !error.retryable)) lost(error);
      } finally {
        inFlight = false;
      }
    }, everyMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /** Sends the command's output while it runs (POST /tasks/{id}/output); see live-output.ts. */
  function startLiveOutput(task: PickedTask, link: ReturnType<typeof taskLink>): LiveOutput {
    return createLiveOutput({
      limit: task.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT,
      send: (body, signal) => deps.api.sendOutput(task, body, signal),
      onAck: (ack) => link.answered(ack, true),
      onConflict: (error) => link.conflict(error),
      onRetryableError: (error) => lost(error),
      sleep: deps.sleep,
      log: deps.log,
      signal: hardStop.signal,
    });
  }

  async function execute(task: PickedTask): Promise<void> {
    const abort = new AbortController();
    current = { task, abort };
    status.state = stopping.signal.aborted ? 'stopping' : 'busy';
    status.taskId = task.id;
    deps.log.info('task started', { taskId: task.id });
    const link = taskLink(task, abort);
    const stopHeartbeats = startHeartbeats(task, link, abort);
    const live = config.liveOutput ? startLiveOutput(task, link) : null;
    try {
      const result = await runCommand({
        command: task.command,
        timeoutSeconds: task.timeoutSeconds,
        env: { ...config.commandEnv, TASK_ID: task.id },
        outputLimitBytes: task.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT,
        killGraceMs: config.killGraceMs,
        signal: abort.signal,
        runAs: config.runAs,
        containment: deps.containment,
        onOutput: live ? (stream, chunk) => live.write(stream, chunk) : undefined,
      });
      status.tasksRun += 1;
      // What still waits goes out before the finish (heartbeats go on meanwhile), so a reader
      // following the stream reads on to its end; a command that never streamed skips this.
      await live?.finish();
      link.end();
      stopHeartbeats();
      await report(task, result);
    } finally {
      live?.stop();
      link.end();
      stopHeartbeats();
      current = null;
      status.taskId = null;
      status.state = stopping.signal.aborted ? 'stopping' : 'idle';
    }
  }

  return {
    status: () => ({ ...status }),
    stop() {
      if (!stopping.signal.aborted) {
        stopping.abort();
        status.state = 'stopping';
        deps.log.info('stopping: no new tasks', { graceMs: config.stopGraceMs, taskId: current?.task.id ?? null });
        if (current) graceTimer = setTimeout(() => stopCommand({ state: 'failed', error: 'agent stopped' }), config.stopGraceMs);
        return;
      }
      deps.log.warn('stopping now');
      hardStop.abort();
      stopCommand({ state: 'failed', error: 'agent stopped' });
    },
    async run() {
      deps.log.info('agent started', { agentId: config.agentId, server: config.backendUrl });
      while (!stopping.signal.aborted) {
        let task: PickedTask | null;
        try {
          task = await deps.api.pick(config.pollWaitSeconds, stopping.signal);
          contact();
        } catch (error) {
          if (stopping.signal.aborted) break;
          const delay = error instanceof ApiError && !error.retryable ? config.pollIntervalMs : lost(error);
          if (error instanceof ApiError && !error.retryable) deps.log.error('pick refused', { error: error.message });
          await deps.sleep(delay, stopping.signal);
          continue;
        }
        if (task === null) {
          await deps.sleep(config.pollIntervalMs + Math.floor(deps.random() * config.pollIntervalMs * 0.1), stopping.signal);
          continue;
        }
        await execute(task);
      }
      clearTimeout(graceTimer);
      // Best effort and bounded: GET /agents shows it gone now rather than a lease from now.
      await deps.api
        .stopped?.(AbortSignal.timeout(STOP_REPORT_MS))
        .catch((error: Error) => deps.log.info('could not tell the server this agent stopped', { error: error.message }));
      deps.log.info('agent stopped', { tasksRun: status.tasksRun });
    },
  };
}
