/**
 * The stop-signal convention every process of the project follows (the agent, the local
 * server's entry points, the CLI): the first SIGINT/SIGTERM asks to stop, a later one insists.
 * A terminal's Ctrl-C reaches a process under `npm run` twice at once (from the terminal, and
 * forwarded by npm): a repeat within this window is the same request, not a second one.
 */
export const DUPLICATE_SIGNAL_MS = 1000;

/** Calls `first` on the first SIGINT/SIGTERM and `again` on each later, deliberate one. */
export function onSignals(first: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void): void {
  let firstAt: number | null = null;
  const handle = (signal: NodeJS.Signals) => {
    const t = Date.now();
    if (firstAt === null) {
      firstAt = t;
      first(signal);
    } else if (t - firstAt > DUPLICATE_SIGNAL_MS) {
      again(signal);
    }
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}
