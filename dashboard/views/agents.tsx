import { useEffect, useState } from 'preact/hooks';
import type { Agent } from '../../contract/task';
import { listAgents } from '../api';
import { formatAgo } from '../format';
import { everyWhileVisible, LIST_INTERVAL_MS } from '../live';

const AGENT_STATE_LABELS: Record<Agent['state'], string> = { idle: 'idle', busy: 'busy', gone: 'gone' };
/** Agent states share the task states' colours: busy as running, idle as queued, gone as canceled. */
const AGENT_STATE_CLASS: Record<Agent['state'], string> = { idle: 'state-queued', busy: 'state-running', gone: 'state-canceled' };

/** The agents seen in the last 10 minutes (GET /agents), updated as the task list is. */
export function AgentsPage() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [error, setError] = useState('');
  const [now, setNow] = useState(Date.now());

  useEffect(
    () =>
      everyWhileVisible(async () => {
        try {
          const list = await listAgents();
          setAgents(list.agents);
          setNow(Date.now());
          setError('');
        } catch (e) {
          setError((e as Error).message);
        }
      }, LIST_INTERVAL_MS),
    [],
  );

  return (
    <section class="card" aria-labelledby="agents-caption">
      <p role="alert" class="error">
        {error}
      </p>
      <div class="table-wrap">
        <table class="tasks">
          <caption id="agents-caption">Agents</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">State</th>
              <th scope="col">Task</th>
              <th scope="col">Last seen</th>
              <th scope="col">Tasks run</th>
              <th scope="col">Labels</th>
            </tr>
          </thead>
          <tbody>
            {(agents ?? []).map((a) => (
              <tr key={a.id}>
                <td>
                  <code>{a.id}</code>
                </td>
                <td>
                  <span class={`state ${AGENT_STATE_CLASS[a.state]}`}>{AGENT_STATE_LABELS[a.state]}</span>
                </td>
                <td>{a.taskId === null ? '—' : <a href={`#/tasks/${encodeURIComponent(a.taskId)}`}>{a.taskId.slice(0, 8)}</a>}</td>
                <td>
                  <time dateTime={a.lastSeenAt}>{formatAgo(a.lastSeenAt, now)}</time>
                </td>
                <td>{a.tasksRun}</td>
                <td>{a.labels.length > 0 ? a.labels.join(', ') : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {agents !== null && agents.length === 0 ? <p class="muted">No agent seen in the last 10 minutes.</p> : null}
    </section>
  );
}
