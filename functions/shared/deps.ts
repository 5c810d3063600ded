/**
 * What every handler core needs, built once per process (a Lambda cold start, or the local
 * server's start) and injectable for tests.
 */
import { loadConfig, type ServerConfig } from './config';
import type { Db } from './db/db';
import { openPostgres } from './db/postgres';
import { logger, setLogLevel } from './logger';

export type Deps = {
  config: ServerConfig;
  db: Db;
  now: () => Date;
};

let current: Promise<Deps> | undefined;

/** Opens the database the configuration names: PostgreSQL, or PGlite under DATA_DIR. */
export async function openDb(config: ServerConfig): Promise<Db> {
  if (config.db.kind === 'postgres') {
    return openPostgres(config.db, {
      poolMax: config.dbPoolMax,
      onIdleError: (error) => logger.warn('idle database connection failed', { error: error.message }),
    });
  }
  // Loaded lazily: Lambda bundles leave PGlite out (it is marked external there).
  const { openEmbedded } = await import('./db/embedded');
  return openEmbedded({ dataDir: config.db.dataDir });
}

async function buildDeps(): Promise<Deps> {
  const config = loadConfig();
  setLogLevel(config.logLevel);
  return { config, db: await openDb(config), now: () => new Date() };
}

/** The process's deps, built on first use. */
export function getDeps(): Promise<Deps> {
  if (current === undefined) {
    current = buildDeps();
    // A failed build (say, a bad variable) is retried on the next invocation, not cached.
    current.catch(() => {
      current = undefined;
    });
  }
  return current;
}

/** Installs deps built elsewhere (the local server, tests). */
export function setDeps(deps: Deps): void {
  setLogLevel(deps.config.logLevel);
  current = Promise.resolve(deps);
}
