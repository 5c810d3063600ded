import type { RawReply } from './raw-http';
import type { Reply } from './server';

/** A handler's result as Lambda returns it (API Gateway payload v2). */
export type LambdaAnswer = { statusCode?: number; headers?: Record<string, unknown>; body?: string };

/** Any answer the tests see: from call(), from rawRequest(), or a handler's Lambda result. */
export type Answer = Reply | RawReply | LambdaAnswer;

/** The status, Content-Type and parsed body of any kind of answer. */
export function answerParts(answer: Answer): { status: number | undefined; contentType: string; body: unknown } {
  if ('statusCode' in answer || !('status' in answer)) {
    let body: unknown;
    try {
      body = answer.body === undefined || answer.body === '' ? undefined : JSON.parse(answer.body);
    } catch {
      body = answer.body;
    }
    return { status: answer.statusCode, contentType: String(answer.headers?.['content-type'] ?? ''), body };
  }
  if (answer.headers instanceof Headers) {
    return { status: answer.status, contentType: answer.headers.get('content-type') ?? '', body: (answer as Reply).body };
  }
  const raw = answer as RawReply;
  return { status: raw.status, contentType: raw.headers['content-type'] ?? '', body: raw.json };
}

/**
 * Asserts an RFC 9457 problem answer with this status (and, optionally, a detail matching
 * `detail`): problem+json, and a body of exactly type, title, status and detail.
 */
export function expectProblem(reply: Answer, status: number, detail?: RegExp): void {
  const { status: got, contentType, body } = answerParts(reply);
  expect(got).toBe(status);
  expect(contentType).toMatch(/^application\/problem\+json/);
  expect(body).toEqual({
    type: expect.stringMatching(/\S/),
    title: expect.stringMatching(/\S/),
    status,
    detail: expect.stringMatching(detail ?? /\S/),
  });
}
