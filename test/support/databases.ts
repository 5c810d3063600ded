/**
 * Test databases: a migrated template is built once per run (global-setup.ts); each test
 * file gets its own copy, on PGlite always and on real PostgreSQL when TEST_DATABASE_URL is set.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../functions/shared/db/db';
import { openEmbedded } from '../../functions/shared/db/embedded';
import { openPostgres } from '../../functions/shared/db/postgres';
import { createScratchDatabase } from './scratch-database';

export { withDatabase } from './scratch-database';

export const PGLITE_TEMPLATE = join(tmpdir(), `task-executor-template-${process.env.TEST_RUN_ID ?? 'local'}.tar.gz`);
export const PG_TEMPLATE_DB = `te_template_${process.env.TEST_RUN_ID ?? 'local'}`;

export type Store = {
  name: 'pglite' | 'postgres';
  /** A fresh migrated database, isolated from every other test file. */
  open(): Promise<Db>;
};

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
        const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string, { template: PG_TEMPLATE_DB });
        const db = openPostgres({ kind: 'postgres', connectionString: scratch.url }, { poolMax: 30 });
        const close = db.close.bind(db);
        return {
          ...db,
          async close() {
            await close();
            await scratch.drop();
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
