/** `taskexec ls [--state S[,S]] [--label L[,L]] [--limit N] [--cursor C] [--json]`: the newest tasks as a table. */
import { ApiError } from '../client';
import type { Context } from '../context';
import { EXIT, UsageError } from '../errors';
import { renderTable } from '../render';

export type LsOptions = { state?: string[]; label?: string[]; limit?: number; cursor?: string; json?: boolean };

/** Runs `ls`; resolves with the exit status. */
export async function ls(ctx: Context, opts: LsOptions): Promise<number> {
  const states = (opts.state ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const labels = (opts.label ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  let answer: Awaited<ReturnType<typeof ctx.client.listTasks>>;
  try {
    answer = await ctx.client.listTasks({ state: states, label: labels, limit: opts.limit, cursor: opts.cursor });
  } catch (error) {
    // The server names what it refused (an unknown state, a bad cursor): the invocation is wrong.
    if (error instanceof ApiError && error.kind === 'problem') throw new UsageError(error.message, 'taskexec ls');
    throw error;
  }
  if (opts.json) {
    ctx.stdout.write(answer.text.endsWith('\n') ? answer.text : `${answer.text}\n`);
    return EXIT.ok;
  }
  // Cut to the terminal's width only on a terminal: a pipe gets whole commands (grep finds them).
  const width = ctx.stdout.isTTY ? ctx.stdout.columns || 80 : null;
  ctx.stdout.write(renderTable(answer.page.tasks, ctx.clock.now(), width));
  if (answer.page.nextCursor !== null) {
    // The same filters again: the cursor continues this listing, not another.
    const again = [
      ...(states.length > 0 ? ['--state', states.join(',')] : []),
      ...(labels.length > 0 ? ['--label', labels.join(',')] : []),
      ...(opts.limit !== undefined ? ['--limit', String(opts.limit)] : []),
    ];
    ctx.stderr.write(`taskexec: more tasks: taskexec ls ${[...again, '--cursor', answer.page.nextCursor].join(' ')}\n`);
  }
  return EXIT.ok;
}
