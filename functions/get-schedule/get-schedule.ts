import type { Schedule } from '../../contract/schedule';
import { selectSchedule, toSchedule } from '../shared/db/schedules';
import type { Deps } from '../shared/deps';
import { NotFoundError } from '../shared/errors';

/** The 404 of every schedule route. */
export const noSuchSchedule = (id: string) => new NotFoundError(`No schedule has the id ${id}; GET /schedules lists them.`);

/** One schedule, or a NotFoundError. */
export async function getSchedule(deps: Pick<Deps, 'db'>, id: string): Promise<Schedule> {
  const row = await selectSchedule(deps.db, id);
  if (row === null) throw noSuchSchedule(id);
  return toSchedule(row);
}
