/**
 * What every part of one bench run shares: its options, its temp dir, how it talks, and the
 * cleanups it owes (processes first, then databases and files), run once whatever happens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { killAll, stopAll } from '../test/support/processes';
import type { BenchOptions } from './options';

export type BenchContext = {
  options: BenchOptions;
  /** this run's temp dir: logs, the embedded data, the Lambda bundle, profiles */
  tmp: string;
  /** a progress line on stderr */
  say(message: string): void;
  /** a progress detail, with --verbose only */
  detail(message: string): void;
  /** Registers a cleanup; they run in reverse order after every process was stopped. */
  onCleanup(name: string, fn: () => Promise<void> | void): void;
  /** Stops every process, then runs the cleanups; once, however often it is called. */
  cleanup(): Promise<void>;
};

/** The load average, for the header: the figures are only as quiet as the machine. */
export const loadavg = (): string =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/** Creates the run's context and its temp dir (removed by the last cleanup). */
export function createContext(options: BenchOptions): BenchContext {
  const cleanups: { name: string; fn: () => Promise<void> | void }[] = [];
  let cleaning: Promise<void> | undefined;
  const say = (message: string) => process.stderr.write(`bench: ${message}\n`);
  const tmp = mkdtempSync(join(os.tmpdir(), 'te-bench-'));
  cleanups.push({ name: 'temp files', fn: () => rmSync(tmp, { recursive: true, force: true }) });
  return {
    options,
    tmp,
    say,
    detail: (message) => {
      if (options.verbose) say(`  ${message}`);
    },
    onCleanup: (name, fn) => {
      cleanups.push({ name, fn });
    },
    cleanup() {
      cleaning ??= (async () => {
        await stopAll(5000);
        for (const c of cleanups.reverse()) {
          try {
            await c.fn();
          } catch (error) {
            say(`cleanup of ${c.name} failed: ${(error as Error).message}`);
          }
        }
      })();
      return cleaning;
    },
  };
}

/**
 * Ctrl-C, SIGTERM, or the wrapper process gone: stop everything, drop the database, exit 130;
 * a second one kills every process at once.
 */
export function interruptHandler(ctx: BenchContext): { interrupt(why: string): void; interrupted(): boolean } {
  let interrupted = false;
  return {
    interrupted: () => interrupted,
    interrupt(why) {
      if (interrupted) {
        killAll();
        process.exit(130);
      }
      interrupted = true;
      ctx.say(`${why}: stopping every process and dropping the database (again to force)`);
      void ctx.cleanup().finally(() => process.exit(130));
    },
  };
}
