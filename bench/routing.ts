import { loadConfig } from '../functions/shared/config';
import { startServer } from '../infra/local/server';
import { openStandaloneStore } from './database';
import { num } from './http';
import { measurePromotionDelay, measureRoutedPick } from './phases/routing';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const ROWS = Number(arg('rows', '1000000'));
const STORES = arg('stores', 'postgres,pglite').split(',');
const ONLY = arg('only', 'pick,promotion').split(',');
const say = (line: string) => process.stdout.write(`${line}\n`);
const f = (msValue: number) => `${msValue.toFixed(msValue < 10 ? 2 : 0)} ms`;

async function main(): Promise<void> {
  for (const name of STORES) {
    if (ONLY.includes('promotion')) {
      const store = await openStandaloneStore(name === 'pglite' ? 'pglite' : 'postgres', say);
      if (store !== null) {
        const server = await startServer(loadConfig({ SERVER_PORT: '0', LOG_LEVEL: 'error', TASK_RETENTION: '0' }), { db: store.db });
        try {
          const r = await measurePromotionDelay(server);
          say(
            `${name}: promotion delay (startedAt - runAt), ${r.tasks} tasks, 8 idle agents: p50 ${f(r.p50)}, p99 ${f(r.p99)}, max ${f(r.max)}`,
          );
        } finally {
          await server.close(1000);
          await store.close();
        }
      }
    }
    if (ONLY.includes('pick')) {
      const store = await openStandaloneStore(name === 'pglite' ? 'pglite' : 'postgres', say);
      if (store === null) continue;
      try {
        const r = await measureRoutedPick(store.db, ROWS, () => store.maintain());
        say(`${name}: pick, ${num(r.rows)} queued tasks over 10 label sets and 5 priorities (loaded in ${f(r.loadMs)}):`);
        for (const who of ['all', 'one'] as const) {
          const sets = who === 'all' ? '10 label sets' : '2 label sets';
          say(
            `  agent covering ${sets}: small queue p50 ${f(r.empty[who].p50)} p99 ${f(r.empty[who].p99)}; big p50 ${f(r.big[who].p50)} p99 ${f(r.big[who].p99)} (${(r.big[who].p50 / r.empty[who].p50).toFixed(2)}x)`,
          );
        }
        for (const which of ['empty', 'big'] as const) {
          say(
            `  EXPLAIN (ANALYZE, BUFFERS) of one pick by the agent covering 10 label sets, ${which === 'empty' ? 'small' : 'big'} queue:`,
          );
          say(r.plans[which].replace(/^/gm, '    '));
        }
      } finally {
        await store.close();
      }
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
