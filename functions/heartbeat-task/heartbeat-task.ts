import { EMPTY_BODY_LIMIT } from '../../contract/http';
import type { HeartbeatAnswer } from '../../contract/task';
import { leaseTokenOf, MISSING_LEASE_TOKEN } from '../shared/auth';
import { extendTaskLease, selectTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ConflictError, NotFoundError } from '../shared/errors';
import { type Event, isUuid, parseJsonObject, rejectQuery, rejectUnknownFields } from '../shared/http';
import type { Log } from '../shared/logger';

/** Validates a heartbeat request (an empty body or {}); returns the X-Lease-Token, if any. */
export function parseHeartbeatRequest(event: Event): { leaseToken: string | null } {
  rejectQuery(event);
  rejectUnknownFields(parseJsonObject(event, EMPTY_BODY_LIMIT, true), []);
  return { leaseToken: leaseTokenOf(event) };
}

/**
 * Extends the agent's lease and tells it whether a cancel was requested. A task that is no
 * longer this agent's (ended, reclaimed, or a stale lease token) is a conflict: the agent
 * must stop the command.
 */
export async function heartbeatTask(
  deps: Pick<Deps, 'db' | 'now' | 'lease'> & { log: Log },
  id: string,
  agentId: string,
  leaseToken: string | null,
): Promise<HeartbeatAnswer> {
  deps.log.appendKeys({ taskId: id });
  // A missing or malformed token cannot be the task's current one: it can only conflict.
  const row =
    leaseToken !== null && isUuid(leaseToken)
      ? await extendTaskLease(deps.db, { id, agentId, leaseToken, leaseSeconds: deps.lease.leaseSeconds, now: deps.now() })
      : null;
  if (row !== null) {
    deps.log.debug('heartbeat', { agentId, cancelRequested: row.cancel_requested });
    return { cancelRequested: row.cancel_requested, leaseExpiresAt: (row.lease_expires_at as Date).toISOString() };
  }
  const current = await selectTask(deps.db, id);
  if (current === null) throw new NotFoundError(`There is no task with id ${id}.`);
  deps.log.info('heartbeat refused', { agentId, state: current.state, holder: current.agent_id });
  if (current.state !== 'running') throw new ConflictError(`The task is ${current.state}; stop running it.`);
  if (current.agent_id !== agentId) throw new ConflictError('The task is held by another agent; stop running it.');
  if (leaseToken === null) throw new ConflictError(MISSING_LEASE_TOKEN);
  throw new ConflictError("X-Lease-Token is not the task's current lease token; stop running it.");
}
