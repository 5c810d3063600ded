/**
 * The agent loop with a scripted API (the HTTP client is tested against a real server in
 * test/agent-e2e.test.ts); commands are real shell commands.
 */
import { createAgent, sleep } from './agent';
import { type ApiClient, ApiError, type PickedTask } from './api-client';
import { loadAgentConfig } from './config';
import type { RunResult } from './run-command';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

it("never stops the next task's command because of a late 409 to the previous task's heartbeat", async () => {
  const tasks: PickedTask[] = [
    { id: 'a', command: 'sleep 0.3', timeoutSeconds: 10, leaseToken: 'ta', heartbeatIntervalSeconds: 0.05 },
    { id: 'b', command: 'sleep 0.6', timeoutSeconds: 10, leaseToken: 'tb', heartbeatIntervalSeconds: 60 },
  ];
  let bStarted!: () => void;
  const bStart = new Promise<void>((r) => {
    bStarted = r;
  });
  const finished = new Map<string, RunResult>();
  let heldA = false;
  const agent = createAgent(loadAgentConfig({ POLL_INTERVAL: '50ms', AGENT_HEALTH_PORT: '0' }), {
    log: quiet,
    sleep,
    random: () => 0.5,
    now: () => new Date(),
    api: {
      async pick() {
        const next = tasks.shift() ?? null;
        if (next?.id === 'b') setTimeout(bStarted, 50);
        if (next === null) agent.stop();
        return next;
      },
      async heartbeat(task) {
        if (task.id === 'a' && !heldA) {
          heldA = true;
          // answered only once task b runs: the task is no longer this agent's by then
          await bStart;
          throw new ApiError(409, 'heartbeat answered 409: the task is succeeded');
        }
        return { cancelRequested: false };
      },
      async sendOutput() {
        throw new Error('the commands of this test write nothing');
      },
      async finish(task, result) {
        finished.set(task.id, result);
      },
    } satisfies ApiClient,
  });
  await agent.run();
  expect(finished.get('a')).toMatchObject({ state: 'succeeded' });
  expect(finished.get('b')).toMatchObject({ state: 'succeeded', error: null });
});

/** The agent's log, kept: level and message of each line, with its extra keys. */
function keptLog() {
  const lines: { level: string; message: string; extra?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: unknown, ...extra: unknown[]): void => {
      lines.push({ level, message: String(message), extra: extra[0] as Record<string, unknown> | undefined });
    };
  return {
    lines,
    log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    said: (m: string) => lines.filter((l) => l.message === m),
  };
}

/** A sleep that returns at once and keeps what the agent asked to wait (not waits cut short by a stop). */
function keptSleep() {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (!signal?.aborted) waits.push(ms);
    },
  };
}

const down = () => new ApiError(0, 'GET /tasks/pick: ECONNREFUSED');
const TASK: PickedTask = { id: 't1', command: 'true', timeoutSeconds: 10, leaseToken: 'tok', heartbeatIntervalSeconds: 60 };

type Pick = PickedTask | null | Error | 'stop';
type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * An agent whose picks answer from a script (an error is thrown; 'stop', or the end of the
 * script, stops the agent); finish as given; a sleep that returns at once unless given one.
 */
function scriptedAgent(picks: Pick[], options: { finish?: ApiClient['finish']; random?: () => number; sleep?: Sleep } = {}) {
  const { waits, sleep: instant } = keptSleep();
  const { log, said } = keptLog();
  const held = { stdout: 0, stderr: 0 };
  const agent = createAgent(config, {
    log,
    sleep: options.sleep ?? instant,
    random: options.random ?? (() => 0.75),
    now: () => NOW,
    api: {
      async pick() {
        const next = picks.length > 0 ? picks.shift() : 'stop';
        if (next === 'stop') {
          agent.stop();
          return null;
        }
        if (next instanceof Error) throw next;
        return next ?? null;
      },
      heartbeat: async () => ({ cancelRequested: false }),
      // acknowledges every byte sent, as a server that holds it all would
      sendOutput: async (_task, body) => {
        for (const stream of ['stdout', 'stderr'] as const) {
          const chunk = body[stream];
          if (chunk) held[stream] = Math.max(held[stream], chunk.offset + Buffer.byteLength(chunk.data));
        }
        return { ...held, cancelRequested: false, leaseExpiresAt: NOW.toISOString() };
      },
      finish: options.finish ?? (async () => {}),
    },
  });
  return { agent, waits, said };
}

