/**
 * One invocation of taskexec: parse, build the context, run the verb, turn errors into one
 * stderr line and an exit status (docs/cli.md).
 */
import { onSignals } from '../contract/signals';
import { createClient } from './client';
import { resolveConfig } from './config';
import type { Context } from './context';
import { CliError, EXIT, UsageError } from './errors';
import { realClock } from './follow';
import { parseArgs } from './program';
import type { OutStream } from './status-line';

export type Io = { stdout: OutStream; stderr: OutStream; env: NodeJS.ProcessEnv; exit(code: number): void };

/** Runs taskexec with these arguments; resolves with the exit status. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  try {
    const parsed = parseArgs(argv, io.stdout, io.stderr);
    if ('exitCode' in parsed) return parsed.exitCode;
    const config = resolveConfig(parsed.connection, io.env);
    const ctx: Context = {
      config,
      client: createClient(config),
      stdout: io.stdout,
      stderr: io.stderr,
      clock: realClock,
      onSignals,
      exit: io.exit,
    };
    return await parsed.action(ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`taskexec: ${error.message} (see '${error.helpCommand} --help')\n`);
      return error.exitCode;
    }
    if (error instanceof CliError) {
      io.stderr.write(`taskexec: ${error.message}\n`);
      return error.exitCode;
    }
    // A bug of ours, not a user's mistake: the stack is what a report needs.
    io.stderr.write(`taskexec: unexpected error (a bug in taskexec): ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.noAnswer;
  }
}
