import { COMMAND_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS, USER_BODY_LIMIT } from '../../contract/http';
import { buildEvent } from '../../test/support/events';
import { fakeDb, recordingLog } from '../../test/support/fakes';
import { asInserted, buildTaskRow } from '../../test/support/tasks';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../shared/errors';
import { type CreateTaskInput, createTask, parseCreateTaskRequest } from './create-task';

const createEvent = (body: unknown, headers: Record<string, string> = {}) => buildEvent({ method: 'POST', path: '/tasks', body, headers });
const parse = (body: unknown, headers?: Record<string, string>) => parseCreateTaskRequest(createEvent(body, headers));

describe('parseCreateTaskRequest', () => {
  it('reads a command with the default timeout and no idempotency key', () => {
    expect(parse({ command: 'echo hello' })).toEqual({
      command: 'echo hello',
      timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
      maxAttempts: 1,
      idempotencyKey: null,
      priority: 0,
      labels: [],
      runAt: null,
    });
    expect(DEFAULT_TIMEOUT_SECONDS).toBe(3600);
  });

  it.each([1, 60, 86400])('reads timeoutSeconds %i', (timeoutSeconds) => {
    expect(parse({ command: 'true', timeoutSeconds }).timeoutSeconds).toBe(timeoutSeconds);
  });

  it('keeps the command exactly as sent, spaces and newlines included', () => {
    const command = '  printf "a\\nb"\n  echo é 😀  ';
    expect(parse({ command }).command).toBe(command);
  });

  it('reads the Idempotency-Key header', () => {
    expect(parse({ command: 'true' }, { 'Idempotency-Key': 'order-42' }).idempotencyKey).toBe('order-42');
  });

  it('accepts a command of exactly 64 KiB', () => {
    const command = 'x'.repeat(COMMAND_MAX_BYTES);
    expect(parse({ command }).command).toBe(command);
  });

  it('reads a base64-encoded body', () => {
    const event = createEvent({});
    event.body = Buffer.from(JSON.stringify({ command: 'echo b64' })).toString('base64');
    event.isBase64Encoded = true;
    expect(parseCreateTaskRequest(event).command).toBe('echo b64');
  });

  it.each([
    ['a missing command', {}, /command/],
    ['a numeric command', { command: 42 }, /command/],
    ['a null command', { command: null }, /command/],
    ['an array command', { command: ['echo', 'hi'] }, /command/],
    ['an empty command', { command: '' }, /empty/],
    ['a whitespace command', { command: ' \n\t ' }, /empty/],
    ['a command over 64 KiB', { command: 'x'.repeat(COMMAND_MAX_BYTES + 1) }, /longer than/],
    ['a command over 64 KiB in multibyte characters', { command: '€'.repeat(COMMAND_MAX_BYTES / 3 + 1) }, /longer than/],
    ['a command with NUL', { command: 'echo a\u0000b' }, /NUL/],
    ['a command with an unpaired surrogate', { command: 'echo \ud800' }, /surrogate/],
    ['an unknown field', { command: 'true', timeout: 5 }, /"timeout"/],
    ['timeoutSeconds 0', { command: 'true', timeoutSeconds: 0 }, /timeoutSeconds/],
    ['timeoutSeconds 86401', { command: 'true', timeoutSeconds: 86401 }, /timeoutSeconds/],
    ['timeoutSeconds 1.5', { command: 'true', timeoutSeconds: 1.5 }, /timeoutSeconds/],
    ['timeoutSeconds "10"', { command: 'true', timeoutSeconds: '10' }, /timeoutSeconds/],
    ['timeoutSeconds null', { command: 'true', timeoutSeconds: null }, /timeoutSeconds/],
    ['timeoutSeconds -5', { command: 'true', timeoutSeconds: -5 }, /timeoutSeconds/],
  ])('rejects %s with a ValidationError that names the problem', (_what, body, problem) => {
    expect(() => parse(body)).toThrow(ValidationError);
    expect(() => parse(body)).toThrow(problem);
  });

  it('rejects a timeoutSeconds nested 100,000 arrays deep with a ValidationError, not a stack overflow', () => {
    const deep = `${'['.repeat(100000)}${']'.repeat(100000)}`;
    expect(() => parse(`{"command": "true", "timeoutSeconds": ${deep}}`, { 'content-type': 'application/json' })).toThrow(
      /timeoutSeconds must be a whole number .*\(got an array\)/,
    );
  });

  it.each([
    ['an array', '[{"command": "true"}]'],
    ['null', 'null'],
    ['a string', '"echo hi"'],
    ['a number', '42'],
    ['malformed JSON', '{command: true}'],
    ['truncated JSON', '{"command": "ec'],
    ['an empty body', ''],
  ])('rejects %s as the body with a ValidationError', (_what, raw) => {
    expect(() => parse(raw, { 'content-type': 'application/json' })).toThrow(ValidationError);
  });

  it('rejects a body that is not valid UTF-8 with a ValidationError', () => {
    const event = createEvent({});
    event.body = Buffer.from([...Buffer.from('{"command": "echo '), 0xff, ...Buffer.from('"}')]).toString('base64');
    event.isBase64Encoded = true;
    expect(() => parseCreateTaskRequest(event)).toThrow(/UTF-8/);
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['form data', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['no content type', {}],
  ])('rejects a JSON body sent as %s with 415', (_what, headers) => {
    expect(() => parse('{"command": "true"}', headers)).toThrow(UnsupportedMediaTypeError);
  });

  it('accepts a JSON content type with a charset and a +json suffix', () => {
    expect(parse('{"command": "true"}', { 'content-type': 'application/json; charset=utf-8' }).command).toBe('true');
    expect(parse('{"command": "true"}', { 'content-type': 'application/vnd.task+json' }).command).toBe('true');
  });

  it('rejects a body over 1 MiB with 413', () => {
    const body = JSON.stringify({ command: 'true', pad: 'x'.repeat(USER_BODY_LIMIT) });
    expect(() => parse(body, { 'content-type': 'application/json' })).toThrow(PayloadTooLargeError);
  });

  it.each([
    ['empty', ''],
    ['over 255 characters', 'k'.repeat(256)],
    ['not printable ASCII', 'clé'],
  ])('rejects an Idempotency-Key that is %s', (_what, key) => {
    expect(() => parse({ command: 'true' }, { 'idempotency-key': key })).toThrow(ValidationError);
  });
});

describe('createTask', () => {
  const NOW = new Date('2026-11-28T10:00:00.000Z');
  const deps = (db: ReturnType<typeof fakeDb>) => ({ db, now: () => NOW, log: recordingLog() });
  const input = (overrides: Partial<CreateTaskInput> = {}): CreateTaskInput => ({
    command: 'echo hello',
    timeoutSeconds: 60,
    maxAttempts: 1,
    idempotencyKey: null,
    priority: 0,
    labels: [],
    runAt: null,
    ...overrides,
  });
  /** The row the insert returns for these parameters. */
  const stored = (params: readonly unknown[]) => [
    buildTaskRow({
      id: params[0] as string,
      command: params[1] as string,
      timeout_seconds: params[2] as number,
      max_attempts: params[3] as number,
      idempotency_key: params[4] as string | null,
      request_hash: params[5] as string | null,
      created_at: params[6] as Date,
      // as `select *` reads a new task: no usage yet
      usage_cpu_user_seconds: null,
      usage_cpu_system_seconds: null,
      usage_max_rss_bytes: null,
    }),
  ];
  const inserted = (params: readonly unknown[]) => stored(params).map(asInserted);

  it('queues the task under a fresh id at the time of the request, with no request hash without a key', async () => {
    const db = fakeDb({ insertTask: inserted });
    const { task, created } = await createTask(deps(db), input());
    expect(created).toBe(true);
    expect(task).toMatchObject({ command: 'echo hello', state: 'queued', timeoutSeconds: 60, createdAt: NOW.toISOString() });
    const [params] = db.callsOf('insertTask');
    expect(params).toEqual([task.id, 'echo hello', 60, 1, null, null, NOW, 0, [], NOW, 'queued', true]);
    expect(task.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('gives every task its own id', async () => {
    const db = fakeDb({ insertTask: inserted });
    const a = await createTask(deps(db), input());
    const b = await createTask(deps(db), input());
    expect(a.task.id).not.toBe(b.task.id);
  });

  it('answers a repeat of the same request under the same Idempotency-Key with the task it created, creating nothing', async () => {
    const first = fakeDb({ insertTask: inserted });
    const original = (await createTask(deps(first), input({ idempotencyKey: 'k1' }))).task;
    const [params] = first.callsOf('insertTask');
    const db = fakeDb({ insertTask: [], selectTaskByIdempotencyKey: stored(params as unknown[]) });
    const repeat = await createTask(deps(db), input({ idempotencyKey: 'k1' }));
    expect(repeat).toEqual({ task: original, created: false });
    expect(db.callsOf('selectTaskByIdempotencyKey')).toEqual([['k1']]);
  });

  it.each([
    ['command', { command: 'echo other' }],
    ['timeoutSeconds', { timeoutSeconds: 61 }],
    ['maxAttempts', { maxAttempts: 2 }],
  ])('answers 409 when the Idempotency-Key was used with another %s', async (_field, change) => {
    const first = fakeDb({ insertTask: inserted });
    await createTask(deps(first), input({ idempotencyKey: 'k1' }));
    const db = fakeDb({ insertTask: [], selectTaskByIdempotencyKey: stored(first.callsOf('insertTask')[0] as unknown[]) });
    await expect(createTask(deps(db), input({ idempotencyKey: 'k1', ...change }))).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(/Idempotency-Key was already used/),
    });
  });
});
