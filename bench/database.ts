/**
 * The bench's own way into its database, for what is measured without HTTP (the floor, the
 * SQL alone, the backlog): the project's Db, opened from a configuration like the server's,
 * and the project's SQL functions. A scratch PostgreSQL database (test/support) is made for the
 * run and dropped at the end; --embedded uses a PGlite directory.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../functions/shared/config';
import { insertTaskBacklog } from '../functions/shared/db/backlog';
import type { Db, Queryable } from '../functions/shared/db/db';
import { openEmbedded } from '../functions/shared/db/embedded';
import { migrate } from '../functions/shared/db/migrate';
import { openPostgres } from '../functions/shared/db/postgres';
import { openDb } from '../functions/shared/deps';
import { createScratchDatabase, withClient } from '../test/support/scratch-database';
import type { BenchContext } from './context';

export type BenchDb = {
  kind: 'postgres' | 'embedded';
  /** the project's Db: on PostgreSQL the server's own database; on PGlite one of the bench's (the server's holds its directory) */
  db: Db;
  /** what the server's environment needs to open its database */
  serverEnv: Record<string, string>;
  /** whether `db` is the server's database, so that SQL timed through it is what the server runs */
  sharedWithServer: boolean;
  version: string;
  /** settings that matter to the figures */
  settings: string;
  /** The PostgreSQL processes serving this database (none for PGlite: it runs inside the server). */
  backendPids(): Promise<number[]>;
  /** `succeeded` finished tasks then `queued` queued ones, oldest first, in one statement (insertTaskBacklog). */
  insertBacklog(succeeded: number, queued: number, from: Date): Promise<void>;
  /** `vacuum (analyze) tasks`; what PostgreSQL said of the table's indexes (cleaned, or bypassed), when it says so. */
  vacuum(): Promise<string | null>;
  checkpoint(): Promise<void>;
  /** EXPLAIN (ANALYZE, BUFFERS) of the statement `fn` runs, in a transaction that is rolled back. */
  explain(fn: (q: Queryable) => Promise<unknown>): Promise<string>;
  close(): Promise<void>;
};

type Captured = { text: string; params: readonly unknown[] };

/** The exact statement a db/tasks.ts function sends, without running it. */
async function captureSql(fn: (q: Queryable) => Promise<unknown>): Promise<Captured> {
  let captured: Captured | undefined;
  await fn({
    query: async <R>(text: string, params?: readonly unknown[]) => {
      captured = { text, params: params ?? [] };
      return [] as R[];
    },
  });
  if (!captured) throw new Error('no SQL captured');
  return captured;
}

class Rollback extends Error {}

