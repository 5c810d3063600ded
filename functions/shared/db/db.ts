/**
 * The one database interface the SQL module talks to. Two implementations:
 * PostgreSQL through `pg` (postgres.ts) and the embedded PGlite (embedded.ts).
 */

/** Anything that runs one parameterised statement and returns its rows. */
export type Queryable = {
  /**
   * `name` makes it a prepared statement on PostgreSQL (parsed and planned once per
   * connection): worth it on the hot path, where it raised claim+finish throughput by 35-60 %
   * in the bench. PGlite keeps it too (embedded.ts: three times the throughput there).
   */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[], name?: string): Promise<R[]>;
};

export type Db = Queryable & {
  readonly kind: 'postgres' | 'embedded';
  /** Runs fn inside one transaction on one connection; rolls back if it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * LISTENs on a channel on a connection of its own; onNotify gets each notification's payload;
   * onReconnect runs after the connection was lost and listening again (notifications may have
   * been missed). Resolves to unlisten.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
};
