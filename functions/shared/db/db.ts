/**
 * The one database interface the SQL module talks to. Two implementations:
 * PostgreSQL through `pg` (postgres.ts) and the embedded PGlite (embedded.ts).
 */

/** Anything that runs one parameterised statement and returns its rows. */
export type Queryable = {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
};

export type Db = Queryable & {
  readonly kind: 'postgres' | 'embedded';
  /** Runs fn inside one transaction on one connection; rolls back if it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
};
