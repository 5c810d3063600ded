import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite, parse, protocol, types } from '@electric-sql/pglite';
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
      const fd = openSync(lockPath, 'wx', 0o600);
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

/**
 * DATA_DIR holds every task's command and output (PostgreSQL's files, pg_wal included): only
 * its owner may enter it. A new folder is made 0700; an existing one that others could read is
 * tightened to 0700, with a warning, unless it is not ours or is a shared folder (sticky bit,
 * like /tmp), which is left as it is (the pgdata folder inside is still 0700).
 */
function secureDataDir(dir: string, warn: (message: string) => void): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    return;
  }
  const st = statSync(dir);
  if ((st.mode & 0o077) === 0) return;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (st.uid !== process.getuid?.() || (st.mode & 0o1000) !== 0) {
    warn(
      `DATA_DIR ${dir} is mode ${mode} and shared or not ours, so it is left as it is; its pgdata folder is made 0700. Use a folder of your own.`,
    );
    return;
  }
  chmodSync(dir, 0o700);
  warn(`DATA_DIR ${dir} was mode ${mode}, readable by other users; it is now 0700 (only its owner may read the tasks stored there).`);
}

/**
 * Files 0600 and folders 0700 under `dir`. PGlite lays a new database down from its bundled
 * copy with every file 0666 and every folder by the umask (0755), whatever the umask says of
 * files; what PostgreSQL creates afterwards it creates 0600 (seen: 200 inserts after a start
 * added one file, 0600). Run at every open, so a folder made by an older version is fixed too.
 */
function tighten(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) tighten(path);
    else if (entry.isFile() && (lstatSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
}

export type EmbeddedOptions = {
  /** A folder, or `memory` for an in-memory database. */
  dataDir: string;
  /** A tarball from dumpDataDir() to start from (tests: a migrated template). */
  loadDataDir?: Blob;
  /** Where a warning about DATA_DIR's permissions goes (the server's logger). */
  warn?: (message: string) => void;
};

type Statement = { text: string; paramTypes: readonly number[] };

/** The bytes of several protocol messages, sent to PGlite in one call. */
function concat(messages: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const m of messages) length += m.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const m of messages) {
    out.set(m, offset);
    offset += m.length;
  }
  return out;
}

/**
 * Named statements, as `pg` keeps them on PostgreSQL: parsed, analysed and described once, then
 * each call is one Bind/Describe/Execute/Sync sent in one call into the WASM. PGlite's own
 * `query()` parses, analyses and plans every statement anew (in six calls; cutting those to two
 * alone gained nothing). On the hot path's statements that was about two thirds of the
 * database's time: 10 callers through insertTask ran 439-625 inserts/s that way and
 * 1,644-2,049/s named, claim + finish 179-230/s against 609-780/s (a scratch script, three
 * rounds alternated, 2,000 tasks each).
 *
 * Parameters are serialised and rows parsed as `query()` does (PGlite's serializers and
 * parsers, by the types the database described). The function it returns must be called
 * holding PGlite's query mutex (and, outside a transaction, its transaction mutex), as
 * `query()` holds them.
 */
function namedStatements(pglite: PGlite) {
  const { serialize } = protocol;
  const prepared = new Map<string, Statement>();

  const prepare = async (name: string, text: string): Promise<Statement> => {
    const known = prepared.get(name);
    if (known !== undefined) {
      if (known.text !== text) throw new Error(`The statement name ${name} is used for two texts`);
      return known;
    }
    const { messages } = await pglite.execProtocol(
      concat([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()]),
      { syncToFs: false },
    );
    const statement = { text, paramTypes: parse.parseDescribeStatementResults(messages) };
    prepared.set(name, statement);
    return statement;
  };

  return async <R>(name: string, text: string, params: readonly unknown[] = []): Promise<R[]> => {
    const statement = await prepare(name, text);
    const values = params.map((param, i) => {
      if (param === null || param === undefined) return null;
      const serializer = pglite.serializers[statement.paramTypes[i] as number];
      return serializer === undefined ? String(param) : serializer(param);
    });
    const { messages } = await pglite.execProtocol(
      concat([serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]),
      { syncToFs: false },
    );
    return (parse.parseResults(messages, pglite.parsers)[0]?.rows ?? []) as R[];
  };
}

/** Opens PGlite: the whole PostgreSQL in WASM, in this process. */
export async function openEmbedded(options: EmbeddedOptions): Promise<Db & { pglite: PGlite }> {
  const inMemory = options.dataDir === 'memory';
  let release = () => {};
  let pgdata: string | undefined;
  if (!inMemory) {
    const dir = resolve(options.dataDir);
    secureDataDir(dir, options.warn ?? ((message) => process.stderr.write(`${message}\n`)));
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
  if (pgdata !== undefined) tighten(pgdata);

  const named = namedStatements(pglite);
  const run = async <R>(
    q: { query: PGlite['query'] },
    inTx: boolean,
    text: string,
    params?: readonly unknown[],
    name?: string,
  ): Promise<R[]> => {
    try {
      // query() also says that a closed PGlite is closed.
      if (name === undefined || pglite.closed) return (await q.query<R>(text, params as unknown[] | undefined)).rows;
      // The mutexes query() takes: a transaction's holder already has the transaction mutex.
      const exec = () => pglite._runExclusiveQuery(() => named<R>(name, text, params));
      return await (inTx ? exec() : pglite._runExclusiveTransaction(exec));
    } catch (error) {
      throw translateDbError(error);
    }
  };

  return {
    kind: 'embedded',
    pglite,
    query: (text, params, name) => run(pglite, false, text, params, name),
    async tx(fn) {
      // Errors of fn (already translated where they came from SQL) pass through as they are.
      let fromFn = false;
      try {
        return await pglite.transaction(async (t) => {
          const q: Queryable = { query: (text, params, name) => run(t, true, text, params, name) };
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
