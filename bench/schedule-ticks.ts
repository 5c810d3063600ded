/**
 * What a schedule tick costs the database: `tsx bench/schedule-ticks.ts [schedules]` on a scratch
 * PostgreSQL (TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres): N every-second
 * schedules, 50 rounds with the clock moved a second each, then EXPLAIN ANALYZE of both statements.
 */
import { migrate } from '../functions/shared/db/migrate';
import { openPostgres } from '../functions/shared/db/postgres';
import { claimScheduleTick, insertSchedule } from '../functions/shared/db/schedules';
import { runScheduleTicks } from '../functions/shared/schedule-ticks';
import { createScratchDatabase } from '../test/support/scratch-database';

const admin = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const count = Number(process.argv[2] ?? 10);
const ROUNDS = 50;

async function main(): Promise<void> {
  const scratch = await createScratchDatabase(admin, { prefix: 'te_bench_ticks' });
  const db = openPostgres({ kind: 'postgres', connectionString: scratch.url }, { poolMax: 2 });
  let statements = 0;
  const counted = {
    ...db,
    query: (text: string, params?: readonly unknown[], name?: string) => {
      statements += 1;
      return db.query(text, params, name);
    },
  };
  try {
    await migrate(db);
    let now = new Date(Date.UTC(2027, 0, 1, 0, 0, 0));
    for (let i = 0; i < count; i++) {
      await insertSchedule(db, {
        id: crypto.randomUUID(),
        name: `bench-${i}`,
        cron: '* * * * * *',
        timezone: 'UTC',
        command: 'true',
        timeoutSeconds: 60,
        priority: 0,
        labels: [],
        paused: false,
        nextRunAt: new Date(now.getTime() + 1000),
        now,
      });
    }
    const log = { debug() {}, info() {}, warn() {}, error() {}, appendKeys() {} };
    let created = 0;
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < ROUNDS; r++) {
      now = new Date(now.getTime() + 1000);
      const at = now;
      created += (await runScheduleTicks({ db: counted as typeof db, now: () => at, log }, { lookaheadMs: 1000 })).created;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(
      `${count} schedules, ${ROUNDS} rounds: ${created} tasks, ${statements} statements (${(statements / created).toFixed(2)} per tick), ${(ms / ROUNDS).toFixed(2)} ms per round, ${(ms / created).toFixed(3)} ms per tick`,
    );
    const row = (
      await db.query<{ id: string; next_run_at: Date; revision: number }>('select id, next_run_at, revision from schedules limit 1')
    )[0];
    if (row === undefined) return;
    const plan = async (sql: string, params: unknown[]) =>
      (await db.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${sql}`, params)).map((p) => p['QUERY PLAN']).join('\n');
    console.log(await plan('select * from schedules where next_run_at <= $1::timestamptz order by next_run_at limit 100', [now]));
    // The production statement, explained: the recorder runs it under EXPLAIN ANALYZE.
    const explaining = {
      query: async <R>(text: string, params?: readonly unknown[]) => {
        console.log(await plan(text, [...(params ?? [])]));
        return [] as R[];
      },
    };
    await claimScheduleTick(explaining, {
      scheduleId: row.id,
      dueAt: row.next_run_at,
      revision: row.revision,
      runFor: row.next_run_at,
      nextRunAt: new Date(new Date(row.next_run_at).getTime() + 1000),
      skipped: 0,
      taskId: crypto.randomUUID(),
      now,
    });
  } finally {
    await db.close();
    await scratch.drop();
  }
}

void main();
