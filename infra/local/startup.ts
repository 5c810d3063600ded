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
  if (config.apiToken === undefined && !exposure.warn) {
    createLogger(config.logLevel).info(
      `API_TOKEN is not set: any program of any user of this machine can run commands through ${config.host}:${config.port} (web pages of other sites cannot). On a shared machine set API_TOKEN=$(openssl rand -hex 32).`,
    );
  }
  scrubSecrets(process.env);
  return config;
}

/** The variables the server reads once and no child of it may inherit. */
const SECRETS = ['API_TOKEN', 'AGENT_TOKEN', 'DB_PASSWORD', 'DATABASE_URL'];

/**
 * Removes the secrets from the process's environment once the configuration holds them, so no
 * process it starts later inherits them. /proc/<pid>/environ still shows them: Linux keeps the
 * environment the process started with (docs/security.md says what that means).
 */
export function scrubSecrets(env: NodeJS.ProcessEnv): void {
  for (const name of SECRETS) delete env[name];
}

/** How the start-up line names the store. */
export function describeStore(config: ServerConfig): string {
  return config.db.kind === 'embedded' ? `embedded PostgreSQL in ${config.db.dataDir}` : 'PostgreSQL';
}
