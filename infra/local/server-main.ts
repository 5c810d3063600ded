/** `npm run server`: the API alone, against the database the environment names. */

import { startServer } from './server';
import { describeStore, exitOnStartupError, loadServerConfigOrExit, onShutdownSignal } from './startup';

async function main(): Promise<void> {
  const config = loadServerConfigOrExit('task-executor server');
  const running = await startServer(config).catch((error) => exitOnStartupError('task-executor server', error));
  process.stdout.write(`task-executor API listening on ${running.url} (${describeStore(config)})\n`);
  onShutdownSignal(async () => {
    running.deps.logger.info('stopping the server');
    await running.close();
  });
}

void main();
