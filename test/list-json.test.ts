/**
 * GET /tasks pages, and the answers of create and pick, are written by the database (db/tasks.ts,
 * taskJsonSql): each task's JSON must be the very bytes JSON.stringify(toTask(row)) gives for the
 * same row (for a list read the way a list reads it: command cut, no output, no usage), whatever
 * the values hold, on both stores and in any session time zone.
 */
import { randomUUID } from 'node:crypto';
import { LIST_COMMAND_MAX_CHARS } from '../contract/http';
import type { Db, Queryable } from '../functions/shared/db/db';
import { claimNextQueuedTask, insertTask, selectTaskPage, TASK_JSON, type TaskRow, toTask } from '../functions/shared/db/tasks';
import { stores } from './support/databases';

/** Strings JSON must escape (quotes, backslashes, every control character) and some it need not. */
const TRICKY = [
  'plain',
  'say "hi" \\ back\\slash /slash',
  Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join(''), // NUL cannot be stored
  '\u007f DEL, \u2028 line and \u2029 paragraph separators, \u00e9t\u00e9, 日本語, 😀 (astral)',
  '',
];

/** The task as the list's JavaScript path wrote it before the database did. */
async function expectedJson(q: Queryable, id: string): Promise<string> {
  const [row] = await q.query<TaskRow>(
    `select *, left(command, $2::int) as command, char_length(command) > $2::int as command_truncated from tasks where id = $1::uuid`,
    [id, LIST_COMMAND_MAX_CHARS],
  );
  const {
    stdout: _o,
    stderr: _e,
    usage_cpu_user_seconds: _u,
    usage_cpu_system_seconds: _s,
    usage_max_rss_bytes: _r,
    ...listRow
  } = row as TaskRow;
  return JSON.stringify(toTask(listRow as TaskRow));
}

/** A task's own answer as the JavaScript path writes it from `select *`. */
async function expectedFullJson(q: Queryable, id: string): Promise<string> {
  const [row] = await q.query<TaskRow>('select * from tasks where id = $1::uuid', [id]);
  return JSON.stringify(toTask(row as TaskRow));
}

const fullJsonOf = async (q: Queryable, id: string) =>
  ((await q.query<{ json: string }>(`select ${TASK_JSON} as json from tasks where id = $1::uuid`, [id]))[0] as { json: string }).json;

