/** Start-up helpers shared by the local entry points: one clear line instead of a stack trace. */
import { onSignals } from '../../agent/signals';
import { ConfigError } from '../../functions/shared/config';
import { DataDirLockedError } from '../../functions/shared/db/embedded';

/** Prints a known start-up failure as one line and exits 1; rethrows nothing. */
export function exitOnStartupError(what: string, error: unknown): never {
  if (error instanceof ConfigError || error instanceof DataDirLockedError) {
    process.stderr.write(`${what}: ${error.message}\n`);
  } else {
    const e = error as { message?: string; code?: string };
    process.stderr.write(`${what} could not start: ${e?.message ?? String(error)}${e?.code ? ` (${e.code})` : ''}\n`);
  }
  process.exit(1);
}

/** Runs `stop` on the first SIGINT/SIGTERM; a second, deliberate one exits at once. */
export function onShutdownSignal(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  onSignals(
    (signal) => {
      stop(signal).then(
        () => process.exit(0),
        (error) => {
          process.stderr.write(`error while stopping: ${(error as Error).message}\n`);
          process.exit(1);
        },
      );
    },
    () => process.exit(130),
  );
}
