/**
 * Following a task through GET /tasks/{id}/output: one long-poll loop per stream, each passing
 * back X-Next-Offset until X-Output-Complete, riding out a server restart.
 */
import { MAX_OUTPUT_WAIT_SECONDS } from '../contract/http';
import { isTerminal, STREAMS, type StreamName, type Task, type TaskState } from '../contract/task';
import { type ApiClient, ApiError } from './client';
import type { Screen } from './status-line';

/**
 * How long a follower keeps trying while the server does not answer (restart, deploy, a load
 * balancer swapping instances) before it gives up with exit 125: a server back within this
 * does not end a watching user's session.
 */
export const RECONNECT_BUDGET_MS = 30000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;
/** While the status line shows `queued`, reads are held this long, so `running` shows within it. */
const QUEUED_WAIT_SECONDS = 2;
/** Against a server without GET /tasks/{id}/output, how often the task is polled instead. */
const OLD_SERVER_POLL_MS = 1000;
/** A read that came back at once with nothing new (a server ignoring `wait`) waits this long before the next. */
const EMPTY_READ_PAUSE_MS = 500;

export type Clock = { now(): number; sleep(ms: number): Promise<void> };

/** The real clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Hooks for a retry streak: `onRetry` on each failure tried again, `onRecovered` when one succeeds after failures. */
export type RetryHooks = { onRetry?(error: ApiError): void; onRecovered?(): void };

/**
 * Runs `fn`; on a transient error (unreachable, 429, 5xx) runs it again after a growing pause
 * (250 ms doubling to 4 s, jittered) until `budgetMs` has passed since the first failure, then
 * throws the last error. Other errors are thrown at once.
 */
export async function withRetry<T>(fn: () => Promise<T>, clock: Clock, hooks: RetryHooks = {}, budgetMs = RECONNECT_BUDGET_MS): Promise<T> {
  let firstFailure: number | null = null;
  for (let delay = FIRST_BACKOFF_MS; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    try {
      const value = await fn();
      if (firstFailure !== null) hooks.onRecovered?.();
      return value;
    } catch (error) {
      if (!(error instanceof ApiError) || !error.transient) throw error;
      firstFailure ??= clock.now();
      const pause = delay * (0.8 + Math.random() * 0.4);
      if (clock.now() + pause - firstFailure > budgetMs) throw error;
      hooks.onRetry?.(error);
      await clock.sleep(pause);
    }
  }
}

export type FollowOptions = {
  client: ApiClient;
  id: string;
  stream: StreamName;
  clock: Clock;
  /** Each new piece of the stream, in order, with the offset it starts at. */
  onData(data: Buffer, offset: number): Promise<void>;
  /** The task's state as each answer gives it. */
  onState?(state: TaskState): void;
  /** Seconds to hold each read, given the state last seen (null before the first answer). */
  waitSeconds(state: TaskState | null): number;
  hooks?: RetryHooks;
};

/** Reads one stream from offset 0 to its end; resolves with the task's final state. */
export async function followStream(o: FollowOptions): Promise<TaskState> {
  let offset = 0;
  let state: TaskState | null = null;
  for (;;) {
    const started = o.clock.now();
    const wait = o.waitSeconds(state);
    const read = await withRetry(() => o.client.readOutput(o.id, o.stream, offset, wait), o.clock, o.hooks);
    if (read.data.length > 0) await o.onData(read.data, offset);
    offset = read.nextOffset;
    state = read.state;
    o.onState?.(state);
    if (read.complete) return state;
    if (read.data.length === 0 && wait > 0 && o.clock.now() - started < EMPTY_READ_PAUSE_MS) await o.clock.sleep(EMPTY_READ_PAUSE_MS);
  }
}

