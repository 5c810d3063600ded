/** `npm run migrate`: applies pending migrations to the database the environment names. */
import { loadConfig } from '../../functions/shared/config';
import { migrate } from '../../functions/shared/db/migrate';
import { openDb } from '../../functions/shared/deps';
import { createLogger } from '../../functions/shared/logger';
import { waitForDb } from './server';
import { exitOnStartupError } from './startup';

async function main(): Promise<void> {
  try {
    const config = loadConfig();
    const logger = createLogger(config.logLevel);
    const db = await openDb(config, logger);
    try {
      await waitForDb(db, logger, 30000);
      const applied = await migrate(db);
      process.stdout.write(applied.length > 0 ? `applied migrations ${applied.join(', ')}\n` : 'database is up to date\n');
    } finally {
      await db.close();
    }
  } catch (error) {
    exitOnStartupError('migrate', error);
  }
}

void main();
