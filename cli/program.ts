/**
 * The command line's grammar (commander): verbs, their options and arguments, help and usage
 * errors. Parsing only: each verb's action hands back a function that runs it, so a new verb is
 * one `verb(...)` block here and one file in commands/.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { MAX_LIST_LIMIT, MAX_TIMEOUT_SECONDS } from '../contract/http';
import { version } from '../package.json';
import { agents } from './commands/agents';
import { cancel } from './commands/cancel';
import { logs } from './commands/logs';
import { type LsOptions, ls } from './commands/ls';
import { type RunOptions, run } from './commands/run';
import { type ScheduleAddOptions, scheduleAdd, scheduleLs, schedulePause, scheduleRm } from './commands/schedule';
import { show } from './commands/show';
import { wait } from './commands/wait';
import { type ConnectionFlags, DEFAULT_URL } from './config';
import type { Context } from './context';
import { EXIT, UsageError } from './errors';

/** What parsing decided: a verb to run with its connection flags, or an exit status (help, version). */
export type Parsed = { action: (ctx: Context) => Promise<number>; connection: ConnectionFlags } | { exitCode: number };

type Writer = { write(text: string): unknown };

/** An option value that must be a whole number in [min, max]. */
function wholeNumber(min: number, max?: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || (max !== undefined && n > max)) {
      throw new InvalidArgumentError(`Expected a whole number ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}`);
    }
    return n;
  };
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** An option value that must be an integer (negative allowed) in [min, max]. */
function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}`);
    return n;
  };
}

const ENVIRONMENT = `
Environment:
  TASKEXEC_URL  the API's base URL (default ${DEFAULT_URL}); --url overrides it
  API_TOKEN     the server's API token, when it has one; --token overrides it

Exit status of run and wait: the command's own exit code; 124 timed out; 130 canceled;
1 failed without an exit code; 125 no usable answer from the server; 2 usage error.`;

const RUN_EXAMPLES = `
The command is the words joined by spaces, run by /bin/sh -c on an agent (quote what your own
shell should not expand). Options after the first word belong to the command.

Examples:
  taskexec run echo hello
  taskexec run --timeout 60 -- 'make test 2>&1 | tail -n 20'
  taskexec run --detach sleep 300
  taskexec run --label gpu --priority 10 -- ./train.sh
  taskexec run --at 2027-01-01T09:00:00Z --detach -- ./report.sh`;

const SCHEDULE_EXAMPLES = `
Options may come anywhere; everything after -- is the command, as words (quote the cron).

Examples:
  taskexec schedule add nightly-backup "0 3 * * *" --timezone Europe/Berlin -- ./backup.sh
  taskexec schedule add heartbeat "*/10 * * * * *" -- curl -fsS https://example.com/ping`;

