/**
 * Exit statuses and the errors the CLI reports: each becomes one line on stderr and a status.
 */

/** The exit statuses of docs/cli.md; a task's own exit code passes through as it is. */
export const EXIT = {
  ok: 0,
  /** the task failed without an exit code; or show/logs/cancel/wait of a task the server refused (404, 409) */
  failed: 1,
  usage: 2,
  timedOut: 124,
  /** no usable answer from the server: unreachable, 401, 5xx, not this API */
  noAnswer: 125,
  canceled: 130,
} as const;

/** An error reported as `taskexec: <message>` with an exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A wrong invocation: exit 2 with a hint to --help. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly helpCommand = 'taskexec',
  ) {
    super(message, EXIT.usage);
  }
}
