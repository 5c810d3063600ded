/**
 * What every handler core needs, as one explicit value: built once per process (a Lambda cold
 * start, or each local server's start) and passed to the handlers, never kept in a global, so
 * two servers in one process (tests) each serve their own database.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type LeasePolicy, leasePolicy, loadConfig, type ServerConfig } from './config';
import type { Db } from './db/db';
import { openPostgres } from './db/postgres';
import { notifyQueued, OUTPUT_CHANNEL, QUEUED_CHANNEL } from './db/tasks';
import { createLogger } from './logger';
import { createMetrics, type Metrics } from './metrics';
import { emfSink } from './metrics-emf';
import { createOutputSignal, createPollingOutputSignal, type OutputSignal } from './output-signal';
import { createPollingSignal, createQueueSignal, type QueueSignal } from './queue-signal';
import { loadSecretOverrides } from './secrets';

export type Deps = {
  config: ServerConfig;
  /** the lease timings derived from the config, computed once */
  lease: LeasePolicy;
  db: Db;
  now: () => Date;
  /** wakes held picks when a task is queued */
  signal: QueueSignal;
  /** wakes held reads of a task's output when it has new output or ends */
  outputSignal: OutputSignal;
  /** the process's base logger, at the configured level */
  logger: Logger;
  /** this process's counters and histograms (GET /metrics; CloudWatch EMF on Lambda) */
  metrics: Metrics;
};

/** Opens the database the configuration names: PostgreSQL, or PGlite under DATA_DIR. */
export async function openDb(config: ServerConfig, logger: Pick<Logger, 'warn'>): Promise<Db> {
  if (config.db.kind === 'postgres') {
    return openPostgres(config.db, {
      poolMax: config.dbPoolMax,
      onIdleError: (error) => logger.warn('database connection failed', { error: error.message }),
    });
  }
  // Loaded lazily: Lambda bundles leave PGlite out (it is marked external there).
  const { openEmbedded } = await import('./db/embedded');
  return openEmbedded({ dataDir: config.db.dataDir, warn: (message) => logger.warn(message) });
}

/**
 * How held picks learn of new tasks: LISTEN where a connection can be held, else re-polling. On
 * PostgreSQL a create is announced to the other server processes after its commit (see
 * queue-signal.ts); an embedded database belongs to this process alone, so there it is not.
 */
function openSignal(config: ServerConfig, db: Db, logger: Pick<Logger, 'warn'>): Promise<QueueSignal> {
  if (config.lambda) return Promise.resolve(createPollingSignal(1000));
  return createQueueSignal((onNotify, onReconnect) => db.listen(QUEUED_CHANNEL, onNotify, onReconnect), {
    publish: db.kind === 'postgres' ? (payloads) => notifyQueued(db, payloads) : undefined,
    onPublishError: (error) =>
      logger.warn('could not announce new tasks to other servers; their agents find them at their next pick', { error: error.message }),
  });
}

/** How held output reads learn of new output: LISTEN where a connection can be held, else re-reading. */
function openOutputSignal(config: ServerConfig, db: Db): Promise<OutputSignal> {
  if (config.lambda) return Promise.resolve(createPollingOutputSignal(1000));
  return createOutputSignal((onNotify, onReconnect) => db.listen(OUTPUT_CHANNEL, onNotify, onReconnect));
}

export type BuildOptions = { now?: () => Date; logger?: Logger; metrics?: Metrics };

/** Builds deps from an open database (the local server, tests). */
export async function buildDeps(config: ServerConfig, db: Db, options: BuildOptions = {}): Promise<Deps> {
  const logger = options.logger ?? createLogger(config.logLevel);
  return {
    config,
    lease: leasePolicy(config),
    db,
    now: options.now ?? (() => new Date()),
    signal: await openSignal(config, db, logger),
    outputSignal: await openOutputSignal(config, db),
    logger,
    metrics: options.metrics ?? createMetrics(config.lambda ? emfSink() : undefined),
  };
}

/** Releases what buildDeps opened (the signals' LISTENs); the database is the caller's to close. */
export async function closeDeps(deps: Deps): Promise<void> {
  await Promise.all([deps.signal.close(), deps.outputSignal.close()]);
}

let coldStart: Promise<Deps> | undefined;

/**
 * A Lambda function's deps, built from its environment on the first invocation of the cold
 * start and reused by every later one. A failed build (a bad variable, Secrets Manager down)
 * is retried on the next invocation, not cached. Only Lambda entry points call this.
 */
export function lambdaDeps(): Promise<Deps> {
  if (coldStart === undefined) {
    coldStart = (async () => {
      // On Lambda the DB credentials and tokens come from Secrets Manager (a no-op elsewhere).
      const config = loadConfig({ ...process.env, ...(await loadSecretOverrides()) });
      const logger = createLogger(config.logLevel);
      return buildDeps(config, await openDb(config, logger), { logger });
    })();
    coldStart.catch(() => {
      coldStart = undefined;
    });
  }
  return coldStart;
}
