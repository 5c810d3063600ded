import { AGENT_BODY_LIMIT } from '../../contract/http';
import { capText } from '../../contract/output-limit';
import { type Task, type TaskState, TERMINAL_STATES } from '../../contract/task';
import { leaseTokenOf, MISSING_LEASE_TOKEN } from '../shared/auth';
import { endRunningTask, endRunningTaskWithOutput, selectTask, toTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors';
import { hashJson } from '../shared/hash';
import { type Event, isUuid, parseJsonObject, rejectQuery, rejectUnknownFields } from '../shared/http';
import type { Log } from '../shared/logger';
import { recordEnded } from '../shared/task-metrics';

export type FinishInput = {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputTruncated: boolean;
  state: TaskState | null;
  error: string | null;
  /** X-Lease-Token (null when absent: the finish then conflicts) */
  leaseToken: string | null;
  /** hash of the body, to recognise a retried identical finish */
  bodyHash: string;
};

const ERROR_MAX_CHARS = 4096;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Validates a POST /tasks/{id}/finish request. */
export function parseFinishRequest(event: Event): FinishInput {
  rejectQuery(event);
  const body = parseJsonObject(event, AGENT_BODY_LIMIT);
  rejectUnknownFields(body, ['exitCode', 'stdout', 'stderr', 'outputTruncated', 'state', 'error']);
  const { exitCode, stdout, stderr, outputTruncated, state, error } = body;
  if (!('exitCode' in body))
    throw new ValidationError('The field "exitCode" is missing; send the exit code, or null when the command did not exit normally.');
  if (exitCode !== null && (typeof exitCode !== 'number' || !Number.isInteger(exitCode) || exitCode < INT32_MIN || exitCode > INT32_MAX)) {
    throw new ValidationError('The field "exitCode" must be a whole number or null.');
  }
  for (const [name, value] of [
    ['stdout', stdout],
    ['stderr', stderr],
  ] as const) {
    if (typeof value !== 'string') throw new ValidationError(`The field "${name}" must be a string (send "" when there was none).`);
  }
  if (outputTruncated !== undefined && typeof outputTruncated !== 'boolean') {
    throw new ValidationError('The field "outputTruncated" must be true or false.');
  }
  if (state !== undefined && !(TERMINAL_STATES as readonly unknown[]).includes(state)) {
    throw new ValidationError(`The field "state" must be one of ${TERMINAL_STATES.join(', ')}.`);
  }
  if (state === 'succeeded' && exitCode !== 0) throw new ValidationError('state "succeeded" needs exitCode 0.');
  if (error !== undefined && error !== null && (typeof error !== 'string' || error.length > ERROR_MAX_CHARS)) {
    throw new ValidationError(`The field "error" must be a string of at most ${ERROR_MAX_CHARS} characters, or null.`);
  }
  return {
    exitCode: exitCode as number | null,
    stdout: stdout as string,
    stderr: stderr as string,
    outputTruncated: outputTruncated === true,
    state: (state as TaskState | undefined) ?? null,
    error: (error as string | null | undefined)?.replace(/\u0000/g, '\uFFFD') ?? null,
    leaseToken: leaseTokenOf(event),
    bodyHash: hashJson(body),
  };
}

/** The state a finish ends in: the agent's word, else from the exit code. */
export function finalState(input: Pick<FinishInput, 'state' | 'exitCode'>): TaskState {
  if (input.state !== null) return input.state;
  return input.exitCode === 0 ? 'succeeded' : 'failed';
}

/**
 * Ends a running task with the agent's result (output capped again here: the agent's cap
 * is a courtesy, this one is the rule). An identical retry gets the same answer.
 */
export async function finishTask(
  deps: Pick<Deps, 'db' | 'now' | 'config' | 'metrics'> & { log: Log },
  id: string,
  agentId: string,
  input: FinishInput,
): Promise<Task> {
  deps.log.appendKeys({ taskId: id });
  const limit = deps.config.outputLimitBytes;
  const stdout = capText(input.stdout, limit);
  const stderr = capText(input.stderr, limit);
  const state = finalState(input);
  // A missing or malformed token cannot be the task's current one: it can only conflict.
  const leaseToken = input.leaseToken !== null && isUuid(input.leaseToken) ? input.leaseToken : null;
  const request = leaseToken
    ? {
        id,
        agentId,
        leaseToken,
        state,
        exitCode: input.exitCode,
        stdout: stdout.text,
        stderr: stderr.text,
        outputTruncated: input.outputTruncated || stdout.truncated || stderr.truncated,
        error: input.error,
        finishHash: input.bodyHash,
        now: deps.now(),
      }
    : null;
  // Most tasks streamed nothing and nobody follows them: the plain statement; else the one that
  // also drops the live output and wakes readers.
  const row = request ? ((await endRunningTask(deps.db, request)) ?? (await endRunningTaskWithOutput(deps.db, request))) : null;
  if (row !== null) {
    recordEnded(deps.metrics, row);
    deps.log.info('task finished', { state, exitCode: input.exitCode, agentId });
    return toTask(row);
  }
  const current = await selectTask(deps.db, id);
  if (current === null) throw new NotFoundError(`There is no task with id ${id}.`);
  // A retry of the finish that ended it (the answer was lost): same body, agent and lease token.
  if (
    current.finish_hash === input.bodyHash &&
    current.agent_id === agentId &&
    leaseToken !== null &&
    current.lease_token === leaseToken.toLowerCase()
  ) {
    deps.log.info('repeated finish answered again', { agentId });
    return toTask(current);
  }
  if (current.state !== 'running') {
    throw new ConflictError(`The task is ${current.state}, not running; it cannot be finished again.`);
  }
  if (current.agent_id !== agentId) throw new ConflictError('The task is held by another agent.');
  if (input.leaseToken === null) throw new ConflictError(MISSING_LEASE_TOKEN);
  throw new ConflictError("X-Lease-Token is not the task's current lease token; this agent's claim is stale.");
}
