import { AGENT_BODY_LIMIT } from '../../contract/http';
import { buildEvent } from '../../test/support/events';
import { fakeDb, recordingLog } from '../../test/support/fakes';
import { buildRunningRow, LEASE_TOKEN, TASK_ID } from '../../test/support/tasks';
import { loadConfig } from '../shared/config';
import type { TaskRow } from '../shared/db/tasks';
import { HttpError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../shared/errors';
import { createMetrics } from '../shared/metrics';
import { type FinishInput, finalState, finishTask, parseFinishRequest } from './finish-task';

const ID = TASK_ID;
const VALID = { exitCode: 0, stdout: 'hello\n', stderr: '' };

const finishEvent = (body: unknown, headers: Record<string, string> = {}) =>
  buildEvent({
    method: 'POST',
    path: `/tasks/${ID}/finish`,
    pathParameters: { id: ID },
    body,
    headers: { 'x-agent-id': 'a1', ...headers },
  });
const parse = (body: unknown, headers?: Record<string, string>) => parseFinishRequest(finishEvent(body, headers));

describe('parseFinishRequest', () => {
  it('reads a minimal finish with defaults for the optional fields', () => {
    expect(parse(VALID)).toMatchObject({
      exitCode: 0,
      stdout: 'hello\n',
      stderr: '',
      outputTruncated: false,
      state: null,
      error: null,
      leaseToken: null,
    });
  });

  it('reads every field and the X-Lease-Token header', () => {
    const input = parse(
      { exitCode: null, stdout: 'a', stderr: 'b', outputTruncated: true, state: 'timed_out', error: 'timed out after 5s' },
      { 'x-lease-token': ' 6f0f1a6a-8d2e-4f55-9a53-0b8a3c528d2e ' },
    );
    expect(input).toMatchObject({
      exitCode: null,
      stdout: 'a',
      stderr: 'b',
      outputTruncated: true,
      state: 'timed_out',
      error: 'timed out after 5s',
      leaseToken: '6f0f1a6a-8d2e-4f55-9a53-0b8a3c528d2e',
    });
  });

  it('hashes equal bodies equal, whatever their key order', () => {
    const a = parse({ exitCode: 1, stdout: 'x', stderr: 'y' });
    const b = parse({ stderr: 'y', stdout: 'x', exitCode: 1 });
    const c = parse({ exitCode: 1, stdout: 'x', stderr: 'z' });
    expect(a.bodyHash).toBe(b.bodyHash);
    expect(a.bodyHash).not.toBe(c.bodyHash);
  });

  it('replaces NUL in error with U+FFFD', () => {
    expect(parse({ ...VALID, exitCode: null, error: 'bad\u0000byte' }).error).toBe('bad\uFFFDbyte');
  });

  it.each([
    ['a missing exitCode', { stdout: '', stderr: '' }, /exitCode/],
    ['a fractional exitCode', { ...VALID, exitCode: 1.5 }, /exitCode/],
    ['an exitCode as text', { ...VALID, exitCode: '0' }, /exitCode/],
    ['an exitCode beyond int32', { ...VALID, exitCode: 2 ** 31 }, /exitCode/],
    ['a missing stdout', { exitCode: 0, stderr: '' }, /stdout/],
    ['a stdout that is not a string', { ...VALID, stdout: ['a'] }, /stdout/],
    ['a null stderr', { ...VALID, stderr: null }, /stderr/],
    ['an outputTruncated that is not boolean', { ...VALID, outputTruncated: 'yes' }, /outputTruncated/],
    ['state running', { ...VALID, state: 'running' }, /state/],
    ['state queued', { ...VALID, state: 'queued' }, /state/],
    ['an unknown state', { ...VALID, state: 'done' }, /state/],
    ['state succeeded with a non-zero exit code', { ...VALID, exitCode: 3, state: 'succeeded' }, /succeeded/],
    ['an error that is not a string', { ...VALID, error: 42 }, /error/],
    ['an error over 4096 characters', { ...VALID, error: 'e'.repeat(4097) }, /error/],
    ['an unknown field', { ...VALID, exit_code: 0 }, /"exit_code"/],
  ])('rejects %s with a ValidationError naming the field', (_what, body, field) => {
    expect(() => parse(body)).toThrow(ValidationError);
    expect(() => parse(body)).toThrow(field);
  });

  it.each([
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"done"'],
    ['malformed JSON', '{"exitCode": 0,'],
    ['an empty body', ''],
  ])('rejects %s as the body with a ValidationError', (_what, raw) => {
    expect(() => parse(raw, { 'content-type': 'application/json' })).toThrow(ValidationError);
  });

  it('rejects a body that is not declared as JSON with 415', () => {
    expect(() => parse(JSON.stringify(VALID), { 'content-type': 'text/plain' })).toThrow(UnsupportedMediaTypeError);
    expect(() => parse(JSON.stringify(VALID))).toThrow(UnsupportedMediaTypeError);
  });

  it('accepts a body up to 6 MiB and rejects a larger one with 413', () => {
    const envelope = JSON.stringify({ ...VALID, stdout: '' }).length;
    expect(parse({ ...VALID, stdout: 'x'.repeat(AGENT_BODY_LIMIT - envelope) }).stdout).toHaveLength(AGENT_BODY_LIMIT - envelope);
    expect(() => parse({ ...VALID, stdout: 'x'.repeat(AGENT_BODY_LIMIT - envelope + 1) })).toThrow(PayloadTooLargeError);
  });

  it('gives every rejection a detail a person can act on', () => {
    try {
      parse({ stdout: '', stderr: '' });
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).message.length).toBeGreaterThan(10);
    }
  });
});

