import { STREAMS, type Task } from '../../contract/task';
import { selectOutputChunks } from '../shared/db/output';
import { selectTask, type TaskRow, toTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { NotFoundError } from '../shared/errors';
import { renderLive } from '../shared/live-output';
import type { Log } from '../shared/logger';

/** True while the task's output is its live chunks: it holds some and no finish brought the final text. */
const showsLiveOutput = (row: TaskRow) => row.stdout === null && (Number(row.stdout_bytes) > 0 || Number(row.stderr_bytes) > 0);

/**
 * One task with its output, or NotFoundError. A running task (or one that ended without a
 * finish) shows the live output its agent sent so far, cut head-and-tail as the final cap cuts.
 */
export async function getTask(deps: Pick<Deps, 'db' | 'config'> & { log: Log }, id: string): Promise<Task> {
  deps.log.appendKeys({ taskId: id });
  let row = await selectTask(deps.db, id);
  if (row === null) throw new NotFoundError(`There is no task with id ${id}.`);
  if (!showsLiveOutput(row)) return toTask(row);
  const chunks = await selectOutputChunks(deps.db, id);
  if (chunks.length === 0) {
    // Finished between the two reads (the finish deleted the chunks): the final text is there now.
    row = (await selectTask(deps.db, id)) ?? row;
    if (!showsLiveOutput(row)) return toTask(row);
  }
  const task = toTask(row);
  let truncated = task.outputTruncated;
  for (const stream of STREAMS) {
    const own = chunks.filter((c) => c.stream === stream);
    // The chunks were read after the row: a send in between may have added some.
    const last = own[own.length - 1];
    const held = Math.max(
      Number(stream === 'stdout' ? row.stdout_bytes : row.stderr_bytes),
      last === undefined ? 0 : Number(last.start_offset) + Buffer.byteLength(last.data),
    );
    const live = renderLive(own, held, deps.config.outputLimitBytes);
    task[stream] = live.text;
    truncated ||= live.truncated;
  }
  return { ...task, outputTruncated: truncated };
}
