/**
 * The live-update rhythm: a callback every interval while the tab is visible, none while it
 * is hidden (as Oban Web does), and one at once when it is shown again. Ticks never overlap.
 */

/** Calls `tick` now and then every `intervalMs` after the last one ended, while the page is visible; returns a stop function. */
export function everyWhileVisible(tick: () => Promise<void>, intervalMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let stopped = false;
  const run = async () => {
    timer = undefined;
    if (stopped || running || document.visibilityState !== 'visible') return;
    running = true;
    try {
      await tick();
    } finally {
      running = false;
      if (!stopped && document.visibilityState === 'visible') timer = setTimeout(run, intervalMs);
    }
  };
  const onVisibility = () => {
    if (document.visibilityState === 'visible' && timer === undefined) void run();
  };
  document.addEventListener('visibilitychange', onVisibility);
  void run();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

/** Resolves once the page is visible (at once if it is). */
export function whenVisible(): Promise<void> {
  if (document.visibilityState === 'visible') return Promise.resolve();
  return new Promise((resolve) => {
    const on = () => {
      if (document.visibilityState !== 'visible') return;
      document.removeEventListener('visibilitychange', on);
      resolve();
    };
    document.addEventListener('visibilitychange', on);
  });
}

/** The list refresh, every 2 s: state changes show well within the 3 s the page promises. */
export const LIST_INTERVAL_MS = 2000;
