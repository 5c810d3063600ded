import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable } from './db';
import { translateDbError } from './errors';

/** Thrown when another live process holds the embedded data directory. */
export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `The embedded database in ${dir} is in use by another process (pid ${pid}). Stop it, or set DATA_DIR to another folder (DATA_DIR=memory keeps data in memory).`,
    );
    this.name = 'DataDirLockedError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<dir>/lock` holding our pid. PGlite itself takes no lock, and two processes on one
 * directory silently lose writes (a write was lost when tried), so a live holder is refused; a lock
 * left by a dead process is taken over.
 */
function takeLock(dir: string): () => void {
  const lockPath = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dir, pid);
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`Could not take the lock ${lockPath}`);
}

export type EmbeddedOptions = {
  /** A folder, or `memory` for an in-memory database. */
  dataDir: string;
  /** A tarball from dumpDataDir() to start from (tests: a migrated template). */
  loadDataDir?: Blob;
};

/** Opens PGlite: the whole PostgreSQL in WASM, in this process. */
export async function openEmbedded(options: EmbeddedOptions): Promise<Db & { pglite: PGlite }> {
  const inMemory = options.dataDir === 'memory';
  let release = () => {};
  let pgdata: string | undefined;
  if (!inMemory) {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    release = takeLock(dir);
    pgdata = join(dir, 'pgdata');
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(pgdata, {
      // int8 as string, as pg returns it (BigInt would break JSON.stringify).
      parsers: { [types.INT8]: (v: string) => v },
      loadDataDir: options.loadDataDir,
    });
  } catch (error) {
    release();
    throw error;
  }

  const run = async <R>(q: { query: PGlite['query'] }, text: string, params?: readonly unknown[]): Promise<R[]> => {
    try {
      return (await q.query<R>(text, params as unknown[] | undefined)).rows;
    } catch (error) {
      throw translateDbError(error);
    }
  };

  return {
    kind: 'embedded',
    pglite,
    query: (text, params) => run(pglite, text, params),
    async tx(fn) {
      // Errors of fn (already translated where they came from SQL) pass through as they are.
      let fromFn = false;
      try {
        return await pglite.transaction(async (t) => {
          const q: Queryable = { query: (text, params) => run(t, text, params) };
          try {
            return await fn(q);
          } catch (error) {
            fromFn = true;
            throw error;
          }
        });
      } catch (error) {
        throw fromFn ? error : translateDbError(error);
      }
    },
    async exec(sql) {
      try {
        await pglite.exec(sql);
      } catch (error) {
        throw translateDbError(error);
      }
    },
    async listen(channel, onNotify) {
      // In-process: PGlite delivers NOTIFY to its own listeners, and never disconnects.
      const unlisten = await pglite.listen(channel, (payload) => onNotify(payload));
      return async () => {
        if (!pglite.closed) await unlisten();
      };
    },
    async close() {
      try {
        if (!pglite.closed) await pglite.close();
      } finally {
        release();
      }
    },
  };
}
