/**
 * `taskexec logs [-f] [--json] ID`: the task's stdout on stdout and stderr on stderr; with -f,
 * followed until the task ends. --json writes one JSON line per piece: {stream, offset, data}.
 */
import type { StreamName } from '../../contract/task';
import type { Context } from '../context';
import { leaveOnSignals, screenFor } from '../context';
import { EXIT } from '../errors';
import { watchTask } from '../follow';

export type LogsOptions = { follow?: boolean; json?: boolean };

/** Runs `logs`; resolves with the exit status. */
export async function logs(ctx: Context, id: string, opts: LogsOptions): Promise<number> {
  const task = await ctx.client.getTask(id);
  const line = (stream: StreamName, data: string, offset: number) => ctx.stdout.write(`${JSON.stringify({ stream, offset, data })}\n`);
  if (!opts.follow) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = task[stream] ?? '';
      if (text === '') continue;
      if (opts.json) line(stream, text, 0);
      else (stream === 'stdout' ? ctx.stdout : ctx.stderr).write(text);
    }
    return EXIT.ok;
  }
  const screen = screenFor(ctx);
  leaveOnSignals(ctx, screen, EXIT.canceled);
  await watchTask(task, {
    client: ctx.client,
    screen,
    clock: ctx.clock,
    print: true,
    // Through the screen, so the status line is erased before a line lands on a terminal.
    onData: opts.json
      ? (stream, data, offset) =>
          screen.write('stdout', Buffer.from(`${JSON.stringify({ stream, offset, data: data.toString('utf8') })}\n`))
      : undefined,
  }).ended;
  return EXIT.ok;
}
