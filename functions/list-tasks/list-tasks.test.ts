import { DEFAULT_LIST_LIMIT, LIST_COMMAND_MAX_CHARS, MAX_LIST_LIMIT } from '../../contract/http';
import type { TaskPage } from '../../contract/task';
import { buildEvent } from '../../test/support/events';
import { fakeDb } from '../../test/support/fakes';
import { buildTaskRow } from '../../test/support/tasks';
import { type TaskPageRow, type TaskRow, toTask } from '../shared/db/tasks';
import { ValidationError } from '../shared/errors';
import { decodeCursor, encodeCursor, listTasks, parseListTasksRequest } from './list-tasks';

const parse = (query: Record<string, string | string[]>) => parseListTasksRequest(buildEvent({ path: '/tasks', query }));

/** A list row with this seq: its task as the database writes it (no output), here by toTask. */
const row = (seq: number, overrides: Partial<TaskRow> = {}): TaskPageRow => {
  const task = buildTaskRow({
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    seq: String(seq),
    command: `echo ${seq}`,
    stdout: undefined,
    stderr: undefined,
    ...overrides,
  });
  return { seq: String(seq), json: JSON.stringify(toTask(task)) };
};
const list = async (...args: Parameters<typeof listTasks>): Promise<TaskPage> => JSON.parse(await listTasks(...args)) as TaskPage;

describe('the list cursor', () => {
  it.each(['1', '42', '999999999999999999'])('decodes what it encodes (seq %s)', (seq) => {
    expect(decodeCursor(encodeCursor(seq))).toBe(seq);
  });

  it('is opaque: neither the seq nor a version shows in it', () => {
    const cursor = encodeCursor('12345');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('12345');
  });

  const b64 = (s: string) => Buffer.from(s).toString('base64url');
  it.each([
    ['an empty string', ''],
    ['plain text', 'not-a-cursor'],
    ['a bare number', '42'],
    ['another version', b64('v2:42')],
    ['a seq that is not a number', b64('v1:abc')],
    ['a zero seq', b64('v1:0')],
    ['a negative seq', b64('v1:-5')],
    ['a leading zero', b64('v1:042')],
    ['a seq too large for bigint', b64('v1:99999999999999999999')],
    ['SQL', b64('v1:1; drop table tasks')],
    ['standard base64 padding', `${Buffer.from('v1:42').toString('base64')}=`],
    ['characters outside base64url', 'djE6NDI+/'],
    ['a very long value', 'A'.repeat(5000)],
    ['a changed last character that decodes the same', `${encodeCursor('5').slice(0, -1)}R`],
  ])('rejects %s with a ValidationError', (_what, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(ValidationError);
  });
});

describe('parseListTasksRequest', () => {
  it('defaults to every state, the first page and the default limit', () => {
    expect(parse({})).toEqual({ states: null, labels: null, limit: DEFAULT_LIST_LIMIT, beforeSeq: null });
  });

  it('reads one state', () => {
    expect(parse({ state: 'queued' }).states).toEqual(['queued']);
  });

  it('reads comma-separated states', () => {
    expect(parse({ state: 'queued,running' }).states).toEqual(['queued', 'running']);
  });

  it('reads repeated states', () => {
    expect(parse({ state: ['queued', 'failed'] }).states).toEqual(['queued', 'failed']);
  });

  it('reads API Gateway comma-joined states when there is no raw query string', () => {
    const event = buildEvent({ path: '/tasks' });
    event.rawQueryString = '';
    event.queryStringParameters = { state: 'succeeded,timed_out' };
    expect(parseListTasksRequest(event).states).toEqual(['succeeded', 'timed_out']);
  });

  it('drops repeated states', () => {
    expect(parse({ state: ['queued', 'queued,queued'] }).states).toEqual(['queued']);
  });

  it.each(['done', 'QUEUED', '', 'queued,', 'queued,nope'])('rejects state %j', (state) => {
    expect(() => parse({ state })).toThrow(ValidationError);
  });

  it.each(['1', '50', String(MAX_LIST_LIMIT)])('reads limit %s', (limit) => {
    expect(parse({ limit }).limit).toBe(Number(limit));
  });

  it.each(['0', String(MAX_LIST_LIMIT + 1), 'abc', '1.5', '-1', '', ' 5', '1e2', '10000000000'])('rejects limit %j', (limit) => {
    expect(() => parse({ limit })).toThrow(ValidationError);
  });

  it('rejects a repeated limit', () => {
    expect(() => parse({ limit: ['5', '6'] })).toThrow(ValidationError);
  });

  it('reads a cursor', () => {
    expect(parse({ cursor: encodeCursor('77') }).beforeSeq).toBe('77');
  });

  it('rejects a tampered cursor', () => {
    expect(() => parse({ cursor: 'tampered' })).toThrow(ValidationError);
  });

  it('rejects an unknown parameter, naming it', () => {
    expect(() => parse({ status: 'queued' })).toThrow(/"status"/);
  });
});

