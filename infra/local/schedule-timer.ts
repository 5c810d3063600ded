/**
 * The local server's schedule timer: a round of schedule ticks, then a wait until the earliest
 * tick it saw (at most `everyMs`, the lease-expiry cadence), so a 1-second schedule's task is
 * created a few ms after its tick rather than up to a second late. Rounds never overlap. Every
 * tick that comes after the first round that worked gets its task, however late a round
 * reaches it (a loaded machine); the missed-tick rule applies to the ticks before that only.
 */
import { runScheduleTicks, type TickDeps } from '../../functions/shared/schedule-ticks';

/** What this server's rounds did since it started (tests and logs read it). */
export type TickTotals = { rounds: number; created: number; skipped: number; lost: number };

export type ScheduleTimer = { totals: TickTotals; stop(): Promise<void> };

/** Starts the rounds; stop() waits for a round in flight. */
export function startScheduleTimer(deps: TickDeps, everyMs: number): ScheduleTimer {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const totals: TickTotals = { rounds: 0, created: 0, skipped: 0, lost: 0 };
  // The time the last round that worked looked: ticks after it came while this loop ran.
  let watchedSince: Date | null = null;
  const round = async () => {
    let waitMs = everyMs;
    try {
      const startedAt = deps.now();
      const r = await runScheduleTicks(deps, { lookaheadMs: everyMs, watchedSince });
      watchedSince = startedAt;
      waitMs = r.waitMs;
      totals.rounds += 1;
      totals.created += r.created;
      totals.skipped += r.skipped;
      totals.lost += r.lost;
    } catch (error) {
      // Database down: the next round retries; ticks missed meanwhile follow the missed-tick rule.
      deps.log.warn('schedule ticks failed', { error: (error as Error).message });
    }
    if (!stopped) {
      timer = setTimeout(() => {
        inFlight = round();
      }, waitMs);
      timer.unref();
    }
  };
  inFlight = round();
  return {
    totals,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
