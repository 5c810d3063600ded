/**
 * The exit status of `run` and `wait`, from the task as it ended (docs/cli.md, "Exit status").
 */
import type { Task } from '../contract/task';
import { EXIT } from './errors';

/** The command's own exit code when it has one; 124 timed out; 130 canceled; 1 failed without one. */
export function exitStatusOf(task: Pick<Task, 'state' | 'exitCode'>): number {
  if (task.state === 'timed_out') return EXIT.timedOut;
  if (task.state === 'canceled') return EXIT.canceled;
  const code = task.exitCode;
  // A shell's exit status is 0..255; anything else (never sent by this project's agent) is a failure.
  if (typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 255) {
    return task.state === 'failed' && code === 0 ? EXIT.failed : code;
  }
  return task.state === 'succeeded' ? EXIT.ok : EXIT.failed;
}
