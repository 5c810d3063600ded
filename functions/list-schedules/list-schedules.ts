import { MAX_SCHEDULES_LISTED, SCHEDULE_LIST_COMMAND_MAX_CHARS } from '../../contract/http';
import type { ScheduleList } from '../../contract/schedule';
import { selectSchedules, toSchedule } from '../shared/db/schedules';
import type { Deps } from '../shared/deps';

/**
 * Every schedule by name, at most MAX_SCHEDULES_LISTED (then `truncated: true`), commands cut
 * as in GET /tasks: a bounded answer without a cursor, as schedules are few.
 */
export async function listSchedules(deps: Pick<Deps, 'db'>, limit = MAX_SCHEDULES_LISTED): Promise<ScheduleList> {
  const rows = await selectSchedules(deps.db, { limit, commandMaxChars: SCHEDULE_LIST_COMMAND_MAX_CHARS });
  return { schedules: rows.slice(0, limit).map(toSchedule), truncated: rows.length > limit };
}
