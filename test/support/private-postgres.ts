/**
 * A PostgreSQL server owned by one test: initdb into a temp dir, started on a free port, that
 * the test may stop and start again at will. The shared server on 5432 is never touched, so
 * other engineers' tests keep running while this one pulls the plug on its own.
 *
 * initdb and postgres refuse to run as root: when we are root they run as the `postgres` OS
 * user (runuser), and the temp dir is handed to that user.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './net';

const run = promisify(execFile);
const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

export type PrivatePostgres = {
  port: number;
  /** the temp dir: data/, the unix socket, server.log */
  dir: string;
  /** postgres://postgres@127.0.0.1:port/<database> (default: postgres) */
  url(database?: string): string;
  /** Starts the server (again, on the same port and data dir) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown (connections are terminated, no client waits); `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** The server's pids (postmaster and backends), to freeze it with SIGSTOP. */
  pids(): number[];
  /** Stops it if it runs and removes the temp dir. */
  destroy(): Promise<void>;
};

/** Why a private server cannot run here, or null when it can. */
export function privatePostgresUnavailable(): string | null {
  for (const b of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(BIN, b))) return `${join(BIN, b)} is missing (set PG_BIN_DIR to the PostgreSQL binaries)`;
  }
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root and there is no `postgres` OS user to run initdb and postgres as';
    }
  }
  return null;
}

const asRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function pgCommand(bin: string, args: string[]): [string, string[]] {
  return asRoot() ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args];
}

const live = new Set<PrivatePostgres>();
process.once('exit', () => {
  // jest is going away without afterAll (a crash, a timeout): leave no server behind.
  for (const pg of live) {
    try {
      const [cmd, args] = pgCommand('pg_ctl', ['-D', join(pg.dir, 'data'), 'stop', '-m', 'immediate', '-w', '-t', '5']);
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      // not running
    }
  }
});

/**
 * Creates and starts a private PostgreSQL; resolves to null (after printing why) when the
 * binaries are not there, so callers can skip.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres | null> {
  const reason = privatePostgresUnavailable();
  if (reason !== null) {
    console.warn(`private PostgreSQL unavailable: ${reason}; tests that stop the database are skipped.`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'te-private-pg-'));
  if (asRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = pgCommand('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  await run(initCmd, initArgs);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c max_connections=200',
    // a throw-away server: durability is not what is tested here
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
  ].join(' ');
  const pgctl = (args: string[]) => {
    const [cmd, a] = pgCommand('pg_ctl', ['-D', data, ...args]);
    return run(cmd, a);
  };
  let running = false;

  const pg: PrivatePostgres = {
    port,
    dir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      await pgctl(['-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
      running = true;
      // pg_ctl -w waits for the socket; make sure a real connection works before answering.
      for (let i = 0; ; i++) {
        const c = new Client({ connectionString: pg.url(), connectionTimeoutMillis: 2000 });
        try {
          await c.connect();
          await c.end();
          return;
        } catch (error) {
          await c.end().catch(() => {});
          if (i > 100) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await pgctl(['stop', '-m', mode, '-w', '-t', '60']);
      running = false;
    },
    pids() {
      if (!running) return [];
      const pidFile = join(data, 'postmaster.pid');
      if (!existsSync(pidFile)) return [];
      const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)])
        .toString()
        .split('\n')
        .map((s) => Number(s.trim()))
        .filter((n) => n > 0);
      return [postmaster, ...children];
    },
    async destroy() {
      live.delete(pg);
      await pg.stop('immediate').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(pg);
  await pg.start();
  return pg;
}
