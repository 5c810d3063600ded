import { randomUUID } from 'node:crypto';
import { COMMAND_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS, HEADERS, MAX_TIMEOUT_SECONDS, USER_BODY_LIMIT } from '../../contract/http';
import type { Task } from '../../contract/task';
import { insertTask, selectTaskByIdempotencyKey, toTask } from '../shared/db/tasks';
import type { Deps } from '../shared/deps';
import { ConflictError, ValidationError } from '../shared/errors';
import { hashJson } from '../shared/hash';
import { describeValue, type Event, hasLoneSurrogate, header, parseJsonObject, rejectQuery, rejectUnknownFields } from '../shared/http';
import type { Log } from '../shared/logger';
import { parseLabels, parsePriority, parseRunAt } from '../shared/routing';

export type CreateTaskInput = {
  command: string;
  timeoutSeconds: number;
  maxAttempts: number;
  idempotencyKey: string | null;
  /** -1000..1000 (default 0) */
  priority: number;
  /** sorted, deduplicated */
  labels: string[];
  /** null: run now; a past time queues at once, a later one makes the task `scheduled` */
  runAt: Date | null;
};

function wholeNumber(body: Record<string, unknown>, name: string, def: number, min: number, max: number): number {
  const v = body[name];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(`${name} must be a whole number from ${min} to ${max} (got ${describeValue(v)}).`);
  }
  return v;
}

/** Validates a POST /tasks request into the core's input (`now`: the server's clock, for runAt's one-year bound). */
export function parseCreateTaskRequest(event: Event, now: Date = new Date()): CreateTaskInput {
  rejectQuery(event);
  const body = parseJsonObject(event, USER_BODY_LIMIT);
  rejectUnknownFields(body, ['command', 'timeoutSeconds', 'maxAttempts', 'priority', 'labels', 'runAt']);
  const { command } = body;
  if (command === undefined) throw new ValidationError('The field "command" is missing; send {"command": "echo hello"}.');
  if (typeof command !== 'string') throw new ValidationError('The field "command" must be a string.');
  if (command.trim() === '') throw new ValidationError('The field "command" is empty; give a shell command to run.');
  if (Buffer.byteLength(command) > COMMAND_MAX_BYTES) {
    throw new ValidationError(`The field "command" is longer than ${COMMAND_MAX_BYTES} bytes; put long scripts in a file and run that.`);
  }
  if (command.includes('\u0000'))
    throw new ValidationError('The field "command" holds a NUL byte, which a shell command cannot contain; remove it.');
  if (hasLoneSurrogate(command)) {
    throw new ValidationError('The field "command" holds an unpaired UTF-16 surrogate (invalid Unicode); send valid UTF-8 text.');
  }
  const key = header(event, HEADERS.idempotencyKey);
  if (key !== undefined && (key.length < 1 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key))) {
    throw new ValidationError('The Idempotency-Key header must be 1 to 255 printable ASCII characters.');
  }
  return {
    command,
    timeoutSeconds: wholeNumber(body, 'timeoutSeconds', DEFAULT_TIMEOUT_SECONDS, 1, MAX_TIMEOUT_SECONDS),
    maxAttempts: wholeNumber(body, 'maxAttempts', 1, 1, 10),
    idempotencyKey: key ?? null,
    priority: parsePriority(body.priority),
    labels: parseLabels(body.labels),
    runAt: parseRunAt(body.runAt, now),
  };
}

/**
 * Queues a task. With an Idempotency-Key, a repeat of the same request returns the task
 * it created (created: false); the same key with another body is a conflict.
 */
export async function createTask(
  deps: Pick<Deps, 'db' | 'now'> & Partial<Pick<Deps, 'signal'>> & { log: Log },
  input: CreateTaskInput,
): Promise<{ task: Task; created: boolean }> {
  const requestHash =
    input.idempotencyKey === null
      ? null
      : hashJson({
          command: input.command,
          timeoutSeconds: input.timeoutSeconds,
          maxAttempts: input.maxAttempts,
          // Only when set, so a key used before routing existed hashes as it did then.
          ...(input.priority !== 0 && { priority: input.priority }),
          ...(input.labels.length > 0 && { labels: input.labels }),
          ...(input.runAt !== null && { runAt: input.runAt.toISOString() }),
        });
  const row = await insertTask(deps.db, {
    id: randomUUID(),
    command: input.command,
    timeoutSeconds: input.timeoutSeconds,
    maxAttempts: input.maxAttempts,
    idempotencyKey: input.idempotencyKey,
    requestHash,
    priority: input.priority,
    labels: input.labels,
    runAt: input.runAt,
    now: deps.now(),
    // A signal that announces creates itself does it after the commit (queue-signal.ts).
    notify: deps.signal?.queued === undefined,
  });
  if (row !== null) {
    if (row.state === 'queued') deps.signal?.queued?.(row.label_key);
    deps.log.appendKeys({ taskId: row.id });
    deps.log.info(row.state === 'scheduled' ? 'task scheduled' : 'task queued');
    return { task: JSON.parse(row.json) as Task, created: true };
  }
  const existing = await selectTaskByIdempotencyKey(deps.db, input.idempotencyKey as string);
  if (existing === null || existing.request_hash !== requestHash) {
    throw new ConflictError('This Idempotency-Key was already used with a different request body; use a new key for a new task.');
  }
  deps.log.appendKeys({ taskId: existing.id });
  deps.log.info('idempotent repeat of create');
  return { task: toTask(existing), created: false };
}
