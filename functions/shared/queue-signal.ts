/**
 * Wakes held picks when a task is queued. A NOTIFY on QUEUED_CHANNEL carries `<count> <label
 * key>` and wakes that many waiting pickers among those whose agent may run a task of that label
 * set (the first in line first); a picker that then finds nothing waits again without waking
 * anyone, so idle agents never spin. A payload of another form (an older server) wakes one
 * waiter, any.
 *
 * Most NOTIFYs are sent by the statement that queues the task, inside its transaction. A create
 * on a server that listens does it otherwise (`queued`): it wakes this process's waiters itself,
 * at once, and tells the other server processes with one NOTIFY per batch, sent after the
 * commit, `@<origin> <count> <label key>`, which its own listener passes over. A NOTIFY in the
 * transaction takes PostgreSQL's one notify lock until the commit is flushed, so every create of
 * the cluster committed one after another: 1,850-1,940 creates/s from 10 clients here, against
 * 2,000-2,140/s this way (docs/performance.md). Should the process die between the commit and
 * that NOTIFY, or the NOTIFY fail, a waiter on another server finds the task at its agent's next
 * pick, once its wait is over. Creates that commit while the server shuts down are still
 * announced (`flush`).
 */

import { randomUUID } from 'node:crypto';

export type QueueSignal = {
  /**
   * A counter that moves whenever a task may have been queued that no waiter was woken for
   * (nobody waited that may run it), and on a reconnect or close.
   */
  generation(): number;
  /**
   * Waits up to ms for a wake-up. Resolves true at once if the generation already moved past
   * `since` (a task was queued while the caller was looking, and nobody was woken for it), true when woken, false on
   * timeout, when the signal is closed, or when `abort` aborts (the waiter leaves the line,
   * so the next wake-up goes to a picker that is still there). `accepts` says whether this
   * waiter's agent may run a task of a label set (its key: labels joined by ','); default any.
   */
  wait(ms: number, since: number, abort?: AbortSignal, accepts?: (labelKey: string) => boolean): Promise<boolean>;
  /** Releases every waiter (shutdown) and stops listening. */
  close(): Promise<void>;
  /**
   * A claim for agents of this label set that began at generation `since` found nothing: until
   * the generation moves, every task queued since was handed to a waiter woken for it (a task
   * queued later is announced later, and one nobody was woken for moves the generation).
   */
  foundNothing(labelKey: string, since: number): void;
  /** A woken picker leaves without claiming (its agent hung up): the wake-up goes to the next waiter. */
  handOn(): void;
  /** The agent ended its task here (finish): its next pick may be spared a claim that finds nothing. */
  agentFinished(agentId: string): void;
  /**
   * True when this agent's pick may wait without claiming first: it finished its task here
   * within HINT_MS (so the finish already marked it seen and free in the agents table), and a
   * claim for its label set found nothing at the current generation, within HINT_MS. Takes the
   * agent's finish.
   */
  nothingQueuedFor(agentId: string, labelKey: string): boolean;
  /**
   * Where present, a create queues its task without a NOTIFY in its transaction and calls this
   * once it committed: it wakes a waiter here that may run it (or moves the generation) and
   * announces the task to the other server processes. Absent (re-polling signals), the insert
   * notifies as before.
   */
  queued?(labelKey: string): void;
  /** Resolves once every announcement made so far was sent (shutdown: before the database closes). */
  flush?(): Promise<void>;
};

/** How long a finish and an empty claim stay evidence for nothingQueuedFor (a bound, should one be missed). */
export const HINT_MS = 1000;
/** Past this many agents or label sets remembered, the hints start over (they are only hints). */
const HINT_MAX_ENTRIES = 10000;

type Waiter = { resolve: (woken: boolean) => void; timer: NodeJS.Timeout; accepts?: (labelKey: string) => boolean };

/** Subscribes to notifications; resolves to an unsubscribe function. */
export type Subscribe = (onNotify: (payload: string) => void, onReconnect: () => void) => Promise<() => Promise<void>>;
/** Sends these QUEUED_CHANNEL payloads to every listener (one statement). */
export type Publish = (payloads: readonly string[]) => Promise<void>;

/**
 * Reads a QUEUED_CHANNEL payload: `<count> <label key>`, or `@<origin> <count> <label key>` from a
 * create announced after its commit; anything else is one task any waiter may take.
 */
export function parseQueuedPayload(payload: string): { count: number; labelKey: string | null; origin: string | null } {
  const m = /^(?:@([\w-]{1,64}) )?(\d{1,9}) (.*)$/s.exec(payload);
  if (!m) return { count: 1, labelKey: null, origin: null };
  return { count: Math.max(1, Number(m[2])), labelKey: m[3] as string, origin: m[1] ?? null };
}

/** The payload announcing `count` tasks of this label set queued by `origin`. */
export const announcedPayload = (origin: string, count: number, labelKey: string) => `@${origin} ${count} ${labelKey}`;

export type QueueSignalOptions = {
  clock?: () => number;
  /** how `queued` reaches the other server processes; without it (PGlite: no other process can share the database), it does not */
  publish?: Publish;
  /** this process's name in announced payloads (default: a random UUID) */
  origin?: string;
  /** an announcement could not be sent (the other servers' waiters find those tasks at their next claim) */
  onPublishError?: (error: Error) => void;
};

