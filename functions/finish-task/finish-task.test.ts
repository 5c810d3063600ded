import { AGENT_BODY_LIMIT } from '../../contract/http';
import { buildEvent } from '../../test/support/events';
import { HttpError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../shared/errors';
import { finalState, parseFinishRequest } from './finish-task';

const ID = '0b8a3c52-8d2e-4f55-9a53-6f0f1a6a2d11';
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
