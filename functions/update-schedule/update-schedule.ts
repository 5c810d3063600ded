import type { Schedule } from '../../contract/schedule';
import { noSuchSchedule } from '../get-schedule/get-schedule';
import { selectSchedule, toSchedule, updateSchedule as writeSchedule } from '../shared/db/schedules';
import type { Deps } from '../shared/deps';
import { ConflictError } from '../shared/errors';
import type { Log } from '../shared/logger';
import { applyScheduleChanges, type ScheduleChanges } from '../shared/schedule-input';

/** How often a PATCH re-reads a schedule that changed under it (a tick claim does not change its revision). */
const ATTEMPTS = 3;

/**
 * Applies a PATCH: the changes over the stored definition, written only if nobody changed it
 * meanwhile (its revision), next_run_at computed again when the cron, the zone or `paused` changed.
 */
export async function updateSchedule(
  deps: Pick<Deps, 'db' | 'now'> & { log: Log },
  id: string,
  changes: ScheduleChanges & { cronValue?: unknown },
): Promise<Schedule> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const row = await selectSchedule(deps.db, id);
    if (row === null) throw noSuchSchedule(id);
    const now = deps.now();
    const def = applyScheduleChanges(row, changes, now);
    const updated = await writeSchedule(deps.db, { ...def, id, revision: row.revision, now });
    if (updated !== null) {
      deps.log.appendKeys({ scheduleId: id });
      deps.log.info('schedule updated', { fields: Object.keys(changes), paused: updated.paused });
      return toSchedule(updated);
    }
  }
  throw new ConflictError('The schedule was changed by another request while this one was applied; send it again.');
}
