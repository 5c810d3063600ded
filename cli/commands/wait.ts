/** `taskexec wait ID [--json]`: waits for a task to end; exits with its exit status like `run`. */
import { type Context, leaveOnSignals, printJson, screenFor } from '../context';
import { EXIT } from '../errors';
import { exitStatusOf } from '../exit-status';
import { watchTask } from '../follow';

/** Runs `wait`; resolves with the exit status. */
export async function wait(ctx: Context, id: string, opts: { json?: boolean }): Promise<number> {
  const task = await ctx.client.getTask(id);
  const screen = screenFor(ctx);
  leaveOnSignals(ctx, screen, EXIT.canceled);
  const ended = await watchTask(task, { client: ctx.client, screen, clock: ctx.clock, print: false }).ended;
  if (opts.json) printJson(ctx, ended);
  return exitStatusOf(ended);
}