/** Parses argv (without node and the script); help and usage errors are written here, to out and err. */
export function parseArgs(argv: string[], out: Writer, err: Writer): Parsed {
  let parsed: Parsed | null = null;
  const program = new Command('taskexec')
    .description('Run shell commands on the task executor and follow them.')
    .version(version, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s), outputError: () => undefined })
    .helpCommand(false)
    .exitOverride();
  connectionOptions(program);
  program.addHelpText('after', ENVIRONMENT);

  const verb = (name: string, description: string) => {
    const cmd = program.command(name).description(description);
    connectionOptions(cmd);
    // Usage errors name the verb's help.
    cmd.exitOverride((e) => {
      throw Object.assign(e, { helpCommand: `taskexec ${name}` });
    });
    return cmd;
  };
  const start = (cmd: Command, action: (ctx: Context) => Promise<number>) => {
    const g = cmd.optsWithGlobals<ConnectionFlags>();
    parsed = { action, connection: { url: g.url, token: g.token } };
  };

  verb('run', 'create a task and stream its output; exits with its exit status')
    .option(
      '--timeout <seconds>',
      `stop the command after this many seconds (1-${MAX_TIMEOUT_SECONDS}; the server's default is 3600)`,
      wholeNumber(1, MAX_TIMEOUT_SECONDS),
    )
    .option('--max-attempts <n>', 'run it again when its agent is lost, up to n attempts in all (default 1)', wholeNumber(1))
    .option('--priority <n>', 'higher runs first (-1000 to 1000; default 0)', integer(-1000, 1000))
    .option('--label <labels>', 'only an agent with every label may run it (comma-separated, or repeat the option)', collect)
    .option('--at <time>', 'run it then, not now (ISO 8601 with a zone, e.g. 2027-01-01T09:00:00Z; at most a year ahead)')
    .option('-d, --detach', 'print the task id and exit 0 without waiting')
    .option('--json', 'print the task as JSON when it ended (with --detach: as created) instead of its output')
    .argument('<command...>', 'the command, as words')
    .passThroughOptions()
    .addHelpText('after', RUN_EXAMPLES)
    .action((words: string[], o: RunOptions, cmd: Command) => start(cmd, (ctx) => run(ctx, words, o)));

  verb('ls', 'list tasks, newest first')
    .option('--state <states>', 'only these states (comma-separated, or repeat the option)', collect)
    .option('--label <labels>', 'only tasks with every one of these labels (comma-separated, or repeat the option)', collect)
    .option('--limit <n>', `at most n tasks (1-${MAX_LIST_LIMIT}; the server's default is 100)`, wholeNumber(1, MAX_LIST_LIMIT))
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--json', "print the API's answer as it came")
    .action((o: LsOptions, cmd: Command) => start(cmd, (ctx) => ls(ctx, o)));

  verb('show', 'show a task: its fields and output')
    .argument('<id>', 'the task id')
    .option('--json', 'print the task as JSON')
    .action((id: string, o: { json?: boolean }, cmd: Command) => start(cmd, (ctx) => show(ctx, id, o)));

  verb('logs', "write a task's stdout to stdout and its stderr to stderr")
    .argument('<id>', 'the task id')
    .option('-f, --follow', 'keep writing new output until the task ends')
    .option('--json', 'one JSON line per piece of output: {"stream", "offset", "data"}')
    .action((id: string, o: { follow?: boolean; json?: boolean }, cmd: Command) => start(cmd, (ctx) => logs(ctx, id, o)));

  verb('wait', 'wait for a task to end; exits with its exit status, like run')
    .argument('<id>', 'the task id')
    .option('--json', 'print the task as JSON when it ended')
    .action((id: string, o: { json?: boolean }, cmd: Command) => start(cmd, (ctx) => wait(ctx, id, o)));

  verb('cancel', 'cancel a task; prints its new state')
    .argument('<id>', 'the task id')
    .option('--json', 'print the task as JSON')
    .action((id: string, o: { json?: boolean }, cmd: Command) => start(cmd, (ctx) => cancel(ctx, id, o)));

  verb('agents', 'list the agents seen in the last 10 minutes: idle, busy (with their task) or gone')
    .option('--json', "print the API's answer as it came")
    .action((o: { json?: boolean }, cmd: Command) => start(cmd, (ctx) => agents(ctx, o)));
  const schedule = verb('schedule', 'run a command on a cron schedule: add, ls, pause, resume, rm');
  const sub = (name: string, description: string) => {
    const cmd = schedule.command(name).description(description);
    connectionOptions(cmd);
    cmd.exitOverride((e) => {
      throw Object.assign(e, { helpCommand: `taskexec schedule ${name}` });
    });
    return cmd;
  };
  sub('add', 'create a schedule: each tick of CRON runs the command once')
    .argument('<name>', 'a unique name')
    .argument('<cron>', '5 fields (minute hour day month weekday) or 6 (seconds first), quoted: "0 3 * * *"')
    .argument('<command...>', 'the command, as words')
    .option('--timezone <zone>', 'the IANA zone the fields are read in (default UTC), e.g. Europe/Berlin')
    .option('--timeout <seconds>', `each task's timeout (1-${MAX_TIMEOUT_SECONDS}; default 3600)`, wholeNumber(1, MAX_TIMEOUT_SECONDS))
    .option('--priority <n>', "each task's priority (-1000 to 1000; default 0)", integer(-1000, 1000))
    .option('--label <labels>', "each task's labels (comma-separated, or repeat the option)", collect)
    .option('--paused', 'create it paused')
    .option('--json', 'print the schedule as JSON')
    .addHelpText('after', SCHEDULE_EXAMPLES)
    .action((name: string, cron: string, words: string[], o: ScheduleAddOptions, cmd: Command) =>
      start(cmd, (ctx) => scheduleAdd(ctx, name, cron, words, o)),
    );
  sub('ls', 'list schedules by name, with their next and last run')
    .option('--json', "print the API's answer as it came")
    .action((o: { json?: boolean }, cmd: Command) => start(cmd, (ctx) => scheduleLs(ctx, o)));
  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    sub(name, paused ? 'pause a schedule: no task until resumed' : 'resume a schedule at its next tick (the paused ones are not caught up)')
      .argument('<schedule>', 'its id or name')
      .option('--json', 'print the schedule as JSON')
      .action((ref: string, o: { json?: boolean }, cmd: Command) => start(cmd, (ctx) => schedulePause(ctx, ref, paused, o)));
  }
  sub('rm', 'delete a schedule (its tasks stay)')
    .argument('<schedule>', 'its id or name')
    .action((ref: string, _o: unknown, cmd: Command) => start(cmd, (ctx) => scheduleRm(ctx, ref)));

  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return { exitCode: EXIT.ok };
    // No verb at all: commander has written the help to stderr.
    if (error.code === 'commander.help') return { exitCode: EXIT.usage };
    const message = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    throw new UsageError(message, (error as { helpCommand?: string }).helpCommand ?? 'taskexec');
  }
  if (parsed === null) throw new UsageError('no command given', 'taskexec');
  return parsed;
}

function connectionOptions(cmd: Command): void {
  cmd.option('--url <url>', `the API's base URL (default: TASKEXEC_URL, else ${DEFAULT_URL})`);
  cmd.option('--token <token>', 'the API token (default: API_TOKEN)');
}
