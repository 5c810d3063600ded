import { noSuchSchedule } from '../get-schedule/get-schedule';
import { deleteSchedule as removeSchedule } from '../shared/db/schedules';
import type { Deps } from '../shared/deps';
import type { Log } from '../shared/logger';

/**
 * Deletes a schedule. A tick being claimed at that moment holds the row: the delete waits for it
 * and the task it made was created before the 204; no tick is claimed after (the claim matches no row).
 */
export async function deleteSchedule(deps: Pick<Deps, 'db'> & { log: Log }, id: string): Promise<void> {
  if (!(await removeSchedule(deps.db, id))) throw noSuchSchedule(id);
  deps.log.appendKeys({ scheduleId: id });
  deps.log.info('schedule deleted');
}
