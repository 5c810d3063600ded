import { randomUUID } from 'node:crypto';
import { pickNextTask, type Task, toTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ValidationError } from '../shared/errors';
import {
  AGENT_BODY_LIMIT,
  type Event,
  parseJsonObject,
  queryParams,
  rejectUnknownFields,
  rejectUnknownParams,
  singleParam,
} from '../shared/http';
import type { Log } from '../shared/logger';

/** What an agent receives: the task plus what it needs to hold and report it. */
export type PickedTask = Task & { leaseToken: string; leaseExpiresAt: string; outputLimitBytes: number };

export const MAX_WAIT_SECONDS = 20;

/** Validates a pick request; returns the long-poll wait in seconds (0: answer at once). */
export function parsePickRequest(event: Event): { waitSeconds: number } {
  const params = queryParams(event);
  rejectUnknownParams(params, ['wait']);
  if (event.requestContext?.http?.method === 'POST') rejectUnknownFields(parseJsonObject(event, AGENT_BODY_LIMIT, true), []);
  const wait = singleParam(params, 'wait');
  if (wait === undefined) return { waitSeconds: 0 };
  if (!/^\d{1,2}(\.\d{1,3})?$/.test(wait) || Number(wait) > MAX_WAIT_SECONDS) {
    throw new ValidationError(`wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS} (got ${JSON.stringify(wait.slice(0, 30))}).`);
  }
  return { waitSeconds: Number(wait) };
}

/** Claims the earliest-created queued task for this agent, or null when none is queued. */
export async function pickTask(deps: Deps & { log: Log }, agentId: string): Promise<PickedTask | null> {
  const row = await pickNextTask(deps.db, {
    agentId,
    leaseToken: randomUUID(),
    leaseSeconds: deps.config.leaseSeconds,
    now: deps.now(),
  });
  if (row === null) return null;
  deps.log.appendKeys({ taskId: row.id });
  deps.log.info('task picked', { agentId });
  return {
    ...toTask(row),
    leaseToken: row.lease_token as string,
    leaseExpiresAt: (row.lease_expires_at as Date).toISOString(),
    outputLimitBytes: deps.config.outputLimitBytes,
  };
}
