/**
 * `npm run bench:routing [-- --rows N] [-- --stores postgres,pglite] [-- --only pick,promotion]`
 *
 * Routing and delayed tasks (docs/performance.md, "Routing"):
 * - pick: claimNextQueuedTask p50/p99 for an agent covering all 10 label sets and one covering 2,
 *   on a queue of a few thousand tasks, then on `--rows` (default 1,000,000) queued tasks over 10
 *   label sets and 5 priorities (target: within 2x), and the EXPLAIN ANALYZE of one pick;
 * - promotion: p50/p99 of startedAt - runAt over 200 delayed tasks reaching 8 idle agents
 *   (long-poll picks over HTTP against the real server, its 1 s promotion timer running).
 * PostgreSQL from BENCH_DATABASE_URL / TEST_DATABASE_URL (a scratch database, dropped after); PGlite in memory.
 */
import { loadConfig } from '../functions/shared/config';
import type { Db } from '../functions/shared/db/db';
import { openEmbedded } from '../functions/shared/db/embedded';
import { migrate } from '../functions/shared/db/migrate';
import { openPostgres } from '../functions/shared/db/postgres';
import { startServer } from '../infra/local/server';
import { createScratchDatabase } from '../test/support/scratch-database';
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

async function openStore(name: string): Promise<{ db: Db; close(): Promise<void> } | null> {
  if (name === 'pglite') {
    const db = await openEmbedded({ dataDir: 'memory' });
    await migrate(db);
    return { db, close: () => db.close() };
  }
  const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!url) {
    say('postgres: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)');
    return null;
  }
  const scratch = await createScratchDatabase(url);
  const db = openPostgres({ kind: 'postgres', connectionString: scratch.url }, { poolMax: 12 });
  await migrate(db);
  return {
    db,
    async close() {
      await db.close();
      await scratch.drop();
    },
  };
}

async function main(): Promise<void> {
  for (const name of STORES) {
    if (ONLY.includes('promotion')) {
      const store = await openStore(name);
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
      const store = await openStore(name);
      if (store === null) continue;
      try {
        const r = await measureRoutedPick(store.db, ROWS);
        say(`${name}: pick, ${num(r.rows)} queued tasks over 10 label sets and 5 priorities (loaded in ${f(r.loadMs)}):`);
        for (const who of ['all', 'one'] as const) {
          const sets = who === 'all' ? '10 label sets' : '2 label sets';
          say(
            `  agent covering ${sets}: small queue p50 ${f(r.empty[who].p50)} p99 ${f(r.empty[who].p99)}; big p50 ${f(r.big[who].p50)} p99 ${f(r.big[who].p99)} (${(r.big[who].p50 / r.empty[who].p50).toFixed(2)}x)`,
          );
        }
        say(`  EXPLAIN (ANALYZE, BUFFERS) of one pick by the agent covering 10 label sets:\n${r.plan.replace(/^/gm, '    ')}`);
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
