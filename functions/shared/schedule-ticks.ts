/**
 * Schedule ticks (docs/api.md, Schedules): each due tick of each schedule becomes exactly one task. Run by
 * the local server's timer (infra/local/server.ts, about once a second, waking at the earliest
 * tick) and on Lambda by functions/run-schedules every minute. Any number of them may run at
 * once: a tick is claimed in the database (claimScheduleTick), never in memory.
 */
import { randomUUID } from 'node:crypto';
import { compileCron, resolveDueTicks } from './cron';
import { claimScheduleTick, type ScheduleRow, selectSchedulesDue } from './db/schedules';
import type { Deps } from './deps';
import type { Log } from './logger';

export type TickDeps = Pick<Deps, 'db' | 'now'> & Partial<Pick<Deps, 'metrics'>> & { log: Log };

export type TickRound = {
  /** tasks this round created */
  created: number;
  /** ticks passed over by the missed-tick rule (more than one period late) */
  skipped: number;
  /** due ticks another server (or a PATCH or DELETE) claimed first */
  lost: number;
  /** the round read `limit` schedules: more may be due, run another at once */
  full: boolean;
  /** how long the caller may wait before the next round: until the earliest tick seen, at most `lookaheadMs` */
  waitMs: number;
};

export type TickOptions = {
  /** also read schedules due within this long, to know when to wake (the local timer: 1000) */
  lookaheadMs?: number;
  /** schedules read per round; a full round is followed by another at once */
  limit?: number;
  /**
   * Since when a tick loop has been running (the `now` of this server's previous round; on
   * Lambda the minute before): each due tick from then on gets its task, however late the round
   * that reaches it (up to WATCHED_MAX_MS back). Absent (a first round): every due tick counts as
   * missed (the missed-tick rule).
   */
  watchedSince?: Date | null;
};

/** The least wait between rounds, so a tick a few ms ahead is not spun on. */
const MIN_WAIT_MS = 5;

/**
 * How far back `watchedSince` reaches at most: a round later than this (a suspended machine, a
 * clock set forward) is treated as a server that was down, and the missed-tick rule applies.
 */
export const WATCHED_MAX_MS = 90_000;

/** One round: reads the due schedules and claims each one's due ticks (resolveDueTicks says which). */
export async function runScheduleTicks(deps: TickDeps, options: TickOptions = {}): Promise<TickRound> {
  const lookaheadMs = options.lookaheadMs ?? 0;
  const limit = options.limit ?? 100;
  const now = deps.now();
  const rows = await selectSchedulesDue(deps.db, { until: new Date(now.getTime() + lookaheadMs), limit });
  const round: TickRound = { created: 0, skipped: 0, lost: 0, full: rows.length === limit, waitMs: lookaheadMs };
  const watchedSince =
    options.watchedSince == null ? null : new Date(Math.max(options.watchedSince.getTime(), now.getTime() - WATCHED_MAX_MS));
  let earliest = Number.POSITIVE_INFINITY;
  for (const row of rows) {
    const dueAt = new Date(row.next_run_at as Date);
    if (dueAt.getTime() > now.getTime()) {
      earliest = Math.min(earliest, dueAt.getTime());
      continue;
    }
    const next = await claimTicks(deps, row, dueAt, now, watchedSince, round);
    if (next !== null) earliest = Math.min(earliest, next.getTime());
  }
  if (round.full) round.waitMs = 0;
  else if (Number.isFinite(earliest)) round.waitMs = Math.max(MIN_WAIT_MS, Math.min(lookaheadMs, earliest - deps.now().getTime()));
  return round;
}

/** Claims one schedule's due ticks, one claim each; returns its next tick (null when none, or when a claim was lost). */
async function claimTicks(
  deps: TickDeps,
  row: ScheduleRow,
  dueAt: Date,
  now: Date,
  watchedSince: Date | null,
  round: TickRound,
): Promise<Date | null> {
  let ticks: ReturnType<typeof resolveDueTicks>;
  try {
    ticks = resolveDueTicks(compileCron(row.cron, row.timezone), dueAt, now, watchedSince);
  } catch (error) {
    // Stored definitions were validated; a croner upgrade that reads one differently must not stop the others.
    deps.log.error('schedule cannot be read; its ticks are not created', { scheduleId: row.id, error: (error as Error).message });
    return null;
  }
  // Each claim moves the schedule from the tick it was due at to the next one to create.
  let from = dueAt;
  for (const [i, runFor] of ticks.runFor.entries()) {
    const skipped = i === 0 ? ticks.skipped : 0;
    const nextRunAt = (ticks.runFor[i + 1] ?? ticks.next) as Date;
    const claimed = await claimScheduleTick(deps.db, {
      scheduleId: row.id,
      dueAt: from,
      revision: row.revision,
      runFor,
      nextRunAt,
      skipped,
      taskId: randomUUID(),
      now,
    });
    if (claimed === null) {
      round.lost += 1;
      return null;
    }
    from = nextRunAt;
    if (skipped > 0) {
      round.skipped += skipped;
      deps.metrics?.inc('scheduleTicksSkipped', {}, skipped);
      deps.log.warn('schedule ticks skipped: missed while no server ran them', {
        scheduleId: row.id,
        skipped,
        from: dueAt.toISOString(),
        created: runFor.toISOString(),
      });
    }
    if (claimed.task_id !== null) {
      round.created += 1;
      deps.metrics?.inc('scheduleTicksCreated');
      deps.log.info('schedule tick created a task', { scheduleId: row.id, taskId: claimed.task_id, scheduledFor: runFor.toISOString() });
    }
  }
  return ticks.next;
}
