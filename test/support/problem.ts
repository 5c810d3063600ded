import type { Reply } from './server';

/** Asserts an RFC 9457 problem answer with this status (and, optionally, a detail matching `detail`). */
export function expectProblem(reply: Reply, status: number, detail?: RegExp): void {
  expect(reply.status).toBe(status);
  expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(reply.body).toEqual({
    type: expect.stringMatching(/\S/),
    title: expect.stringMatching(/\S/),
    status,
    detail: expect.stringMatching(detail ?? /\S/),
  });
}
