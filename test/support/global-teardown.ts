import { rmSync } from 'node:fs';
import { Client } from 'pg';

/** Removes the templates built by global-setup.ts. */
export default async function globalTeardown(): Promise<void> {
  const { PGLITE_TEMPLATE, PG_TEMPLATE_DB } = await import('./databases');
  rmSync(PGLITE_TEMPLATE, { force: true });
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const admin = new Client({ connectionString: url });
    await admin.connect();
    await admin.query(`drop database if exists ${PG_TEMPLATE_DB} with (force)`).finally(() => admin.end());
  }
}
