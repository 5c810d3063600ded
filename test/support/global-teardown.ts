import { rmSync } from 'node:fs';

/** Removes the templates built by global-setup.ts. */
export default async function globalTeardown(): Promise<void> {
  const { PGLITE_TEMPLATE, PG_TEMPLATE_DB } = await import('./databases');
  rmSync(PGLITE_TEMPLATE, { force: true });
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const { dropDatabase } = await import('./scratch-database');
    await dropDatabase(url, PG_TEMPLATE_DB);
  }
}