/** A signal driven by LISTEN (PostgreSQL or PGlite). */
export async function createQueueSignal(subscribe: Subscribe, options: QueueSignalOptions = {}): Promise<QueueSignal> {
  const clock = options.clock ?? (() => performance.now());
  const origin = options.origin ?? randomUUID();
  let gen = 0;
  let closed = false;
  const waiters: Waiter[] = [];
  // label key -> the generation at the start of the latest claim that found nothing, and when
  const empty = new Map<string, { at: number; time: number }>();
  // agent id -> when it last finished a task here
  const finished = new Map<string, number>();
  // Wakes up to `count` waiters that may run a task of this label set (null: any), first in line first.
  const wake = (count: number, labelKey: string | null) => {
    let left = count;
    for (let i = 0; i < waiters.length && left > 0; ) {
      const w = waiters[i] as Waiter;
      if (labelKey !== null && w.accepts !== undefined && !w.accepts(labelKey)) {
        i += 1;
        continue;
      }
      waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve(true);
      left -= 1;
    }
    // Only tasks no waiter was woken for move the generation: a picker whose look came too early
    // for them looks again, while one woken waiter per task is enough for the rest (a picker
    // that looks again for a task another was woken for finds nothing, a query for nothing).
    if (left > 0) gen += 1;
  };
  const wakeSome = (payload: string) => {
    const { count, labelKey, origin: from } = parseQueuedPayload(payload);
    // Our own announcement: its waiters were woken when the task was queued.
    if (from === origin) return;
    wake(count, labelKey);
  };
  // Announcements not sent yet (label key -> tasks), and the one statement in flight.
  let pending = new Map<string, number>();
  let sending: Promise<void> | null = null;
  const send = async () => {
    // Creates of the same turn of the event loop go out together.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (pending.size > 0) {
        const batch = pending;
        pending = new Map();
        try {
          await options.publish?.([...batch].map(([key, count]) => announcedPayload(origin, count, key)));
        } catch (error) {
          options.onPublishError?.(error as Error);
        }
      }
    } finally {
      sending = null;
    }
  };
  const wakeAll = (woken: boolean) => {
    gen += 1;
    for (const w of waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(woken);
    }
  };
  // After a reconnect, notifications may have been missed: every waiter looks once more.
  const unsubscribe = await subscribe(wakeSome, () => wakeAll(true));
  return {
    generation: () => gen,
    wait(ms, since, abort, accepts) {
      if (closed || abort?.aborted) return Promise.resolve(false);
      if (gen !== since) return Promise.resolve(true);
      return new Promise((resolve) => {
        const leave = () => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          clearTimeout(waiter.timer);
          abort?.removeEventListener('abort', leave);
          resolve(false);
        };
        const waiter: Waiter = {
          resolve: (woken) => {
            abort?.removeEventListener('abort', leave);
            resolve(woken);
          },
          timer: setTimeout(leave, ms),
          accepts,
        };
        abort?.addEventListener('abort', leave, { once: true });
        waiters.push(waiter);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      wakeAll(false);
      await sending;
      await unsubscribe();
    },
    foundNothing(labelKey, since) {
      const known = empty.get(labelKey);
      if (known !== undefined && known.at > since) return;
      if (known === undefined && empty.size >= HINT_MAX_ENTRIES) empty.clear();
      empty.set(labelKey, { at: since, time: clock() });
    },
    handOn: () => wake(1, null),
    queued(labelKey) {
      wake(1, labelKey);
      // Also once closed: a create that commits while the server drains is announced (flush).
      if (options.publish === undefined) return;
      pending.set(labelKey, (pending.get(labelKey) ?? 0) + 1);
      sending ??= send();
    },
    flush: async () => {
      while (sending !== null) await sending;
    },
    agentFinished(agentId) {
      if (finished.size >= HINT_MAX_ENTRIES) finished.clear();
      finished.set(agentId, clock());
    },
    nothingQueuedFor(agentId, labelKey) {
      const finishedAt = finished.get(agentId);
      if (finishedAt === undefined) return false;
      finished.delete(agentId);
      const now = clock();
      const known = empty.get(labelKey);
      return now - finishedAt < HINT_MS && known !== undefined && known.at === gen && now - known.time < HINT_MS;
    },
  };
}

/**
 * A signal without LISTEN (Lambda: no connection outlives an invocation): waiting is a bounded
 * re-poll every `intervalMs`, within the wait the caller allows.
 */
export function createPollingSignal(intervalMs: number): QueueSignal {
  let gen = 0;
  return {
    generation: () => gen,
    wait: (ms) =>
      new Promise((resolve) =>
        setTimeout(
          () => {
            gen += 1;
            resolve(ms > intervalMs);
          },
          Math.min(ms, intervalMs),
        ),
      ),
    async close() {},
    // No notifications: nothing is ever known to be empty.
    foundNothing() {},
    handOn() {},
    agentFinished() {},
    nothingQueuedFor: () => false,
  };
}
