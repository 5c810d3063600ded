import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

/** Builds the migrated templates once per run: a PGlite tarball and a PostgreSQL template database. */
export default async function globalSetup(): Promise<void> {
  process.env.TEST_RUN_ID = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const { PGLITE_TEMPLATE, PG_TEMPLATE_DB } = await import('./databases');
  const { openEmbedded } = await import('../../functions/shared/db/embedded');
  const { migrate } = await import('../../functions/shared/db/migrate');
  const db = await openEmbedded({ dataDir: 'memory' });
  await migrate(db);
  const dump = await db.pglite.dumpDataDir('gzip');
  writeFileSync(PGLITE_TEMPLATE, Buffer.from(await dump.arrayBuffer()));
  await db.close();

  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const { createScratchDatabase } = await import('./scratch-database');
    await createScratchDatabase(url, { name: PG_TEMPLATE_DB, migrated: true });
  }
}
