/** `npm run server`: the API alone, against the database the environment names. */
import { checkExposure, loadConfig } from '../../functions/shared/config';
import { logger } from '../../functions/shared/logger';
import { exitOnStartupError, onShutdownSignal } from './cli';
import { startServer } from './server';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    exitOnStartupError('task-executor server', error);
  }
  const exposure = checkExposure(config);
  if (exposure.refuse) exitOnStartupError('task-executor server', new Error(exposure.refuse));
  if (exposure.warn) logger.warn(exposure.warn);
  const running = await startServer(config).catch((error) => exitOnStartupError('task-executor server', error));
  const store = config.db.kind === 'embedded' ? `embedded PostgreSQL in ${config.db.dataDir}` : 'PostgreSQL';
  process.stdout.write(`task-executor API listening on ${running.url} (${store})\n`);
  onShutdownSignal(async () => {
    logger.info('stopping the server');
    await running.close();
  });
}

void main();
