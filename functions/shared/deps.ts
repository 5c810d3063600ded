/**
 * What every handler core needs, built once per process (a Lambda cold start, or the local
 * server's start) and injectable for tests.
 */
import { loadConfig, type ServerConfig } from './config';
import type { Db } from './db/db';
import { openPostgres } from './db/postgres';
import { QUEUED_CHANNEL } from './db/tasks';
import { logger, setLogLevel } from './logger';
import { createPollingSignal, createQueueSignal, type QueueSignal } from './queue-signal';
import { loadSecretOverrides } from './secrets';

export type Deps = {
  config: ServerConfig;
  db: Db;
  now: () => Date;
  /** wakes held picks when a task is queued */
  signal: QueueSignal;
};

let current: Promise<Deps> | undefined;

/** Opens the database the configuration names: PostgreSQL, or PGlite under DATA_DIR. */
export async function openDb(config: ServerConfig): Promise<Db> {
  if (config.db.kind === 'postgres') {
    return openPostgres(config.db, {
      poolMax: config.dbPoolMax,
      onIdleError: (error) => logger.warn('database connection failed', { error: error.message }),
    });
  }
  // Loaded lazily: Lambda bundles leave PGlite out (it is marked external there).
  const { openEmbedded } = await import('./db/embedded');
  return openEmbedded({ dataDir: config.db.dataDir });
}

/** How held picks learn of new tasks: LISTEN where a connection can be held, else re-polling. */
export function openSignal(config: ServerConfig, db: Db): Promise<QueueSignal> {
  if (config.lambda) return Promise.resolve(createPollingSignal(1000));
  return createQueueSignal((onNotify, onReconnect) => db.listen(QUEUED_CHANNEL, onNotify, onReconnect));
}

/** Builds deps from an open database (the local server, tests). */
export async function buildDeps(config: ServerConfig, db: Db, now: () => Date = () => new Date()): Promise<Deps> {
  return { config, db, now, signal: await openSignal(config, db) };
}

async function buildDepsFromEnv(): Promise<Deps> {
  // On Lambda the DB credentials and tokens come from Secrets Manager (a no-op elsewhere).
  const config = loadConfig({ ...process.env, ...(await loadSecretOverrides()) });
  setLogLevel(config.logLevel);
  return buildDeps(config, await openDb(config));
}

/** The process's deps, built on first use. */
export function getDeps(): Promise<Deps> {
  if (current === undefined) {
    current = buildDepsFromEnv();
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
