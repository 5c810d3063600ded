import { Client, Pool, type PoolConfig } from 'pg';
import type { DbConfig } from '../config';
import type { Db } from './db';
import { translateDbError } from './errors';

type PostgresConfig = Extract<DbConfig, { kind: 'postgres' }>;

export type PostgresOptions = {
  poolMax: number;
  /** Called for errors of idle pooled connections (e.g. the server restarted); never fatal. */
  onIdleError?: (error: Error) => void;
};

/**
 * Opens a pg Pool. Connection and statement timeouts are bounded so that an unreachable
 * database turns into a prompt 503, never a request hanging until the client gives up.
 */
export function openPostgres(config: PostgresConfig, options: PostgresOptions): Db {
  const poolConfig: PoolConfig = {
    connectionString: config.connectionString,
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    max: options.poolMax,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    statement_timeout: 15000,
    query_timeout: 20000,
    application_name: 'task-executor',
  };
  const pool = new Pool(poolConfig);
  pool.on('error', (error) => options.onIdleError?.(error));

  const query = async <R>(text: string, params?: readonly unknown[], name?: string): Promise<R[]> => {
    const values = params as unknown[] | undefined;
    try {
      const result = name === undefined ? await pool.query(text, values) : await pool.query({ name, text, values });
      return result.rows as R[];
    } catch (error) {
      throw translateDbError(error);
    }
  };

  return {
    kind: 'postgres',
    query,
    async tx(fn) {
      const client = await pool.connect().catch((error: unknown) => {
        throw translateDbError(error);
      });
      let broken: Error | undefined;
      // pg-pool drops its own 'error' listener while a client is checked out, and pg emits
      // 'error' when the connection ends (terminated, server stopped): without this listener
      // that event would crash the process. The failing query rejects on its own.
      const onError = (error: Error) => {
        broken = error;
      };
      client.on('error', onError);
      const run = async <R>(text: string, params?: readonly unknown[]): Promise<R[]> => {
        try {
          return (await client.query(text, params as unknown[] | undefined)).rows as R[];
        } catch (error) {
          throw translateDbError(error);
        }
      };
      try {
        await run('begin');
        const result = await fn({ query: run });
        await run('commit');
        return result;
      } catch (error) {
        try {
          await client.query('rollback');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    async exec(sql) {
      await query(sql);
    },
    async listen(channel, onNotify, onReconnect) {
      // A dedicated connection outside the pool; re-established with backoff when it drops.
      let client: Client | null = null;
      let stopped = false;
      let retryTimer: NodeJS.Timeout | undefined;
      const connect = async (attempt: number): Promise<void> => {
        const c = new Client(poolConfig);
        c.on('notification', (message) => onNotify(message.payload ?? ''));
        c.on('error', (error) => {
          options.onIdleError?.(error);
          reconnect(c);
        });
        c.on('end', () => reconnect(c));
        try {
          await c.connect();
          await c.query(`listen ${channel}`);
          if (stopped) {
            // unlisten ran while this attempt was connecting: nobody wants it any more.
            c.removeAllListeners('end');
            await c.end().catch(() => {});
            return;
          }
          client = c;
          if (attempt > 0) onReconnect();
        } catch (error) {
          c.removeAllListeners('end');
          await c.end().catch(() => {});
          if (attempt === 0) throw error;
          schedule(attempt + 1);
        }
      };
      const schedule = (attempt: number) => {
        if (stopped) return;
        retryTimer = setTimeout(() => void connect(attempt), Math.min(200 * 2 ** attempt, 5000));
      };
      const reconnect = (c: Client) => {
        if (client !== c || stopped) return;
        client = null;
        c.removeAllListeners('end');
        void c.end().catch(() => {});
        schedule(1);
      };
      await connect(0);
      return async () => {
        stopped = true;
        clearTimeout(retryTimer);
        const c = client;
        client = null;
        if (c) {
          c.removeAllListeners('end');
          await c.end().catch(() => {});
        }
      };
    },
    async close() {
      await pool.end();
    },
  };
}
