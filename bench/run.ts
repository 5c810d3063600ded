/**
 * `npm run bench [-- --embedded] [-- --quick] [-- --verbose] [-- --profile]` (bench/options.ts)
 *
 * Starts the whole system on a fresh database (PostgreSQL: a database created on
 * BENCH_DATABASE_URL / TEST_DATABASE_URL and dropped at the end; --embedded: PGlite in a temp
 * DATA_DIR), the API server as a child process and real agent processes where agents are
 * involved, measures every phase (bench/phases/) in one run and prints one table
 * (bench/report.ts). Everything it started is stopped and dropped at the end, on failure and on
 * Ctrl-C. --profile instead prints CPU profiles (bench/profile-run.ts).
 *
 * The bench shares the machine with what it measures (its HTTP clients run in this process), and
 * its figures are only as quiet as the machine: the header prints the load average.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContext, interruptHandler } from './context';
import { type BenchOptions, isBenchWorker, parseBenchOptions, WORKER_VARIABLE } from './options';
import { benchProfile } from './profile-run';
import { benchTable } from './table';

async function worker(options: BenchOptions): Promise<void> {
  const ctx = createContext(options);
  const { interrupt, interrupted } = interruptHandler(ctx);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => interrupt(signal));
  // The wrapper went away (killed, even with SIGKILL): clean up all the same.
  process.once('disconnect', () => interrupted() || interrupt('the bench process was stopped'));
  process.on('unhandledRejection', (error) => {
    ctx.say(`unhandled rejection: ${(error as Error)?.stack ?? String(error)}`);
    void ctx.cleanup().finally(() => process.exit(1));
  });
  let code = 0;
  try {
    if (options.profile) await benchProfile(ctx);
    else await benchTable(ctx);
  } catch (error) {
    if (!interrupted()) {
      code = 1;
      ctx.say(`failed: ${(error as Error).stack ?? String(error)}`);
      try {
        const text = readFileSync(join(ctx.tmp, 'server.log'), 'utf8');
        ctx.say(`last lines of the server's log:\n${text.split('\n').slice(-15).join('\n')}`);
      } catch {
        // no log yet
      }
    }
  }
  if (interrupted()) return; // interrupt() cleans up and exits
  await ctx.cleanup();
  process.exit(code);
}

/**
 * The bench runs in a worker process of its own session, and this process only relays signals
 * to it: tsx SIGKILLs its child when that does not acknowledge a Ctrl-C within 30 ms (easily
 * missed on a loaded machine), which would leave the database and the processes behind. The
 * worker also cleans up when this process disappears (its IPC channel closes).
 */
function wrapper(argv: string[]): void {
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, [WORKER_VARIABLE]: '1' },
  });
  // A Ctrl-C reaches this process twice (from the terminal and relayed by tsx): pass it on once;
  // a second one a second later means "force" to the worker.
  let last = 0;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      child.kill(signal);
    });
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

const argv = process.argv.slice(2);
const options = parseBenchOptions(argv, process.env);
if ('usage' in options) {
  process.stderr.write(`${options.usage}\n`);
  process.exit(options.exitCode);
}
if (isBenchWorker(process.env)) void worker(options);
else wrapper(argv);
