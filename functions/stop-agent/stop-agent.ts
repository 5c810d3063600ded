import { EMPTY_BODY_LIMIT } from '../../contract/http';
import type { Agent } from '../../contract/task';
import { toAgent } from '../list-agents/list-agents';
import { agentIdOf } from '../shared/auth';
import { markAgentStopped } from '../shared/db/agents';
import type { Deps } from '../shared/deps';
import { ValidationError } from '../shared/errors';
import { type Event, parseJsonObject, rejectQuery, rejectUnknownFields } from '../shared/http';
import type { Log } from '../shared/logger';

/**
 * Validates POST /agents/{id}/stop (an empty body or {}): the path names the calling agent
 * itself (its X-Agent-Id), so an agent can say only that it stopped, never that another did.
 */
export function parseStopRequest(event: Event): { agentId: string } {
  rejectQuery(event);
  rejectUnknownFields(parseJsonObject(event, EMPTY_BODY_LIMIT, true), []);
  const agentId = agentIdOf(event);
  const inPath = event.pathParameters?.id;
  if (inPath !== agentId) {
    throw new ValidationError(
      `The path names agent ${JSON.stringify((inPath ?? '').slice(0, 80))}, but X-Agent-Id is ${JSON.stringify(agentId.slice(0, 80))}: an agent stops only itself (POST /agents/<its X-Agent-Id>/stop).`,
    );
  }
  return { agentId };
}

/** Records that the agent stopped cleanly: GET /agents shows it `gone` at once. */
export async function stopAgent(deps: Pick<Deps, 'db' | 'now' | 'config'> & { log: Log }, agentId: string): Promise<Agent> {
  const row = await markAgentStopped(deps.db, agentId, deps.now());
  deps.log.info('agent stopped', { agentId });
  return toAgent(row, deps.now(), deps.config.leaseSeconds);
}
