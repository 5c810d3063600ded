import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Db } from './db';

export type Migration = { version: number; name: string; sql: string };

/** Finds infra/migrations by walking up from this file (works from source and from dist/). */
export function findMigrationsDir(start = __dirname): string {
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'infra', 'migrations');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`infra/migrations not found above ${start}`);
    dir = parent;
  }
}

/** Reads `NNNN_name.sql` files in version order. */
export function readMigrations(dir = findMigrationsDir()): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number.parseInt(f.slice(0, 4), 10), name: f, sql: readFileSync(join(dir, f), 'utf8') }));
}

/**
 * Applies every migration not yet recorded, each in its own transaction, under an advisory
 * lock so that several servers starting at once apply each exactly once. Idempotent.
 */
export async function migrate(db: Db, migrations = readMigrations()): Promise<number[]> {
  await db.exec(
    'create table if not exists schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())',
  );
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await db.tx(async (q) => {
      await q.query('select pg_advisory_xact_lock(7243190)');
      const rows = await q.query('select 1 from schema_migrations where version = $1::int', [m.version]);
      if (rows.length > 0) return true;
      for (const statement of splitStatements(m.sql)) await q.query(statement);
      await q.query('insert into schema_migrations (version, name) values ($1::int, $2::text)', [m.version, m.name]);
      return false;
    });
    if (!done) applied.push(m.version);
  }
  return applied;
}

/** Splits a plain SQL script on semicolons at line ends (our migrations hold no functions). */
function splitStatements(sql: string): string[] {
  return sql
    .replace(/^\s*--.*$/gm, '')
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
