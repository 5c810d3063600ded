import type { Task } from '../contract/task';
import { mergeHead } from './merge';

let seq = 0;
/** A list item, newest having the latest createdAt. */
function buildTask(overrides: Partial<Task> = {}): Task {
  seq++;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    command: `echo ${seq}`,
    state: 'queued',
    exitCode: null,
    outputTruncated: false,
    error: null,
    timeoutSeconds: 3600,
    agentId: null,
    cancelRequested: false,
    attempts: 0,
    maxAttempts: 1,
    priority: 0,
    labels: [],
    runAt: new Date(Date.UTC(2026, 11, 1, 12, 0, seq)).toISOString(),
    createdAt: new Date(Date.UTC(2026, 11, 1, 12, 0, seq)).toISOString(),
    startedAt: null,
    finishedAt: null,
    ...overrides,
  };
}

describe('mergeHead', () => {
  it('puts new tasks on top and keeps the objects of rows that did not change', () => {
    const [a, b] = [buildTask(), buildTask()];
    const shown = [b, a] as Task[];
    const c = buildTask();
    const merged = mergeHead(shown, [c, { ...(b as Task) }, { ...(a as Task) }], true);
    expect(merged.map((t) => t.id)).toEqual([c.id, (b as Task).id, (a as Task).id]);
    expect(merged[1]).toBe(b);
    expect(merged[2]).toBe(a);
  });

  it('replaces a row whose state changed', () => {
    const a = buildTask();
    const running = { ...a, state: 'running' as const, startedAt: '2026-12-01T12:01:00.000Z' };
    const merged = mergeHead([a], [running], true);
    expect(merged[0]).toBe(running);
  });

  it('keeps rows loaded below the refreshed head, and drops those inside it that left the filter', () => {
    const old1 = buildTask();
    const old2 = buildTask();
    const leaving = buildTask();
    const staying = buildTask();
    const shown = [staying, leaving, old2, old1];
    // The refresh covered the newest two matches: `leaving` is no longer one of them.
    const merged = mergeHead(shown, [{ ...staying }, { ...old2 }], false);
    expect(merged.map((t) => t.id)).toEqual([staying.id, old2.id, old1.id]);
  });

  it('shows exactly the refresh when it reached the last matching task', () => {
    const a = buildTask();
    const b = buildTask();
    expect(mergeHead([b, a], [b], true).map((t) => t.id)).toEqual([b.id]);
  });

  it('keeps what is shown when a partial refresh came back empty', () => {
    const a = buildTask();
    expect(mergeHead([a], [], false)).toEqual([a]);
  });
});