const config = loadAgentConfig({
  POLL_INTERVAL: '1s',
  POLL_WAIT: '0',
  AGENT_HEALTH_PORT: '0',
  AGENT_STOP_GRACE: '60s',
  AGENT_KILL_GRACE: '2s',
});
const NOW = new Date('2026-11-28T10:00:00.000Z');

describe('the agent loop with an injected sleep, clock and random', () => {
  it('backs off exponentially while the server is unreachable, up to 30 s, and from the bottom again once it answered', async () => {
    const { agent, waits, said } = scriptedAgent([...Array.from({ length: 8 }, down), null, down(), down(), 'stop']);
    await agent.run();
    // 0.75 of min(30 s, 500 ms * 2^failures); after the empty pick POLL_INTERVAL plus 0.75 of its 10 % jitter
    expect(waits).toEqual([750, 1500, 3000, 6000, 12000, 22500, 22500, 22500, 1075, 750, 1500]);
    expect(said('server unreachable; backing off')).toHaveLength(2);
    // once per episode, with how many failures it lasted
    expect(said('server reachable again').map((l) => l.extra)).toEqual([{ after: 8 }, { after: 2 }]);
    expect(agent.status()).toMatchObject({ serverReachable: true, lastContactAt: NOW.toISOString() });
  });

  it('draws each backoff at random below its cap (full jitter)', async () => {
    const randoms = [0, 0.999, 0.5];
    const { agent, waits } = scriptedAgent([down(), down(), down()], { random: () => randoms.shift() ?? 0 });
    await agent.run();
    expect(waits).toEqual([0, 1998, 2000]);
  });

  it('waits POLL_INTERVAL after a refused pick (4xx) instead of backing off, and says why', async () => {
    const refused = () => new ApiError(401, 'pick answered 401: The bearer token is not the server’s AGENT_TOKEN.');
    const { agent, waits, said } = scriptedAgent([refused(), refused(), refused()]);
    await agent.run();
    expect(waits).toEqual([1000, 1000, 1000]);
    expect(said('pick refused')).toHaveLength(3);
    expect(said('server unreachable; backing off')).toEqual([]);
  });

  it('does not retry a refused finish (4xx): it drops the result after one try and picks again', async () => {
    const finishes: RunResult[] = [];
    const { agent, waits, said } = scriptedAgent([TASK], {
      async finish(_task, result) {
        finishes.push(result);
        throw new ApiError(409, 'finish answered 409: The task is canceled, not running; it cannot be finished again.');
      },
    });
    await agent.run();
    expect(finishes).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(said('finish refused; dropping the result')).toEqual([
      expect.objectContaining({ level: 'warn', extra: expect.objectContaining({ taskId: 't1', status: 409 }) }),
    ]);
  });

  it('retries a finish that meets no server, with backoff, until it is delivered', async () => {
    const finishes: RunResult[] = [];
    const { agent, waits, said } = scriptedAgent([TASK], {
      async finish(_task, result) {
        finishes.push(result);
        if (finishes.length < 3) throw new ApiError(finishes.length === 1 ? 0 : 503, 'no server');
      },
    });
    await agent.run();
    expect(finishes).toHaveLength(3);
    expect(new Set(finishes).size).toBe(1); // the same result each time
    expect(finishes[0]).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(waits).toEqual([750, 1500]);
    expect(said('task reported')).toHaveLength(1);
  });

  /** Runs `sleep 30` as a task with the real sleep; `started` resolves once the agent said it started it. */
  function runLongTask(finish: ApiClient['finish']) {
    const { agent, said } = scriptedAgent([{ ...TASK, command: 'sleep 30', timeoutSeconds: 60 }], { finish, sleep });
    const running = agent.run();
    const started = (async () => {
      while (said('task started').length === 0) await new Promise((r) => setTimeout(r, 10));
    })();
    return { agent, running, started, said };
  }

  it('lets the command run on the first stop, stops it on the second, and still reports it once', async () => {
    const calls: { result: RunResult; abortedAtCall: boolean }[] = [];
    const { agent, running, started, said } = runLongTask(async (_task, result, signal) => {
      calls.push({ result, abortedAtCall: signal?.aborted ?? false });
    });
    await started;
    agent.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual([]); // still running: the grace is 60 s
    expect(agent.status().state).toBe('stopping');
    agent.stop();
    await running;
    expect(calls).toEqual([
      { result: expect.objectContaining({ state: 'failed', exitCode: null, error: 'agent stopped' }), abortedAtCall: false },
    ]);
    expect(said('stopping now')).toHaveLength(1);
    expect(said('agent stopped')).toHaveLength(1);
  }, 20000);

  it('gives the one report after a hard stop a bounded time (LAST_REPORT_MS), then gives up without retrying', async () => {
    const reasons: string[] = [];
    const { agent, running, started, said } = runLongTask(
      (_task, _result, signal) =>
        new Promise((_resolve, reject) => {
          // a server that never answers: only the agent's own bound ends this request
          signal?.addEventListener('abort', () => {
            reasons.push((signal.reason as Error).name);
            reject(new ApiError(0, 'finish: timed out'));
          });
        }),
    );
    await started;
    agent.stop();
    agent.stop();
    await running;
    expect(reasons).toEqual(['TimeoutError']);
    expect(said('stopped before the result reached the server')).toHaveLength(1);
  }, 20000);

  it('makes one last, bounded attempt when a hard stop comes during the backoff of a report', async () => {
    const signals: AbortSignal[] = [];
    // the backoff lasts until the hard stop cuts it short
    const untilAborted: Sleep = (_ms, signal) =>
      new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve())));
    const { agent, said } = scriptedAgent([TASK], {
      sleep: untilAborted,
      async finish(_task, _result, signal) {
        signals.push(signal as AbortSignal);
        if (signals.length > 1) return;
        setTimeout(() => {
          agent.stop();
          agent.stop();
        }, 50);
        throw down();
      },
    });
    await agent.run();
    expect(signals).toHaveLength(2);
    expect(signals[1]?.aborted).toBe(false); // its own timeout, not the hard stop's aborted signal
    expect(said('task reported')).toHaveLength(1);
  });
});

