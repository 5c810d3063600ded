import { randomUUID } from 'node:crypto';
import { EMPTY_BODY_LIMIT, MAX_PICK_WAIT_SECONDS } from '../../contract/http';
import type { PickedTask, Task } from '../../contract/task';
import { claimNextQueuedTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ValidationError } from '../shared/errors';
import { type Event, parseJsonObject, queryParams, rejectUnknownFields, rejectUnknownParams, singleParam } from '../shared/http';
import { throttledExpiry } from '../shared/lease-expiry';
import type { Log } from '../shared/logger';
import { throttledPromotion } from '../shared/promotion';
import { agentLabelsOf, labelSetAllowed } from '../shared/routing';
import { recordPicked } from '../shared/task-metrics';

/** Expired leases are also ended on the way through pick, at most this often per process. */
const PICK_EXPIRY_EVERY_MS = 5000;
const expireOnPick = throttledExpiry(PICK_EXPIRY_EVERY_MS);
/**
 * Due scheduled tasks are also promoted on the way through pick, at most this often per process:
 * on Lambda the scheduled reaper runs once a minute, so this is what keeps runAt to about a second.
 */
const PICK_PROMOTE_EVERY_MS = 1000;
const promoteOnPick = throttledPromotion(PICK_PROMOTE_EVERY_MS);

/** Validates a pick request; returns the long-poll wait in seconds (0: answer at once) and the agent's labels. */
export function parsePickRequest(event: Event): { waitSeconds: number; agentLabels: string[] } {
  const params = queryParams(event);
  rejectUnknownParams(params, ['wait']);
  if (event.requestContext?.http?.method === 'POST') rejectUnknownFields(parseJsonObject(event, EMPTY_BODY_LIMIT, true), []);
  const agentLabels = agentLabelsOf(event);
  const wait = singleParam(params, 'wait');
  if (wait === undefined) return { waitSeconds: 0, agentLabels };
  if (!/^\d{1,2}(\.\d{1,3})?$/.test(wait) || Number(wait) > MAX_PICK_WAIT_SECONDS) {
    throw new ValidationError(
      `wait must be a number of seconds from 0 to ${MAX_PICK_WAIT_SECONDS} (got ${JSON.stringify(wait.slice(0, 30))}).`,
    );
  }
  return { waitSeconds: Number(wait), agentLabels };
}

type PickDeps = Pick<Deps, 'db' | 'now' | 'lease' | 'config' | 'signal' | 'metrics'> & { log: Log };

/** Claims the next queued task this agent may run (priority, run_at, creation), or null when there is none. */
export async function claimTask(deps: PickDeps, agentId: string, agentLabels: readonly string[] = []): Promise<PickedTask | null> {
  const row = await claimNextQueuedTask(deps.db, {
    agentId,
    agentLabels,
    leaseToken: randomUUID(),
    leaseSeconds: deps.lease.leaseSeconds,
    deadlineGraceSeconds: deps.lease.deadlineGraceSeconds,
    now: deps.now(),
  });
  if (row === null) return null;
  const task = JSON.parse(row.json) as Task;
  recordPicked(deps.metrics, task);
  deps.log.appendKeys({ taskId: row.id });
  deps.log.info('task picked', { agentId });
  return {
    ...task,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    heartbeatIntervalSeconds: deps.lease.heartbeatSeconds,
    outputLimitBytes: deps.config.outputLimitBytes,
  };
}

/**
 * Pick with an optional long-poll: claims at once if it can; otherwise holds up to waitMs,
 * trying again each time the queue signal wakes this picker (one per queued task it may run).
 * Once `clientGone` aborts (the agent hung up: stopped, killed) it claims nothing more: the
 * task would reach nobody and end "agent lost" without having run.
 */
export async function pickTask(
  deps: PickDeps,
  agentId: string,
  waitMs: number,
  clientGone?: AbortSignal,
  agentLabels: readonly string[] = [],
): Promise<PickedTask | null> {
  await expireOnPick(deps);
  await promoteOnPick(deps);
  const deadline = performance.now() + waitMs;
  const accepts = labelSetAllowed(agentLabels);
  const labelKey = agentLabels.join(',');
  // Right after its finish, an agent whose label set a claim just found empty waits at once:
  // the claim would find nothing (about one in two claims did, in a pipeline of short tasks).
  let claim = !deps.signal.nothingQueuedFor(agentId, labelKey);
  let woken = false;
  for (;;) {
    if (clientGone?.aborted) {
      // Woken for a task it will not claim: someone else must be.
      if (woken) deps.signal.handOn();
      return null;
    }
    const since = deps.signal.generation();
    if (claim) {
      const task = await claimTask(deps, agentId, agentLabels);
      if (task !== null) return task;
      deps.signal.foundNothing(labelKey, since);
    }
    claim = true;
    const left = deadline - performance.now();
    if (left <= 0) return null;
    woken = await deps.signal.wait(left, since, clientGone, accepts);
    if (!woken && deadline - performance.now() <= 0) return null;
    if (!woken && deps.signal.generation() === since) return null; // closed: shutting down
  }
}
