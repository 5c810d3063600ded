/**
 * What a schedule tick costs the database: `tsx bench/schedule-ticks.ts [schedules]` on a scratch
 * PostgreSQL (TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres): N every-second
 * schedules, 50 rounds with the clock moved a second each, then EXPLAIN ANALYZE of both statements.
 */
import { migrate } from '../functions/shared/db/migrate';
import { openPostgres } from '../functions/shared/db/postgres';
import { insertSchedule } from '../functions/shared/db/schedules';
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
    query: (text: string, params?: readonly unknown[], name?: string) => ((statements += 1), db.query(text, params, name)),
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
    const next = new Date(new Date(row.next_run_at).getTime() + 1000);
    console.log(
      await plan(
        `with claimed as (update schedules set next_run_at = $5::timestamptz, last_run_at = $4::timestamptz, skipped_ticks = skipped_ticks + 0
          where id = $1::uuid and next_run_at = $2::timestamptz and revision = $3::int and not paused returning *),
         inserted as (insert into tasks (id, command, timeout_seconds, max_attempts, created_at, schedule_id, scheduled_for)
          select gen_random_uuid(), c.command, c.timeout_seconds, 1, $4::timestamptz, c.id, $2::timestamptz from claimed c
          on conflict (schedule_id, scheduled_for) do nothing returning id)
         select (select id from inserted) as task_id from claimed`,
        [row.id, row.next_run_at, row.revision, now, next],
      ),
    );
  } finally {
    await db.close();
    await scratch.drop();
  }
}

void main();
