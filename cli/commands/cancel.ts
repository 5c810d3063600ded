/** `taskexec cancel ID [--json]`: asks the server to cancel a task; prints its new state. */
import { type Context, printJson } from '../context';
import { EXIT } from '../errors';

/** Runs `cancel`; resolves with the exit status. */
export async function cancel(ctx: Context, id: string, opts: { json?: boolean }): Promise<number> {
  const task = await ctx.client.cancelTask(id);
  if (opts.json) printJson(ctx, task);
  else if (task.state === 'running' && task.cancelRequested)
    ctx.stdout.write('running (cancel requested: its agent stops it within a few seconds)\n');
  else ctx.stdout.write(`${task.state}\n`);
  return EXIT.ok;
}