export async function explainIn(db: Db, fn: (q: Queryable) => Promise<unknown>): Promise<string> {
  const c = await captureSql(fn);
  let plan = '';
  await db
    .tx(async (q) => {
      const rows = await q.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${c.text}`, c.params);
      plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      throw new Rollback();
    })
    .catch((error) => {
      if (!(error instanceof Rollback)) throw error;
    });
  return plan;
}

/**
 * Runs `fn` on a connection of its own, without the pool's statement and query timeouts (15 s
 * and 20 s, right for the API): a bulk load or a vacuum of a million rows outlasts them. The
 * server's notices (vacuum verbose) are collected for `fn`.
 */
function maintenance<T>(url: string, fn: (q: Queryable, notices: string[]) => Promise<T>): Promise<T> {
  return withClient(url, (c) => {
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    return fn({ query: async (text, params) => (await c.query(text, params as unknown[])).rows }, notices);
  });
}

const serverVersion = async (db: Db) =>
  ((await db.query<{ v: string }>("select current_setting('server_version') as v"))[0]?.v ?? '?').split(' ')[0] as string;

/** Opens the run's database: a scratch PostgreSQL database, or (--embedded) the bench's own PGlite. */
export async function openBenchDatabase(ctx: BenchContext): Promise<BenchDb> {
  if (ctx.options.embedded) {
    const dataDir = join(ctx.tmp, 'data');
    mkdirSync(dataDir, { recursive: true });
    // The floor runs on a PGlite of its own: the server's holds its directory's lock.
    const own = await openEmbeddedAt(join(ctx.tmp, 'floor-data'), { DATA_DIR: dataDir });
    ctx.onCleanup('floor PGlite', () => own.close());
    return own;
  }
  const adminUrl = ctx.options.adminUrl;
  const scratch = await createScratchDatabase(adminUrl, { prefix: 'te_bench' }).catch((error: Error) => {
    throw new Error(
      `PostgreSQL does not answer at ${adminUrl.replace(/:[^:@/]*@/, ':***@')} (${error.message}); set BENCH_DATABASE_URL, or run with --embedded.`,
    );
  });
  ctx.onCleanup(`database ${scratch.name}`, async () => {
    await scratch.drop();
    ctx.detail(`database ${scratch.name} dropped`);
  });
  ctx.detail(`database ${scratch.name} created`);
  const config = loadConfig({ DATABASE_URL: scratch.url, DB_POOL_MAX: String(ctx.options.clients) });
  const db = await openDb(config, { warn: (message: unknown, ..._extra: unknown[]) => ctx.detail(String(message)) });
  ctx.onCleanup('bench connections', () => db.close());
  const [settings] = await db.query<{ a: string; s: string; b: string }>(
    "select current_setting('autovacuum') as a, current_setting('synchronous_commit') as s, current_setting('shared_buffers') as b",
  );
  return {
    kind: 'postgres',
    db,
    serverEnv: { DATABASE_URL: scratch.url },
    sharedWithServer: true,
    version: `PostgreSQL ${await serverVersion(db)}`,
    settings: `autovacuum ${settings?.a}, synchronous_commit ${settings?.s}, shared_buffers ${settings?.b}`,
    async backendPids() {
      const rows = await db.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database()');
      return rows.map((r) => r.pid);
    },
    insertBacklog: (succeeded, queued, from) => maintenance(scratch.url, (q) => insertTaskBacklog(q, { succeeded, queued, from })),
    vacuum: () =>
      maintenance(scratch.url, async (q, notices) => {
        await q.query('vacuum (verbose, analyze) tasks');
        const said = notices.filter((n) => /public\.tasks"/.test(n)).flatMap((n) => n.split('\n').filter((l) => /index scan/.test(l)));
        return said.length > 0 ? said.join('; ') : null;
      }),
    async checkpoint() {
      await maintenance(scratch.url, (q) => q.query('checkpoint'));
    },
    explain: (fn) => explainIn(db, fn),
    close: () => db.close(),
  };
}

/** A PGlite directory through the project's config and Db, migrated (the floor's own, or the server's while it is stopped). */
export async function openEmbeddedAt(dataDir: string, serverEnv: Record<string, string> = { DATA_DIR: dataDir }): Promise<BenchDb> {
  const db = await openDb(loadConfig({ DATA_DIR: dataDir }), { warn: () => {} });
  await migrate(db);
  return {
    kind: 'embedded',
    db,
    serverEnv,
    sharedWithServer: false,
    version: `PGlite (PostgreSQL ${await serverVersion(db)} in WASM)`,
    settings: 'no autovacuum worker (PGlite runs PostgreSQL single-user: nothing vacuums unless the application does)',
    backendPids: async () => [],
    insertBacklog: (succeeded, queued, from) => insertTaskBacklog(db, { succeeded, queued, from }),
    async vacuum() {
      await db.query('vacuum (analyze) tasks');
      return null;
    },
    async checkpoint() {
      await db.query('checkpoint');
    },
    explain: (fn) => explainIn(db, fn),
    close: () => db.close(),
  };
}

/** A store of the standalone benches (bench:metrics, bench:routing), migrated. */
export type StandaloneStore = {
  name: 'pglite' | 'postgres';
  db: Db;
  /** vacuum analyze (and on PostgreSQL a checkpoint) after a bulk load */
  maintain(): Promise<void>;
  close(): Promise<void>;
};

/**
 * Opens `name`: PGlite in memory, or a scratch database on the PostgreSQL of BENCH_DATABASE_URL
 * (else TEST_DATABASE_URL), dropped on close; null, said through `say`, when neither is set.
 */
export async function openStandaloneStore(name: 'pglite' | 'postgres', say: (line: string) => void): Promise<StandaloneStore | null> {
  if (name === 'pglite') {
    const db = await openEmbedded({ dataDir: 'memory' });
    await migrate(db);
    return { name, db, maintain: () => db.exec('vacuum analyze tasks'), close: () => db.close() };
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
    name,
    db,
    // On a connection of its own: the pool's statement timeout (15 s) would cut a vacuum of 1M rows.
    maintain: () =>
      withClient(scratch.url, async (c) => {
        await c.query('vacuum analyze tasks');
        await c.query('checkpoint');
      }),
    async close() {
      await db.close();
      await scratch.drop();
    },
  };
}