describe('finalState', () => {
  it('is succeeded for exit code 0', () => {
    expect(finalState({ state: null, exitCode: 0 })).toBe('succeeded');
  });

  it.each([1, 2, 127, 255, -1])('is failed for exit code %i', (exitCode) => {
    expect(finalState({ state: null, exitCode })).toBe('failed');
  });

  it('is failed when the command never exited normally', () => {
    expect(finalState({ state: null, exitCode: null })).toBe('failed');
  });

  it.each(['timed_out', 'canceled', 'failed'] as const)('is the agent’s explicit state %s', (state) => {
    expect(finalState({ state, exitCode: 0 })).toBe(state);
  });
});

describe('finishTask', () => {
  const NOW = new Date('2026-11-28T10:05:00.000Z');
  const AGENT = 'a1';
  const input = (overrides: Partial<FinishInput> = {}): FinishInput => ({
    ...parse(VALID, { 'x-lease-token': LEASE_TOKEN }),
    ...overrides,
  });
  /** The row as the finish leaves it (what the update returns). */
  const ended = (i: FinishInput, overrides: Partial<TaskRow> = {}): TaskRow =>
    buildRunningRow(AGENT, NOW, {
      state: 'succeeded',
      exit_code: i.exitCode,
      stdout: i.stdout,
      stderr: i.stderr,
      finish_hash: i.bodyHash,
      finished_at: NOW,
      lease_expires_at: null,
      deadline_at: null,
      ...overrides,
    });
  const deps = (db: ReturnType<typeof fakeDb>, env: Record<string, string> = {}) => ({
    db,
    now: () => NOW,
    config: loadConfig(env),
    log: recordingLog(),
    metrics: createMetrics(),
  });

  it("ends the running task with the agent's result, lease token and body hash, and answers it", async () => {
    const i = input();
    const db = fakeDb({ endRunningTask: [ended(i)] });
    const task = await finishTask(deps(db), ID, AGENT, i);
    expect(task).toMatchObject({ id: ID, state: 'succeeded', exitCode: 0, stdout: 'hello\n', stderr: '' });
    expect(db.calls).toEqual([
      {
        statement: 'endRunningTask',
        params: [ID, AGENT, LEASE_TOKEN, 'succeeded', 0, 'hello\n', '', false, null, i.bodyHash, NOW],
      },
    ]);
  });

  it('caps each stream at OUTPUT_LIMIT_BYTES again, head and tail, and marks the task outputTruncated', async () => {
    const i = input({ stdout: `${'a'.repeat(3000)}${'z'.repeat(3000)}`, stderr: 'e'.repeat(1024) });
    const db = fakeDb({ endRunningTask: (params) => [ended(i, { stdout: params[5] as string, output_truncated: true })] });
    await finishTask(deps(db, { OUTPUT_LIMIT_BYTES: '1024' }), ID, AGENT, i);
    const [params] = db.callsOf('endRunningTask') as unknown[][];
    const stdout = params?.[5] as string;
    expect(Buffer.byteLength(stdout)).toBeLessThanOrEqual(1024);
    expect(stdout.startsWith('aaa')).toBe(true);
    expect(stdout.endsWith('zzz')).toBe(true);
    expect(stdout).toMatch(/bytes omitted/);
    // a stream exactly at the limit is kept whole
    expect(params?.[6]).toBe('e'.repeat(1024));
    expect(params?.[7]).toBe(true);
  });

  it('answers an identical retry from the same agent with the task as it ended (200 again), changing nothing', async () => {
    const i = input();
    const db = fakeDb({ endRunningTask: [], endRunningTaskWithOutput: [], selectTask: [ended(i)] });
    const task = await finishTask(deps(db), ID, AGENT, i);
    expect(task).toMatchObject({ id: ID, state: 'succeeded', stdout: 'hello\n' });
    expect(db.calls.map((c) => c.statement)).toEqual(['endRunningTask', 'endRunningTaskWithOutput', 'selectTask']);
  });

  it.each([
    ['another agent holds the running task', { agent_id: 'a2', state: 'running', finish_hash: null }, /held by another agent/],
    [
      "the lease token is not the task's current one",
      { state: 'running', finish_hash: null, lease_token: '11111111-2222-4333-8444-555555555555' },
      /stale/,
    ],
    ['the task already ended with another result', { state: 'succeeded', finish_hash: 'another body' }, /is succeeded, not running/],
    ['another agent sends the same body to an ended task', { state: 'failed', agent_id: 'a2' }, /is failed, not running/],
  ] as const)('answers 409 when %s', async (_when, current, detail) => {
    const i = input();
    const row = { ...ended(i), ...current } as TaskRow;
    const db = fakeDb({ endRunningTask: [], endRunningTaskWithOutput: [], selectTask: [row] });
    await expect(finishTask(deps(db), ID, AGENT, i)).rejects.toMatchObject({ status: 409, message: expect.stringMatching(detail) });
  });

  it('answers 409 stale without touching the task when the lease token is not a UUID', async () => {
    const i = input({ leaseToken: 'pick' });
    const db = fakeDb({ selectTask: [buildRunningRow(AGENT, NOW)] });
    await expect(finishTask(deps(db), ID, AGENT, i)).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/stale/) });
    expect(db.calls.map((c) => c.statement)).toEqual(['selectTask']);
  });

  it('answers 404 for a task that does not exist', async () => {
    const db = fakeDb({ endRunningTask: [], endRunningTaskWithOutput: [], selectTask: [] });
    await expect(finishTask(deps(db), ID, AGENT, input())).rejects.toMatchObject({ status: 404 });
  });
});
