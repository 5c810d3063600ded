/** Merging a fresh head of the task list into what the page shows (tested in merge.test.ts). */
import type { Task } from '../contract/task';

/** Same fields that a list row shows: keeps the old object, so its row is not drawn again. */
function sameRow(a: Task, b: Task): boolean {
  return (
    a.state === b.state &&
    a.exitCode === b.exitCode &&
    a.startedAt === b.startedAt &&
    a.finishedAt === b.finishedAt &&
    a.cancelRequested === b.cancelRequested &&
    a.error === b.error &&
    a.agentId === b.agentId
  );
}

/**
 * The rows to show after a refresh that fetched the newest `fresh` tasks (`complete`: that was
 * every matching task). Within the refreshed span the fresh rows replace the old ones (a row
 * that left the filter goes); older rows loaded through "Load more" stay below it.
 */
export function mergeHead(shown: readonly Task[], fresh: readonly Task[], complete: boolean): Task[] {
  const old = new Map(shown.map((t) => [t.id, t]));
  const head = fresh.map((t) => {
    const before = old.get(t.id);
    return before !== undefined && sameRow(before, t) ? before : t;
  });
  if (complete) return head;
  const oldest = fresh[fresh.length - 1];
  if (oldest === undefined) return [...shown];
  const inHead = new Set(fresh.map((t) => t.id));
  const rest = shown.filter((t) => !inHead.has(t.id) && t.createdAt < oldest.createdAt);
  return [...head, ...rest];
}
