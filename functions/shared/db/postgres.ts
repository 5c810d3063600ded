import { Pool, type PoolConfig } from 'pg';
import type { DbConfig } from '../config';
import type { Db, Queryable } from './db';

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

  const query = async <R>(text: string, params?: readonly unknown[]): Promise<R[]> => {
    const result = await pool.query(text, params as unknown[] | undefined);
    return result.rows as R[];
  };

  return {
    kind: 'postgres',
    query,
    async tx(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const q: Queryable = {
          query: async <R>(text: string, params?: readonly unknown[]) =>
            (await client.query(text, params as unknown[] | undefined)).rows as R[],
        };
        const result = await fn(q);
        await client.query('commit');
        return result;
      } catch (error) {
        try {
          await client.query('rollback');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    async close() {
      await pool.end();
    },
  };
}
