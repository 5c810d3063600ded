/**
 * What a command runs with: the settings, the API client, the two output streams and a clock,
 * built once per invocation by cli.ts (so nothing below it reads process globals).
 */
import type { ApiClient } from './client';
import type { CliConfig } from './config';
import type { Clock } from './follow';
import { type OutStream, Screen } from './status-line';

export type Context = {
  config: CliConfig;
  client: ApiClient;
  stdout: OutStream;
  stderr: OutStream;
  clock: Clock;
  /** Registers the stop-signal handlers: the first SIGINT/SIGTERM, and a later deliberate one. */
  onSignals(first: () => void, again: () => void): void;
  /** Leaves the process at once (a second Ctrl-C), after erasing the status line. */
  exit(code: number): void;
};

/** The screen for following a task: a status line only when stderr is a terminal that can redraw. */
export function screenFor(ctx: Context): Screen {
  return new Screen(ctx.stdout, ctx.stderr, ctx.stderr.isTTY === true && !ctx.config.dumbTerminal, ctx.clock.now);
}

/**
 * For commands that only watch a task (logs -f, wait): Ctrl-C leaves the task alone (the
 * command did not start it), erases the status line and exits 130.
 */
export function leaveOnSignals(ctx: Context, screen: Screen, canceled: number): void {
  const leave = () => {
    screen.stop();
    ctx.exit(canceled);
  };
  ctx.onSignals(leave, leave);
}

/** Prints a value as JSON (two-space indented) on stdout. */
export function printJson(ctx: Context, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
