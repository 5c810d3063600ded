/**
 * Named statements (the third argument of Db.query), on every store: `pg` prepares them per
 * connection, and the embedded store prepares them in PGlite and sends each call as one
 * Bind/Execute (functions/shared/db/embedded.ts). Either way a named statement must answer as
 * the same text unnamed does, keep its errors, respect transactions and wake listeners.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../functions/shared/db/db';
import { ValidationError } from '../functions/shared/errors';
import { stores } from './support/databases';

const TYPED = `select $1::uuid as id, $2::text[] as labels, $3::timestamptz as at, $4::jsonb as doc,
  $5::int8 as big, $6::int4 as small, $7::text as absent, $8::bool as flag`;

describe.each(stores)('named statements on $name', (store) => {
  let db: Db;
  beforeAll(async () => {
    db = await store.open();
    await db.exec('create table named_probe (id int primary key, note text not null)');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('answers as the same text unnamed: every parameter and column type, nulls, twice', async () => {
    const at = new Date('2026-12-03T10:00:00.123Z');
    const params = [randomUUID(), ['a', 'b c', 'd"e'], at, { k: [1, 'x'] }, '9007199254740993', 42, null, true];
    const unnamed = await db.query(TYPED, params);
    const first = await db.query(TYPED, params, 'te_test_typed');
    const again = await db.query(TYPED, [randomUUID(), [], at, null, '-1', 0, 'here', false], 'te_test_typed');
    expect(first).toEqual(unnamed);
    expect(first[0]).toEqual({
      id: params[0],
      labels: ['a', 'b c', 'd"e'],
      at,
      doc: { k: [1, 'x'] },
      big: '9007199254740993',
      small: 42,
      absent: null,
      flag: true,
    });
    expect(again[0]).toMatchObject({ labels: [], doc: null, big: '-1', small: 0, absent: 'here', flag: false });
  });

  it('returns no rows for a statement without RETURNING, and every row of one with it', async () => {
    expect(await db.query('insert into named_probe values ($1::int, $2::text)', [1, 'one'], 'te_test_insert')).toEqual([]);
    await db.query('insert into named_probe values ($1::int, $2::text)', [2, 'two'], 'te_test_insert');
    const rows = await db.query('select id, note from named_probe where id = any($1::int[]) order by id', [[1, 2, 3]], 'te_test_any');
    expect(rows).toEqual([
      { id: 1, note: 'one' },
      { id: 2, note: 'two' },
    ]);
  });

  it('keeps its errors: a bad value is a 400, a conflict keeps its SQLSTATE, and the statement still works after', async () => {
    await expect(db.query('select $1::uuid as id', ['not-a-uuid'], 'te_test_uuid')).rejects.toBeInstanceOf(ValidationError);
    const id = randomUUID();
    expect(await db.query('select $1::uuid as id', [id], 'te_test_uuid')).toEqual([{ id }]);
    await expect(db.query('insert into named_probe values ($1::int, $2::text)', [1, 'again'], 'te_test_insert')).rejects.toMatchObject({
      code: '23505',
    });
    await expect(db.query('select nosuchcolumn from named_probe', [], 'te_test_broken')).rejects.toMatchObject({ code: '42703' });
    expect(await db.query('select count(*)::int as n from named_probe', [], 'te_test_count')).toEqual([{ n: 2 }]);
  });

  it('runs inside a transaction: sees its writes, rolls back with it, and nothing outside joins it', async () => {
    let outsideSaw: unknown[] | undefined;
    let outside: Promise<void> | undefined;
    await expect(
      db.tx(async (q) => {
        await q.query('insert into named_probe values ($1::int, $2::text)', [10, 'ten'], 'te_test_insert');
        const inside = await q.query('select note from named_probe where id = $1::int', [10], 'te_test_note');
        expect(inside).toEqual([{ note: 'ten' }]);
        // A query outside the transaction, issued while it is open, waits for it (embedded) or
        // runs on another connection (PostgreSQL): either way it cannot see row 10 yet.
        outside = db.query('select note from named_probe where id = $1::int', [10], 'te_test_note').then((rows) => {
          outsideSaw = rows;
        });
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (store.name === 'pglite') expect(outsideSaw).toBeUndefined();
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    await outside;
    expect(outsideSaw).toEqual([]);
    expect(await db.query('select note from named_probe where id = $1::int', [10], 'te_test_note')).toEqual([]);
  });

  it('answers 200 callers at once, each its own row', async () => {
    const ids = Array.from({ length: 200 }, () => randomUUID());
    const answers = await Promise.all(
      ids.map((id, i) =>
        i % 10 === 0
          ? db.tx((q) => q.query<{ id: string }>('select $1::uuid as id', [id], 'te_test_uuid'))
          : db.query<{ id: string }>('select $1::uuid as id', [id], 'te_test_uuid'),
      ),
    );
    expect(answers.map((rows) => rows[0]?.id)).toEqual(ids);
  });

  it('wakes a listener when it notifies', async () => {
    const heard: string[] = [];
    const unlisten = await db.listen(
      'named_probe',
      (payload) => heard.push(payload),
      () => {},
    );
    try {
      await db.query("select pg_notify('named_probe', $1::text)", ['hello'], 'te_test_notify');
      for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(heard).toEqual(['hello']);
    } finally {
      await unlisten();
    }
  });

  it('is prepared once and kept by the database (embedded: PGlite has one session)', async () => {
    await db.query('select $1::int + 1 as n', [1], 'te_test_kept');
    await db.query('select $1::int + 1 as n', [2], 'te_test_kept');
    const kept = await db.query<{ name: string; calls: string }>(
      'select name, (generic_plans + custom_plans)::text as calls from pg_prepared_statements where name = $1::text',
      ['te_test_kept'],
    );
    // On PostgreSQL the pool's two calls may have gone to two connections, each with its own.
    if (store.name === 'pglite') expect(kept).toEqual([{ name: 'te_test_kept', calls: '2' }]);
    else expect(kept.length).toBeLessThanOrEqual(1);
  });

  it('refuses one name for two texts', async () => {
    await db.query('select 1 as one', [], 'te_test_twice');
    await expect(db.query('select 2 as two', [], 'te_test_twice')).rejects.toThrow();
  });
});

describe('a named statement on a closed embedded store', () => {
  it('is refused as the database being unavailable, not a crash', async () => {
    const store = stores[0];
    if (store === undefined) throw new Error('no store');
    const db = await store.open();
    expect(await db.query('select 1 as one', [], 'te_test_closed')).toEqual([{ one: 1 }]);
    await db.close();
    await expect(db.query('select 1 as one', [], 'te_test_closed')).rejects.toMatchObject({ status: 503 });
  });
});
