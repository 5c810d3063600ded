import { AGENTS_SEEN_WITHIN_SECONDS } from '../../contract/http';
import type { Agent, AgentList, AgentState } from '../../contract/task';
import { type AgentRow, selectAgentsSeenSince } from '../shared/db/agents';
import type { Deps } from '../shared/deps';

/** An agent's state at `now`: gone once not seen for LEASE_SECONDS or stopped, else busy while it holds a task. */
export function agentState(row: AgentRow, now: Date, leaseSeconds: number): AgentState {
  if (row.stopped || now.getTime() - new Date(row.last_seen_at).getTime() > leaseSeconds * 1000) return 'gone';
  return row.task_id === null ? 'idle' : 'busy';
}

/** Maps a row to GET /agents' item. */
export function toAgent(row: AgentRow, now: Date, leaseSeconds: number): Agent {
  const state = agentState(row, now, leaseSeconds);
  return {
    id: row.id,
    labels: row.labels ?? [],
    state,
    taskId: state === 'busy' ? row.task_id : null,
    lastSeenAt: new Date(row.last_seen_at).toISOString(),
    tasksRun: Number(row.tasks_run),
  };
}

/** The agents seen in the last AGENTS_SEEN_WITHIN_SECONDS, the most recently seen first. */
export async function listAgents(deps: Pick<Deps, 'db' | 'now' | 'config'>): Promise<AgentList> {
  const now = deps.now();
  const rows = await selectAgentsSeenSince(deps.db, new Date(now.getTime() - AGENTS_SEEN_WITHIN_SECONDS * 1000));
  return { agents: rows.map((row) => toAgent(row, now, deps.config.leaseSeconds)) };
}
