/**
 * Wakes held picks when a task is queued. A NOTIFY on QUEUED_CHANNEL (sent by the insert
 * itself, so it also reaches other server processes) wakes exactly one waiting picker; a
 * picker that then finds nothing waits again without waking anyone, so idle agents never spin.
 */

export type QueueSignal = {
  /** A counter that moves whenever a task may have been queued. */
  generation(): number;
  /**
   * Waits up to ms for a wake-up. Resolves true at once if the generation already moved past
   * `since` (a task was queued while the caller was looking), true when woken, false on
   * timeout, when the signal is closed, or when `abort` aborts (the waiter leaves the line,
   * so the next wake-up goes to a picker that is still there).
   */
  wait(ms: number, since: number, abort?: AbortSignal): Promise<boolean>;
  /** Releases every waiter (shutdown) and stops listening. */
  close(): Promise<void>;
};

type Waiter = { resolve: (woken: boolean) => void; timer: NodeJS.Timeout };

/** Subscribes to notifications; resolves to an unsubscribe function. */
export type Subscribe = (onNotify: () => void, onReconnect: () => void) => Promise<() => Promise<void>>;

/** A signal driven by LISTEN (PostgreSQL or PGlite). */
export async function createQueueSignal(subscribe: Subscribe): Promise<QueueSignal> {
  let gen = 0;
  let closed = false;
  const waiters: Waiter[] = [];
  const wakeOne = () => {
    gen += 1;
    const w = waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(true);
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
  const unsubscribe = await subscribe(wakeOne, () => wakeAll(true));
  return {
    generation: () => gen,
    wait(ms, since, abort) {
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
        };
        abort?.addEventListener('abort', leave, { once: true });
        waiters.push(waiter);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      wakeAll(false);
      await unsubscribe();
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
  };
}