it('sends output while the command runs, skips heartbeats while sends extend the lease, and heartbeats once output stops', async () => {
  const tasks: PickedTask[] = [
    {
      id: 'live',
      // 3 s of output, then 3.5 s of silence
      command: 'for i in $(seq 1 30); do echo "tick $i"; sleep 0.1; done; sleep 3.5',
      timeoutSeconds: 30,
      leaseToken: 'tl',
      heartbeatIntervalSeconds: 1.5,
    },
  ];
  const events: { at: number; kind: 'heartbeat' | 'send' }[] = [];
  const held = { stdout: 0, stderr: 0 };
  let streamed = '';
  let finishedWith: RunResult | undefined;
  let silentFrom = Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const agent = createAgent(loadAgentConfig({ POLL_INTERVAL: '50ms', AGENT_HEALTH_PORT: '0' }), {
    log: quiet,
    sleep,
    random: () => 0.5,
    now: () => new Date(),
    api: {
      async pick() {
        const next = tasks.shift() ?? null;
        if (next === null) agent.stop();
        return next;
      },
      async heartbeat() {
        events.push({ at: performance.now() - t0, kind: 'heartbeat' });
        return { cancelRequested: false };
      },
      async sendOutput(_task, body) {
        events.push({ at: performance.now() - t0, kind: 'send' });
        const chunk = body.stdout;
        if (chunk && chunk.offset === held.stdout) {
          streamed += chunk.data;
          held.stdout += Buffer.byteLength(chunk.data);
          if (streamed.includes('tick 30\n')) silentFrom = Math.min(silentFrom, performance.now() - t0);
        }
        return { ...held, cancelRequested: false, leaseExpiresAt: new Date().toISOString() };
      },
      async finish(_task, result) {
        finishedWith = result;
      },
    } satisfies ApiClient,
  });
  await agent.run();
  const expected = Array.from({ length: 30 }, (_, i) => `tick ${i + 1}\n`).join('');
  expect(streamed).toBe(expected);
  expect(finishedWith?.stdout).toBe(expected);
  const sends = events.filter((e) => e.kind === 'send');
  const heartbeats = events.filter((e) => e.kind === 'heartbeat');
  expect(sends.length).toBeGreaterThanOrEqual(2);
  // while output flowed (up to the last send), no heartbeat was needed
  expect(heartbeats.filter((h) => h.at < silentFrom - 100)).toEqual([]);
  // in the silence after it, heartbeats resumed
  expect(heartbeats.filter((h) => h.at > silentFrom).length).toBeGreaterThanOrEqual(1);
}, 30000);
