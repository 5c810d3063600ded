/**
 * Wakes held reads of GET /tasks/{id}/output when their task has new output or ends. The send
 * and the finish NOTIFY OUTPUT_CHANNEL with the task id (delivered on commit, so it also
 * reaches other server processes); every reader watching that task wakes, reads once, and
 * waits again. Readers of other tasks are not woken, so a busy server does not make idle
 * readers spin.
 */
import type { Subscribe } from './queue-signal';

/** One reader's interest in one task, taken before it reads so no notification falls between. */
export type OutputWatch = {
  /**
   * Resolves true once the task was notified since watch() or since the last wait that
   * returned true (at once if it already was); false on timeout, when the signal is closed, or
   * when `abort` aborts.
   */
  wait(ms: number, abort?: AbortSignal): Promise<boolean>;
  /** Stops watching; call it when the read is answered. */
  end(): void;
};

export type OutputSignal = {
  watch(taskId: string): OutputWatch;
  /** Releases every waiter (shutdown) and stops listening. */
  close(): Promise<void>;
};

type WatchState = { notified: boolean; wake: ((woken: boolean) => void) | null };

/** Subscribes to payload-carrying notifications (the task id), as Db.listen does. */
export type KeyedSubscribe = (onNotify: (payload: string) => void, onReconnect: () => void) => ReturnType<Subscribe>;

/** A signal driven by LISTEN on OUTPUT_CHANNEL (PostgreSQL or PGlite). */
export async function createOutputSignal(subscribe: KeyedSubscribe): Promise<OutputSignal> {
  const watching = new Map<string, Set<WatchState>>();
  let closed = false;
  const notify = (state: WatchState) => {
    state.notified = true;
    state.wake?.(true);
  };
  const unsubscribe = await subscribe(
    (taskId) => {
      for (const state of watching.get(taskId) ?? []) notify(state);
    },
    // After a reconnect notifications may have been missed: every reader looks once more.
    () => {
      for (const states of watching.values()) for (const state of states) notify(state);
    },
  );
  return {
    watch(taskId) {
      const state: WatchState = { notified: false, wake: null };
      let states = watching.get(taskId);
      if (states === undefined) {
        states = new Set();
        watching.set(taskId, states);
      }
      states.add(state);
      return {
        wait(ms, abort) {
          if (state.notified) {
            state.notified = false;
            return Promise.resolve(true);
          }
          if (closed || abort?.aborted) return Promise.resolve(false);
          return new Promise((resolve) => {
            const settle = (woken: boolean) => {
              clearTimeout(timer);
              abort?.removeEventListener('abort', onAbort);
              state.wake = null;
              if (woken) state.notified = false;
              resolve(woken);
            };
            const onAbort = () => settle(false);
            const timer = setTimeout(() => settle(false), ms);
            abort?.addEventListener('abort', onAbort, { once: true });
            state.wake = settle;
          });
        },
        end() {
          state.wake?.(false);
          const set = watching.get(taskId);
          set?.delete(state);
          if (set?.size === 0) watching.delete(taskId);
        },
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const states of watching.values()) for (const state of states) state.wake?.(false);
      await unsubscribe();
    },
  };
}

/**
 * A signal without LISTEN (Lambda: no connection outlives an invocation): waiting is a bounded
 * re-read every `intervalMs`, within the wait the caller allows.
 */
export function createPollingOutputSignal(intervalMs: number): OutputSignal {
  return {
    watch: () => ({
      wait: (ms, abort) =>
        new Promise((resolve) => {
          if (abort?.aborted) return resolve(false);
          const timer = setTimeout(
            () => {
              abort?.removeEventListener('abort', onAbort);
              resolve(ms > intervalMs);
            },
            Math.min(ms, intervalMs),
          );
          const onAbort = () => {
            clearTimeout(timer);
            resolve(false);
          };
          abort?.addEventListener('abort', onAbort, { once: true });
        }),
      end() {},
    }),
    async close() {},
  };
}
