/** Start-up helpers shared by the local entry points: one clear line instead of a stack trace. */
import { onSignals } from '../../contract/signals';
import { ConfigError, checkExposure, loadConfig, type ServerConfig } from '../../functions/shared/config';
import { DataDirLockedError } from '../../functions/shared/db/embedded';
import { createLogger } from '../../functions/shared/logger';

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

/**
 * Loads the server configuration and applies the exposure rule (a non-loopback SERVER_HOST
 * needs both tokens unless ALLOW_UNAUTHENTICATED=true); exits with one line on failure.
 */
export function loadServerConfigOrExit(what: string): ServerConfig {
  let config: ServerConfig;
  try {
    config = loadConfig();
  } catch (error) {
    exitOnStartupError(what, error);
  }
  const exposure = checkExposure(config);
  if (exposure.refuse) exitOnStartupError(what, new Error(exposure.refuse));
  if (exposure.warn) createLogger(config.logLevel).warn(exposure.warn);
  return config;
}

/** How the start-up line names the store. */
export function describeStore(config: ServerConfig): string {
  return config.db.kind === 'embedded' ? `embedded PostgreSQL in ${config.db.dataDir}` : 'PostgreSQL';
}
