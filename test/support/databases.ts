/**
 * Test databases: a migrated template is built once per run (global-setup.ts); each test
 * file gets its own copy, on PGlite always and on real PostgreSQL when TEST_DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { Db } from '../../functions/shared/db/db';
import { openEmbedded } from '../../functions/shared/db/embedded';
import { openPostgres } from '../../functions/shared/db/postgres';

export const PGLITE_TEMPLATE = join(tmpdir(), `task-executor-template-${process.env.TEST_RUN_ID ?? 'local'}.tar.gz`);
export const PG_TEMPLATE_DB = `te_template_${process.env.TEST_RUN_ID ?? 'local'}`;

export type Store = {
  name: 'pglite' | 'postgres';
  /** A fresh migrated database, isolated from every other test file. */
  open(): Promise<Db>;
};

/** A connection string to another database on the TEST_DATABASE_URL server. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export const pgliteStore: Store = {
  name: 'pglite',
  async open() {
    const blob = new Blob([readFileSync(PGLITE_TEMPLATE)]);
    return openEmbedded({ dataDir: 'memory', loadDataDir: blob });
  },
};

/** The real PostgreSQL store, or null (with the reason printed once) when TEST_DATABASE_URL is unset. */
export const postgresStore: Store | null = process.env.TEST_DATABASE_URL
  ? {
      name: 'postgres',
      async open() {
        const url = process.env.TEST_DATABASE_URL as string;
        const name = `te_${randomBytes(6).toString('hex')}`;
        const admin = new Client({ connectionString: url });
        await admin.connect();
        try {
          await admin.query(`create database ${name} template ${PG_TEMPLATE_DB}`);
        } finally {
          await admin.end();
        }
        const db = openPostgres({ kind: 'postgres', connectionString: withDatabase(url, name) }, { poolMax: 30 });
        const close = db.close.bind(db);
        return {
          ...db,
          async close() {
            await close();
            const c = new Client({ connectionString: url });
            await c.connect();
            await c.query(`drop database if exists ${name} with (force)`).finally(() => c.end());
          },
        };
      },
    }
  : null;

if (postgresStore === null && !process.env.TEST_STORES_NOTICE_SHOWN) {
  process.env.TEST_STORES_NOTICE_SHOWN = '1';
  console.warn('TEST_DATABASE_URL is not set: tests against real PostgreSQL are skipped (PGlite tests still run).');
}

/** Every store this run tests against. */
export const stores: Store[] = postgresStore ? [pgliteStore, postgresStore] : [pgliteStore];
