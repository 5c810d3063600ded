import { useEffect, useRef, useState } from 'preact/hooks';
import { isTerminal, type Task } from '../../contract/task';
import { ApiError, cancelTask, createTask, getTask } from '../api';
import { formatDuration, queuedFor, ranFor, STATE_LABELS } from '../format';
import { everyWhileVisible, LIST_INTERVAL_MS } from '../live';
import { OutputPane } from './output';

const when = (iso: string | null) => (iso === null ? '—' : <time dateTime={iso}>{iso.replace('T', ' ').replace('Z', ' UTC')}</time>);

/** Everything of one task, its output following live, Cancel while it can be, and Run again. */
export function TaskDetail({ id }: { id: string }) {
  const [task, setTask] = useState<Task | null>(null);
  const [error, setError] = useState('');
  const [message, setMessage] = useState('');
  const [now, setNow] = useState(Date.now());
  const heading = useRef<HTMLHeadingElement>(null);
  const ended = useRef(false);

  useEffect(() => {
    setTask(null);
    setError('');
    setMessage('');
    ended.current = false;
    heading.current?.focus();
    const stop = everyWhileVisible(async () => {
      if (ended.current) return;
      try {
        const t = await getTask(id);
        setTask(t);
        setNow(Date.now());
        setError('');
        if (isTerminal(t.state)) ended.current = true;
      } catch (e) {
        setError(e instanceof ApiError && e.status === 404 ? 'There is no such task.' : (e as Error).message);
        if (e instanceof ApiError && (e.status === 404 || e.status === 400)) ended.current = true;
      }
    }, LIST_INTERVAL_MS);
    return stop;
  }, [id]);

  const cancel = async () => {
    try {
      const t = await cancelTask(id);
      setTask((old) => ({ ...t, stdout: old?.stdout ?? t.stdout, stderr: old?.stderr ?? t.stderr }));
      setMessage(t.state === 'canceled' ? 'Canceled.' : 'Cancel requested: the agent is stopping the command.');
    } catch (e) {
      setMessage((e as Error).message);
    }
  };

  const runAgain = async () => {
    if (task === null) return;
    try {
      const t = await createTask(task.command, task.timeoutSeconds);
      location.hash = `#/tasks/${t.id}`;
    } catch (e) {
      setMessage((e as Error).message);
    }
  };

  const ran = task === null ? null : ranFor(task, now);
  return (
    <article class="detail" aria-labelledby="task-title">
      <p>
        <a href="#/">← All tasks</a>
      </p>
      <h2 id="task-title" ref={heading} tabIndex={-1}>
        Task <code>{id}</code>
      </h2>
      <p role="alert" class="error">
        {error}
      </p>
      {task === null ? null : (
        <>
          <div class="card">
            <pre class="command-text">{task.command}</pre>
            <div class="actions">
              {isTerminal(task.state) ? null : (
                <button type="button" class="danger" onClick={cancel}>
                  Cancel
                </button>
              )}
              <button type="button" class="secondary" onClick={runAgain}>
                Run again
              </button>
              <span aria-live="polite" class="muted">
                {message}
              </span>
            </div>
            <dl class="fields">
              <dt>State</dt>
              <dd>
                <span class={`state state-${task.state}`} data-testid="task-state">
                  {STATE_LABELS[task.state]}
                </span>
                {task.cancelRequested && !isTerminal(task.state) ? ' (cancel requested)' : ''}
              </dd>
              <dt>Exit code</dt>
              <dd>{task.exitCode ?? '—'}</dd>
              <dt>Error</dt>
              <dd>{task.error ?? '—'}</dd>
              <dt>Agent</dt>
              <dd>{task.agentId ?? '—'}</dd>
              <dt>Attempts</dt>
              <dd>
                {task.attempts} of {task.maxAttempts}
              </dd>
              <dt>Timeout</dt>
              <dd>{formatDuration(task.timeoutSeconds * 1000)}</dd>
              <dt>Priority</dt>
              <dd>{task.priority ?? 0}</dd>
              <dt>Labels</dt>
              <dd>{task.labels && task.labels.length > 0 ? task.labels.join(', ') : '—'}</dd>
              <dt>Created</dt>
              <dd>{when(task.createdAt)}</dd>
              {task.runAt && task.runAt !== task.createdAt ? (
                <>
                  <dt>Run at</dt>
                  <dd>{when(task.runAt)}</dd>
                </>
              ) : null}
              <dt>Started</dt>
              <dd>{when(task.startedAt)}</dd>
              <dt>Finished</dt>
              <dd>{when(task.finishedAt)}</dd>
              <dt>Queued for</dt>
              <dd>{formatDuration(queuedFor(task, now))}</dd>
              <dt>Ran for</dt>
              <dd>{ran === null ? '—' : formatDuration(ran)}</dd>
              <dt>Output cut</dt>
              <dd>{task.outputTruncated ? 'yes: the middle of a long stream was left out' : 'no'}</dd>
            </dl>
          </div>
          <OutputPane key={`${id}-stdout`} taskId={id} stream="stdout" snapshot={task.stdout} />
          <OutputPane key={`${id}-stderr`} taskId={id} stream="stderr" snapshot={task.stderr} />
        </>
      )}
    </article>
  );
}
