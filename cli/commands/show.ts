/** `taskexec show ID [--json]`: one task, readable or as JSON. */
import { type Context, printJson } from '../context';
import { EXIT } from '../errors';
import { renderTask } from '../render';

/** Runs `show`; resolves with the exit status. */
export async function show(ctx: Context, id: string, opts: { json?: boolean }): Promise<number> {
  const task = await ctx.client.getTask(id);
  if (opts.json) printJson(ctx, task);
  else ctx.stdout.write(renderTask(task, ctx.clock.now()));
  return EXIT.ok;
}