export type WatchOptions = {
  client: ApiClient;
  screen: Screen;
  clock: Clock;
  /** Write the streams as they arrive (run, logs -f), or only wait for the end (wait, run --json). */
  print: boolean;
  /** Called with each piece of output when printing (logs --json writes its own lines). */
  onData?(stream: StreamName, data: Buffer, offset: number): Promise<void>;
  /** A hint after the status line's state (e.g. "Ctrl-C cancels"). */
  hint?: () => string | undefined;
  /** The status label for a state (run says `canceling` once Ctrl-C was pressed). */
  label?: (state: TaskState) => string;
};

export type Watch = {
  /** The task as it ended, once both streams are read to their end (or, when not printing, once it ended). */
  ended: Promise<Task>;
  /** Redraws the status line from `label` and `hint` (after they changed, e.g. on Ctrl-C). */
  refresh(): void;
};

/**
 * Follows a task until it has ended and both streams are read to their end (or, when not
 * printing, until it has ended). A status line shows the state and the time in it on a terminal.
 */
export function watchTask(task: Pick<Task, 'id' | 'state' | 'createdAt' | 'startedAt'>, o: WatchOptions): Watch {
  const { client, screen, clock } = o;
  const since = (state: TaskState, startedAt: string | null) =>
    state === 'queued' ? Date.parse(task.createdAt) : startedAt !== null ? Date.parse(startedAt) : clock.now();
  let shown: TaskState = task.state;
  let startedAt = task.startedAt;
  const show = () => screen.setStatus({ label: o.label?.(shown) ?? shown, since: since(shown, startedAt), hint: o.hint?.() });
  show();
  const onState = (state: TaskState) => {
    if (state === shown) return;
    shown = state;
    show();
    // The output answer has no startedAt: ask once, so `running 12s` counts from the real start.
    if (state === 'running' && startedAt === null && screen.statusEnabled) {
      client.getTask(task.id).then(
        (t) => {
          startedAt = t.startedAt;
          if (shown === 'running') show();
        },
        () => undefined,
      );
    }
  };
  let lostAt: number | null = null;
  const hooks: RetryHooks = {
    onRetry: (error) => {
      lostAt ??= clock.now();
      screen.setStatus({ label: `reconnecting (${error.reason})`, since: lostAt });
    },
    onRecovered: () => {
      lostAt = null;
      show();
    },
  };
  // Only the status line needs to notice queued -> running early; without one, hold each read fully.
  const waitSeconds = (state: TaskState | null) =>
    screen.statusEnabled && (state ?? shown) === 'queued' ? QUEUED_WAIT_SECONDS : MAX_OUTPUT_WAIT_SECONDS;
  const follow = (stream: StreamName, states: boolean) =>
    followStream({
      client,
      id: task.id,
      stream,
      clock,
      hooks,
      waitSeconds: states ? waitSeconds : () => MAX_OUTPUT_WAIT_SECONDS,
      onState: states ? onState : undefined,
      onData: async (data, offset) => {
        if (!o.print) return;
        if (o.onData) await o.onData(stream, data, offset);
        else await screen.write(stream, data);
      },
    });
  const get = () => withRetry(() => client.getTask(task.id), clock, hooks);
  // A server from before live output answers 404 to the first read of a task that exists:
  // poll the task instead and write its output once it ended.
  const poll = async (): Promise<Task> => {
    for (;;) {
      const t = await get();
      if (t.startedAt !== null) startedAt = t.startedAt;
      onState(t.state);
      if (isTerminal(t.state)) {
        for (const stream of o.print ? STREAMS : []) {
          const data = Buffer.from(t[stream] ?? '');
          if (data.length === 0) continue;
          if (o.onData) await o.onData(stream, data, 0);
          else await screen.write(stream, data);
        }
        return t;
      }
      await clock.sleep(OLD_SERVER_POLL_MS);
    }
  };
  const ended = (async () => {
    try {
      try {
        await Promise.all(o.print ? [follow('stdout', true), follow('stderr', false)] : [follow('stdout', true)]);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error;
        // Still 404 (the task itself is gone): that error, not the read's.
        await get();
        return await poll();
      }
      return await get();
    } finally {
      screen.stop();
    }
  })();
  return { ended, refresh: () => (lostAt === null ? show() : undefined) };
}
