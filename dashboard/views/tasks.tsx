import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { MAX_LIST_LIMIT, MAX_TIMEOUT_SECONDS } from '../../contract/http';
import { isTerminal, TASK_STATES, type Task, type TaskOverview, type TaskState } from '../../contract/task';
import { createTask, listTasks, taskSummary } from '../api';
import { formatAgo, formatCount, formatDuration, ranFor, STATE_LABELS } from '../format';
import { everyWhileVisible, LIST_INTERVAL_MS } from '../live';
import { mergeHead } from '../merge';

/** Rows per "Load more". */
const PAGE_SIZE = 100;

/** Counts per state and the age of the oldest queued task. */
function Overview({ summary }: { summary: TaskOverview | null }) {
  return (
    <section class="overview" aria-label="Overview">
      <ul class="counts">
        {TASK_STATES.map((s) => (
          <li key={s} class={`count state-${s}`}>
            <span class="count-n" data-state={s}>
              {summary === null ? '–' : formatCount(summary.counts[s], summary.capped.includes(s))}
            </span>{' '}
            <span class="count-label">{STATE_LABELS[s]}</span>
          </li>
        ))}
        <li class="count oldest">
          <span class="count-n" data-testid="oldest-queued">
            {summary === null ? '–' : summary.oldestQueuedAt === null ? 'none' : formatDuration(summary.oldestQueuedAgeSeconds * 1000)}
          </span>{' '}
          <span class="count-label">oldest queued</span>
        </li>
      </ul>
    </section>
  );
}

/** Command, Timeout (seconds), Run: creates the task and opens it. Enter in Command runs it. */
export function CreateForm() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const command = useRef<HTMLInputElement>(null);
  const timeout = useRef<HTMLInputElement>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const text = command.current?.value ?? '';
    const seconds = timeout.current?.value ?? '';
    if (text.trim() === '') return setError('Type a command to run, like echo hello.');
    setBusy(true);
    setError('');
    try {
      const task = await createTask(text, seconds === '' ? undefined : Number(seconds));
      location.hash = `#/tasks/${task.id}`;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="run-title">
      <h2 id="run-title">New task</h2>
      <form class="create" onSubmit={submit}>
        <div class="field grow">
          <label for="command">Command</label>
          <input id="command" ref={command} type="text" spellcheck={false} autocomplete="off" placeholder="echo hello" />
        </div>
        <div class="field">
          <label for="timeout">Timeout (seconds)</label>
          <input id="timeout" ref={timeout} type="number" min={1} max={MAX_TIMEOUT_SECONDS} step={1} placeholder="3600" />
        </div>
        <button type="submit" disabled={busy}>
          Run
        </button>
      </form>
      <p role="alert" class="error">
        {error}
      </p>
    </section>
  );
}

type RowProps = { task: Task; now: number };

/** One row; drawn again only when its task changed, or every tick while it runs (its duration grows). */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return next.task !== this.props.task || (!isTerminal(next.task.state) && next.now !== this.props.now);
  }
  override render({ task, now }: RowProps) {
    const ran = ranFor(task, now);
    return (
      <tr>
        <td>
          <span class={`state state-${task.state}`}>{STATE_LABELS[task.state]}</span>
        </td>
        <td class="command">
          <a href={`#/tasks/${task.id}`}>{task.command}</a>
        </td>
        <td>
          <time dateTime={task.createdAt} title={task.createdAt}>
            {formatAgo(task.createdAt, now)}
          </time>
        </td>
        <td>{ran === null ? '' : formatDuration(ran)}</td>
      </tr>
    );
  }
}

