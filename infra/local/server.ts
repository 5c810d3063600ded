/**
 * Starts the local API server: opens the database, applies migrations, builds the handlers'
 * deps and serves the route table over HTTP. Used by `npm run server`, `npm start` and tests;
 * each call is independent, so several servers in one process never share a database.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@aws-lambda-powertools/logger';
import { routes } from '../../functions/routes';
import type { ServerConfig } from '../../functions/shared/config';
import type { Db } from '../../functions/shared/db/db';
import { migrate } from '../../functions/shared/db/migrate';
import { buildDeps, closeDeps, type Deps, openDb } from '../../functions/shared/deps';
import { expireLeases } from '../../functions/shared/lease-expiry';
import { createLogger, requestLog } from '../../functions/shared/logger';
import { answerClientErrors, createApp } from './app';

export type RunningServer = {
  url: string;
  port: number;
  db: Db;
  deps: Deps;
  server: Server;
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
    expireLeases({ ...deps, log: reaperLog }).catch((error) => reaperLog.warn('lease expiry failed', { error: (error as Error).message }));
  }, deps.lease.reaperIntervalMs);
  reaper.unref();
  const app = createApp(routes, deps);
  const server = await new Promise<Server>((resolve, reject) => {
    // Express 5 hands a listen error (EADDRINUSE) to this callback, not to an 'error' event.
    const s = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  server.keepAliveTimeout = 65000;
  answerClientErrors(server);
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    db,
    deps,
    server,
    close(graceMs = 10000) {
      closing ??= (async () => {
        clearInterval(reaper);
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
        if (!options.db) await db.close();
      })();
      return closing;
    },
  };
}