describe.each(stores)('list pages written by the database on $name', (store) => {
  let db: Db;
  const ids: string[] = [];
  beforeAll(async () => {
    db = await store.open();
    const now = new Date('2026-12-02T10:20:30.456Z');
    const commands = [
      ...TRICKY,
      'x'.repeat(LIST_COMMAND_MAX_CHARS),
      'y'.repeat(LIST_COMMAND_MAX_CHARS + 1),
      `${'é'.repeat(LIST_COMMAND_MAX_CHARS)}z`,
    ];
    for (const [i, command] of commands.entries()) {
      const id = randomUUID();
      ids.push(id);
      await insertTask(db, {
        id,
        command,
        timeoutSeconds: 1 + i,
        maxAttempts: 1 + (i % 3),
        idempotencyKey: null,
        requestHash: null,
        priority: i % 2 === 0 ? -i : i * 100,
        labels: i % 3 === 0 ? [] : ['gpu', TRICKY[i % TRICKY.length] || 'x'].sort(),
        runAt: i === 1 ? new Date(now.getTime() + 3600_000) : null,
        now: new Date(now.getTime() + i),
      });
      // Every column the resource shows, set for some tasks and null for others.
      if (i % 2 === 1) {
        await db.query(
          `update tasks set state = 'failed', exit_code = $2::int, error = $3::text, agent_id = $4::text, attempts = 2,
                  cancel_requested = true, output_truncated = true, started_at = $5::timestamptz, finished_at = $6::timestamptz,
                  stdout = 'out', stderr = 'err', usage_cpu_user_seconds = 0.5, usage_max_rss_bytes = 1024
            where id = $1::uuid`,
          [
            id,
            i === 3 ? -1 : 255,
            TRICKY[i % TRICKY.length],
            `agent "${i}" \\ ${TRICKY[2]}`,
            new Date(now.getTime() + 999),
            new Date(now.getTime() + 1000 * i + 1),
          ],
        );
      }
      if (i % 4 === 2) {
        await db.query(`update tasks set schedule_id = $2::uuid, scheduled_for = $3::timestamptz where id = $1::uuid`, [
          id,
          randomUUID(),
          new Date(Date.UTC(2026, 11, 31, 23, 59, 59, 7)),
        ]);
      }
    }
  });
  afterAll(async () => {
    await db.close();
  });

  it('writes each task as JSON.stringify(toTask(row)) writes it, byte for byte', async () => {
    const page = await selectTaskPage(db, { states: null, beforeSeq: null, limit: 100 });
    expect(page).toHaveLength(ids.length);
    for (const row of page) {
      const { id } = JSON.parse(row.json) as { id: string };
      expect(row.json).toBe(await expectedJson(db, id));
    }
    // and the mix above did reach the interesting cases
    const tasks = page.map((r) => JSON.parse(r.json) as Record<string, unknown>);
    expect(tasks.filter((t) => t.commandTruncated === true)).toHaveLength(2);
    expect(tasks.filter((t) => typeof t.scheduleId === 'string').length).toBeGreaterThan(0);
    expect(tasks.filter((t) => t.exitCode === null).length).toBeGreaterThan(0);
    expect(tasks.filter((t) => t.exitCode === -1)).toHaveLength(1);
    expect(tasks.every((t) => !('stdout' in t) && !('usage' in t))).toBe(true);
  });

  it('writes UTC timestamps whatever the session time zone', async () => {
    const rows = await db.tx(async (q) => {
      await q.query(`select set_config('TimeZone', 'Asia/Kathmandu', true)`);
      return selectTaskPage(q, { states: null, beforeSeq: null, limit: 100 });
    });
    for (const row of rows) {
      const { id } = JSON.parse(row.json) as { id: string };
      expect(row.json).toBe(await expectedJson(db, id));
      expect(row.json).toMatch(/"createdAt":"2026-12-02T10:20:30\.4\d\dZ"/);
    }
  });

  it("writes a task's own answer (create, pick) as JSON.stringify(toTask(row)) writes it, byte for byte", async () => {
    for (const id of ids) expect(await fullJsonOf(db, id)).toBe(await expectedFullJson(db, id));
    const answers = await Promise.all(ids.map(async (id) => JSON.parse(await fullJsonOf(db, id)) as Record<string, unknown>));
    expect(answers.filter((t) => t.usage !== null).length).toBeGreaterThan(0);
    expect(answers.filter((t) => t.stdout === 'out').length).toBeGreaterThan(0);
    expect(answers.every((t) => typeof t.stdout === 'string' && typeof t.stderr === 'string')).toBe(true);
  });

  it('writes usage floats as PostgreSQL spells them: the same JSON numbers, maybe other digits', async () => {
    const id = ids[1] as string;
    await db.query('update tasks set usage_cpu_user_seconds = 0.00005, usage_cpu_system_seconds = 1e21 where id = $1::uuid', [id]);
    const json = await fullJsonOf(db, id);
    expect(JSON.parse(json)).toEqual(JSON.parse(await expectedFullJson(db, id)));
    expect((JSON.parse(json) as { usage: unknown }).usage).toEqual({ cpuUserSeconds: 0.00005, cpuSystemSeconds: 1e21, maxRssBytes: 1024 });
  });

  it('answers a create and a claim with the task as toTask writes it from the stored row', async () => {
    const created = await insertTask(db, {
      id: randomUUID(),
      command: TRICKY[3] as string,
      timeoutSeconds: 5,
      maxAttempts: 2,
      idempotencyKey: 'list-json-key',
      requestHash: 'h',
      priority: 7,
      labels: ['zz-only-here'],
      runAt: null,
      now: new Date('2026-12-02T10:20:31.001Z'),
    });
    expect(created).not.toBeNull();
    expect(created?.json).toBe(await expectedFullJson(db, created?.id as string));
    const claimed = await claimNextQueuedTask(db, {
      agentId: 'agent "json" \\',
      leaseToken: randomUUID(),
      leaseSeconds: 30,
      deadlineGraceSeconds: 30,
      agentLabels: ['zz-only-here'],
      now: new Date('2026-12-02T10:20:32.002Z'),
    });
    expect(claimed?.id).toBe(created?.id);
    expect(claimed?.json).toBe(await expectedFullJson(db, created?.id as string));
    expect(JSON.parse(claimed?.json as string)).toMatchObject({ state: 'running', agentId: 'agent "json" \\', attempts: 1 });
    expect(claimed?.lease_expires_at).toBe('2026-12-02T10:21:02.002Z');
  });
});