describe('listTasks', () => {
  it('returns the page without output and no cursor when nothing follows', async () => {
    const db = fakeDb({ selectTaskPage: [row(3), row(2)] });
    const page = await list({ db }, { states: null, beforeSeq: null, limit: 2 });
    expect(page.tasks.map((t) => t.command)).toEqual(['echo 3', 'echo 2']);
    expect(page.nextCursor).toBeNull();
    expect(page.tasks[0]).not.toHaveProperty('stdout');
    expect(page.tasks[0]).not.toHaveProperty('stderr');
  });

  it('asks for one row more than the limit and returns a cursor at the last task shown', async () => {
    const db = fakeDb({ selectTaskPage: [row(9), row(8), row(7)] });
    const page = await list({ db }, { states: ['queued'], beforeSeq: '10', limit: 2 });
    expect(db.calls).toEqual([{ statement: 'selectTaskPage', params: [['queued'], '10', 3, LIST_COMMAND_MAX_CHARS, null] }]);
    expect(page.tasks).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor as string)).toBe('8');
  });

  it('flags a command the query cut, and leaves the flag out of the others', async () => {
    const db = fakeDb({ selectTaskPage: [row(2, { command: 'x'.repeat(LIST_COMMAND_MAX_CHARS), command_truncated: true }), row(1)] });
    const page = await list({ db }, { states: null, beforeSeq: null, limit: 2 });
    expect(page.tasks[0]).toMatchObject({ command: 'x'.repeat(LIST_COMMAND_MAX_CHARS), commandTruncated: true });
    expect(page.tasks[1]).not.toHaveProperty('commandTruncated');
  });

  it('ends the page before its JSON passes the byte budget, with a cursor at the last task that fitted', async () => {
    const rows = [5, 4, 3, 2, 1].map((seq) => row(seq, { error: '\u0001'.repeat(100) }));
    const db = fakeDb({ selectTaskPage: rows });
    const one = Buffer.byteLength(JSON.stringify((await list({ db }, { states: null, beforeSeq: null, limit: 1 })).tasks[0]));
    const page = await list({ db }, { states: null, beforeSeq: null, limit: 5 }, 64 + 2.5 * (one + 1));
    expect(page.tasks.map((t) => t.id)).toEqual(rows.slice(0, 2).map((r) => (JSON.parse(r.json) as { id: string }).id));
    expect(decodeCursor(page.nextCursor as string)).toBe('4');
    expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(64 + 2.5 * (one + 1));
  });

  it('always returns one task, however large', async () => {
    const db = fakeDb({ selectTaskPage: [row(2), row(1)] });
    const page = await list({ db }, { states: null, beforeSeq: null, limit: 2 }, 10);
    expect(page.tasks).toHaveLength(1);
    expect(decodeCursor(page.nextCursor as string)).toBe('2');
  });
});