/** The overview, the create form, and the live table of tasks with its state filter. */
export function TasksPage() {
  const [filter, setFilter] = useState<TaskState | ''>('');
  const [rows, setRows] = useState<Task[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [summary, setSummary] = useState<TaskOverview | null>(null);
  const [now, setNow] = useState(Date.now());
  const [error, setError] = useState('');
  const [loadingMore, setLoadingMore] = useState(false);
  /**
   * The live window: the newest `pages` x PAGE_SIZE tasks (at most the API's 1,000), refreshed
   * whole every tick, so every row in it stays live and the page holds no more than was asked
   * for. Pages loaded past 1,000 (`beyond`) stay below it as they came (ended tasks never change).
   * `generation` drops a refresh that started before "Load more" changed the window.
   */
  const view = useRef({ pages: 1, beyond: false, generation: 0 });

  useEffect(() => {
    setRows([]);
    setCursor(null);
    setLoaded(false);
    view.current = { pages: 1, beyond: false, generation: view.current.generation + 1 };
    let current = true;
    const states = filter === '' ? [] : [filter];
    const stop = everyWhileVisible(async () => {
      const { pages, beyond, generation } = view.current;
      try {
        const [page, counts] = await Promise.all([
          listTasks({ states, limit: Math.min(MAX_LIST_LIMIT, pages * PAGE_SIZE) }),
          taskSummary(),
        ]);
        if (!current) return;
        setSummary(counts);
        setNow(Date.now());
        setError('');
        if (generation !== view.current.generation) return;
        if (beyond) setRows((old) => mergeHead(old, page.tasks, page.nextCursor === null));
        else {
          setRows((old) => mergeHead(old, page.tasks, true));
          setCursor(page.nextCursor);
        }
        setLoaded(true);
      } catch (e) {
        if (current) setError(`Could not refresh the list: ${(e as Error).message}`);
      }
    }, LIST_INTERVAL_MS);
    return () => {
      current = false;
      stop();
    };
  }, [filter]);

  /** The next page through the API's cursor; the live window grows to cover it. */
  const loadMore = async () => {
    if (cursor === null) return;
    setLoadingMore(true);
    try {
      const page = await listTasks({ states: filter === '' ? [] : [filter], limit: PAGE_SIZE, cursor });
      const v = view.current;
      v.generation++;
      if (v.pages * PAGE_SIZE >= MAX_LIST_LIMIT) v.beyond = true;
      else v.pages++;
      setRows((old) => {
        const ids = new Set(old.map((t) => t.id));
        return [...old, ...page.tasks.filter((t) => !ids.has(t.id))];
      });
      setCursor(page.nextCursor);
    } catch (e) {
      setError(`Could not load more tasks: ${(e as Error).message}`);
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <>
      <Overview summary={summary} />
      <CreateForm />
      <section class="card" aria-labelledby="tasks-caption">
        <div class="toolbar">
          <label for="state-filter">State</label>
          <select
            id="state-filter"
            value={filter}
            onChange={(e) => setFilter((e.currentTarget as HTMLSelectElement).value as TaskState | '')}
          >
            <option value="">All</option>
            {TASK_STATES.map((s) => (
              <option key={s} value={s}>
                {STATE_LABELS[s]}
              </option>
            ))}
          </select>
          <span class="muted" aria-live="polite">
            {loaded ? `${rows.length} shown${cursor !== null ? ', more below' : ''}` : 'Loading…'}
          </span>
        </div>
        <p role="alert" class="error">
          {error}
        </p>
        <div class="table-wrap">
          <table class="tasks">
            <caption id="tasks-caption">Tasks</caption>
            <thead>
              <tr>
                <th scope="col">State</th>
                <th scope="col">Command</th>
                <th scope="col">Created</th>
                <th scope="col">Ran for</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <Row key={t.id} task={t} now={now} />
              ))}
            </tbody>
          </table>
        </div>
        {loaded && rows.length === 0 ? <p class="muted">No tasks{filter === '' ? ' yet' : ` ${STATE_LABELS[filter]}`}.</p> : null}
        {cursor !== null ? (
          <button type="button" class="secondary" onClick={loadMore} disabled={loadingMore}>
            Load more
          </button>
        ) : null}
      </section>
    </>
  );
}
