/**
 * `taskexec run [--timeout S] [--max-attempts N] [--priority N] [--label L]... [--at TIME] [--detach] [--json] [--] WORD...`: creates the
 * task, streams its output, exits with its exit status; Ctrl-C cancels it.
 */
import { ApiError } from '../client';
import { type Context, printJson, screenFor } from '../context';
import { EXIT, UsageError } from '../errors';
import { exitStatusOf } from '../exit-status';
import { watchTask, withRetry } from '../follow';

export type RunOptions = {
  timeout?: number;
  maxAttempts?: number;
  priority?: number;
  label?: string[];
  at?: string;
  detach?: boolean;
  json?: boolean;
};

/** Runs `run`; resolves with the exit status. */
export async function run(ctx: Context, words: string[], opts: RunOptions): Promise<number> {
  const command = words.join(' ');
  if (command.trim() === '') throw new UsageError('the command is empty: taskexec run [options] [--] WORD...', 'taskexec run');
  const screen = screenFor(ctx);
  let interrupted = false;
  let taskId: string | null = null;
  let refresh: () => void = () => undefined;
  let failCancel: (error: Error) => void = () => undefined;
  const cancelFailed = new Promise<never>((_, reject) => {
    failCancel = reject;
  });
  // Rejected only after a Ctrl-C, possibly once nobody races it any more.
  cancelFailed.catch(() => undefined);

  const cancel = (id: string) => {
    withRetry(() => ctx.client.cancelTask(id), ctx.clock).catch((error: Error) => {
      // 409: it ended meanwhile; the watch sees how.
      if (error instanceof ApiError && error.status === 409) return;
      failCancel(error);
    });
  };
  if (!opts.detach) {
    ctx.onSignals(
      () => {
        interrupted = true;
        screen.note(
          taskId === null ? 'taskexec: interrupted' : `taskexec: canceling task ${taskId} (Ctrl-C again to leave without waiting)`,
        );
        if (taskId !== null) cancel(taskId);
        refresh();
      },
      () => {
        screen.stop();
        if (taskId !== null) ctx.stderr.write(`taskexec: left without waiting for task ${taskId} to stop\n`);
        ctx.exit(EXIT.canceled);
      },
    );
  }

  let task: Awaited<ReturnType<typeof ctx.client.createTask>>;
  try {
    const labels = (opts.label ?? []).flatMap((l) => l.split(',')).map((l) => l.trim());
    task = await ctx.client.createTask({
      command,
      timeoutSeconds: opts.timeout,
      maxAttempts: opts.maxAttempts,
      priority: opts.priority,
      labels: labels.length > 0 ? labels : undefined,
      runAt: opts.at,
    });
  } catch (error) {
    // The server refused what was asked (a command over 64 KiB, an attempt count out of range).
    if (error instanceof ApiError && error.kind === 'problem') throw new UsageError(error.message, 'taskexec run');
    throw error;
  }
  taskId = task.id;
  if (opts.detach) {
    if (opts.json) printJson(ctx, task);
    else ctx.stdout.write(`${task.id}\n`);
    return EXIT.ok;
  }
  if (interrupted) {
    screen.note(`taskexec: canceling task ${task.id}`);
    cancel(task.id);
  }

  const watch = watchTask(task, {
    client: ctx.client,
    screen,
    clock: ctx.clock,
    print: !opts.json,
    label: (state) => (interrupted && (state === 'scheduled' || state === 'queued' || state === 'running') ? 'canceling' : state),
    hint: () => (interrupted ? 'Ctrl-C again to leave' : 'Ctrl-C cancels'),
  });
  refresh = watch.refresh;
  const ended = await Promise.race([watch.ended, cancelFailed]);
  if (opts.json) printJson(ctx, ended);
  // Why it ended without a normal exit (timed out, canceled, agent lost): otherwise only the status says it.
  else if (ended.error !== null) ctx.stderr.write(`taskexec: ${ended.error}\n`);
  return interrupted ? EXIT.canceled : exitStatusOf(ended);
}
