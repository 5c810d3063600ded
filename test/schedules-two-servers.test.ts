/**
 * Two servers, each with its own pool and its own schedule timer, on one real PostgreSQL: a
 * 1-second schedule ticked by both for 20 s (real time: this is the one test that waits, as the
 * claim race is what it checks) makes exactly one task per tick, and every tick has its task:
 * a round that comes late on a loaded box creates the ticks it reached late, it skips none.
 */
import type { Schedule } from '../contract/schedule';
import type { RunningServer } from '../infra/local/server';
import { describeUnless } from './support/conditional';
import { call, startServersOnOneDatabase } from './support/server';

const url = process.env.TEST_DATABASE_URL;
const RUN_SECONDS = 20;

describeUnless(url ? null : 'TEST_DATABASE_URL is not set: the two-server schedule test needs a real PostgreSQL')(
  'a 1-second schedule on two servers sharing one PostgreSQL',
  () => {
    let cluster: Awaited<ReturnType<typeof startServersOnOneDatabase>> | undefined;
    let servers: RunningServer[] = [];

    beforeAll(async () => {
      cluster = await startServersOnOneDatabase(url as string, 2);
      servers = cluster.servers;
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it(`makes exactly one task per tick over ${RUN_SECONDS} s, and skips none`, async () => {
      const [a, b] = servers as [RunningServer, RunningServer];
      const created = await call(a.url, 'POST', '/schedules', { body: { name: 'every-second', cron: '* * * * * *', command: 'true' } });
      expect(created.status).toBe(201);
      const s = created.body as Schedule;
      await new Promise((r) => setTimeout(r, RUN_SECONDS * 1000));
      const paused = await call(b.url, 'PATCH', `/schedules/${s.id}`, { body: { paused: true } });
      expect(paused.status).toBe(200);

      const rows = await a.db.query<{ scheduled_for: Date; n: number }>(
        'select scheduled_for, count(*)::int as n from tasks where schedule_id = $1::uuid group by scheduled_for order by scheduled_for',
        [s.id],
      );
      const skipped = (paused.body as Schedule).skippedTicks;
      const ticks = rows.map((r) => new Date(r.scheduled_for).getTime());
      // one task per tick
      expect(rows.every((r) => r.n === 1)).toBe(true);
      // every second from the first tick to the last has its task: both timers ran all along, so
      // a round late by more than a period (a loaded 2-core box) still creates each tick
      const first = Date.parse(s.nextRunAt as string);
      const last = ticks[ticks.length - 1] as number;
      const report =
        `two servers, ${RUN_SECONDS} s of a 1-second schedule: ${ticks.length} tasks, ${skipped} ticks skipped; ` +
        `created by A ${a.scheduleTicks.created}, by B ${b.scheduleTicks.created}; claims lost A ${a.scheduleTicks.lost}, B ${b.scheduleTicks.lost}; ` +
        `rounds A ${a.scheduleTicks.rounds}, B ${b.scheduleTicks.rounds}`;
      console.log(report);
      expect(skipped).toBe(0);
      expect((last - first) / 1000 + 1).toBe(ticks.length);
      expect(ticks.length).toBeGreaterThanOrEqual(RUN_SECONDS - 2);
      expect(ticks.every((t) => t % 1000 === 0)).toBe(true);
      // both timers raced for the ticks: between them they created each once
      expect(a.scheduleTicks.created + b.scheduleTicks.created).toBe(ticks.length);
      expect(a.scheduleTicks.lost + b.scheduleTicks.lost).toBeGreaterThan(0);
    }, 60_000);
  },
);
