/**
 * Scratch databases on a PostgreSQL server: created with a random name (from a template or
 * migrated, when asked), dropped when done. The tests, the bench and the soak all make theirs here.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export type ScratchDatabase = {
  name: string;
  /** the admin URL with this database in its path */
  url: string;
  /** Drops it, even with connections still open. */
  drop(): Promise<void>;
};

export type ScratchOptions = {
  /** the name's prefix (a random suffix follows); ignored when `name` is given */
  prefix?: string;
  /** an exact name; an existing database of that name is dropped first */
  name?: string;
  /** copy this database (`create database ... template ...`) */
  template?: string;
  /** apply infra/migrations once created */
  migrated?: boolean;
  connectTimeoutMs?: number;
};

/** A connection string to another database on the same server. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs `fn` on one connection to `url`, closed afterwards whatever happens. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>, connectTimeoutMs = 5000): Promise<T> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  try {
    await c.connect();
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Drops a database of the server of `adminUrl` if it exists, closing its connections. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
}

/** Creates a database on the server of `adminUrl` (a name of ours: letters, digits, _). */
export async function createScratchDatabase(adminUrl: string, options: ScratchOptions = {}): Promise<ScratchDatabase> {
  const name = options.name ?? `${options.prefix ?? 'te'}_${randomBytes(5).toString('hex')}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name of ours: ${name}`);
  await withClient(
    adminUrl,
    async (c) => {
      if (options.name !== undefined) await c.query(`drop database if exists ${name} with (force)`);
      await c.query(`create database ${name}${options.template ? ` template ${options.template}` : ''}`);
    },
    options.connectTimeoutMs,
  );
  const url = withDatabase(adminUrl, name);
  const drop = () => dropDatabase(adminUrl, name);
  if (options.migrated) {
    // Loaded here only: the spawner-only users of this module (the soak) need no migration code.
    const { openPostgres } = await import('../../functions/shared/db/postgres');
    const { migrate } = await import('../../functions/shared/db/migrate');
    const db = openPostgres({ kind: 'postgres', connectionString: url }, { poolMax: 1 });
    try {
      await migrate(db);
    } catch (error) {
      await db.close();
      await drop();
      throw error;
    }
    await db.close();
  }
  return { name, url, drop };
}
