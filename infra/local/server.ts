/**
 * Starts the local API server: opens the database, applies migrations, builds the handlers'
 * deps and serves the route table over HTTP. Used by `npm run server`, `npm start` and tests;
 * each call is independent, so several servers in one process never share a database.
 */
import { createServer, type Server, type ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@aws-lambda-powertools/logger';
import { routes } from '../../functions/routes';
import type { ServerConfig } from '../../functions/shared/config';
import type { Db } from '../../functions/shared/db/db';
import { migrate } from '../../functions/shared/db/migrate';
import { buildDeps, closeDeps, type Deps, openDb } from '../../functions/shared/deps';
import { expireLeases } from '../../functions/shared/lease-expiry';
import { createLogger, requestLog } from '../../functions/shared/logger';
import { promoteDue } from '../../functions/shared/promotion';
import { applyRetention, vacuumEmbedded } from '../../functions/shared/retention';
import { answerClientErrors, createApp } from './app';
import { startScheduleTimer, type TickTotals } from './schedule-timer';

/**
 * Node's HTTP server settings, on purpose. The defaults let a client take 60 s to send its
 * headers and 300 s for a whole request, and accept any number of connections.
 */
export const HTTP_OPTIONS = {
  // The request line and headers: a slow-loris client is answered 408 after 10 s.
  headersTimeout: 10_000,
  // A whole request, body included: 60 s is a 6 MiB finish at 100 KiB/s. Held picks are not
  // affected: their request has arrived, only the answer waits.
  requestTimeout: 60_000,
  // How often the two timeouts above are checked (Node's default, 30 s, would add up to 30 s).
  // Headers stay bounded by Node's 16 KiB maxHeaderSize; their count is not capped, as Node
  // would drop the headers past the cap silently (a Content-Length among them included).
  connectionsCheckingInterval: 1_000,
} as const satisfies ServerOptions;

/**
 * Connections beyond this are dropped by the listener. 1,000 busy agents hold about two each
 * (a held pick or a heartbeat, and a finish); a refused (unauthenticated) connection costs the
 * server a socket and its 16 KiB of headers, never a body (the token is checked first).
 */
export const MAX_CONNECTIONS = 4096;

/** How often the embedded store is vacuumed (PGlite has no autovacuum; docs/configuration.md, TASK_RETENTION). */
export const VACUUM_INTERVAL_MS = 10 * 60 * 1000;

/** How often due scheduled tasks are promoted (docs/api.md, Schedules: about a second of delay at most). */
export const PROMOTE_INTERVAL_MS = 1000;

export type RunningServer = {
  url: string;
  port: number;
  db: Db;
  deps: Deps;
  server: Server;
  /** what this server's schedule timer did (infra/local/schedule-timer.ts) */
  scheduleTicks: TickTotals;
  /** Stops accepting, lets in-flight requests end (up to graceMs), closes the database. */
  close(graceMs?: number): Promise<void>;
};

export type StartOptions = {
  /** An already open database (tests); otherwise the one the config names. */
  db?: Db;
  now?: () => Date;
};

/** Waits for the database to answer, logging once per failure streak, up to `timeoutMs`. */
export async function waitForDb(db: Db, logger: Pick<Logger, 'info' | 'warn'>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let logged = false;
  for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
    try {
      await db.query('select 1');
      if (logged) logger.info('database reachable');
      return;
    } catch (error) {
      if (Date.now() + delay > deadline) throw error;
      // The driver's own words (connect ECONNREFUSED ...) say what to check; the 503 does not.
      const cause = (error as { cause?: Error }).cause ?? (error as Error);
      if (!logged) logger.warn('waiting for the database', { error: cause.message });
      logged = true;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Opens, migrates and serves; resolves once listening. */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const db = options.db ?? (await openDb(config, logger));
  try {
    await waitForDb(db, logger);
    const applied = await migrate(db);
    if (applied.length > 0) logger.info('migrations applied', { versions: applied });
  } catch (error) {
    if (!options.db) await db.close();
    throw error;
  }
  const deps = await buildDeps(config, db, { now: options.now, logger });
  // The reaper: running tasks whose agent went silent, or whose deadline passed, end without
  // anyone calling an endpoint. A failed round (database down) is retried on the next tick.
  const reaperLog = requestLog(logger, { handler: 'reaper' });
  const reaper = setInterval(() => {
    // Retention after expiry: a task the expiry just ended is never among those deleted.
    expireLeases({ ...deps, log: reaperLog })
      .then(() => applyRetention({ ...deps, log: reaperLog }))
      .catch((error) => reaperLog.warn('lease expiry or retention failed', { error: (error as Error).message }));
  }, deps.lease.reaperIntervalMs);
  reaper.unref();
  // Scheduled tasks whose runAt has come are queued within about a second (docs/api.md, Schedules). The
  // statement is one index probe when nothing is due, so a 1 s tick costs next to nothing.
  const promoter = setInterval(() => {
    promoteDue({ ...deps, log: reaperLog }).catch((error) => reaperLog.warn('promotion failed', { error: (error as Error).message }));
  }, PROMOTE_INTERVAL_MS);
  promoter.unref();
  const vacuum =
    db.kind === 'embedded'
      ? setInterval(() => {
          vacuumEmbedded({ db, log: reaperLog }).catch((error) => reaperLog.warn('vacuum failed', { error: (error as Error).message }));
        }, VACUUM_INTERVAL_MS)
      : undefined;
  vacuum?.unref();
  const ticker = startScheduleTimer({ ...deps, log: requestLog(logger, { handler: 'schedules' }) }, deps.lease.reaperIntervalMs);
  const app = createApp(routes, deps);
  const server = createServer(HTTP_OPTIONS, app);
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = 65000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  answerClientErrors(server);
  const { port } = server.address() as AddressInfo;
  // SERVER_PORT=0 lets the system choose: the handlers' Host rule (functions/shared/auth.ts)
  // needs the port actually bound. This runs in the listen callback's continuation, before any
  // connection is read, so no request ever sees the 0.
  if (config.port !== port) deps.config = Object.freeze({ ...config, port });
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    db,
    deps,
    server,
    scheduleTicks: ticker.totals,
    close(graceMs = 10000) {
      closing ??= (async () => {
        clearInterval(reaper);
        clearInterval(promoter);
        clearInterval(vacuum);
        await ticker.stop();
        const closed = new Promise<void>((r) => server.close(() => r()));
        // Held picks answer now (204) instead of holding the shutdown for up to 20 s.
        await closeDeps(deps);
        server.closeIdleConnections();
        // A held pick answered after that call leaves its keep-alive connection open and idle
        // (Node closes idle connections once, at close()), which held shutdown for the whole
        // grace: close those too as they become idle.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await closed;
        clearInterval(sweep);
        clearTimeout(timer);
        // Creates that committed while requests drained are announced before the pool closes.
        await deps.signal.flush?.();
        if (!options.db) await db.close();
      })();
      return closing;
    },
  };
}
