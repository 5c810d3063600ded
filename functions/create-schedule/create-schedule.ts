import { randomUUID } from 'node:crypto';
import type { Schedule } from '../../contract/schedule';
import { insertSchedule, type ScheduleDefinition, toSchedule } from '../shared/db/schedules';
import type { Deps } from '../shared/deps';
import type { Log } from '../shared/logger';

/** Creates a schedule under a fresh id; a taken name is a ConflictError (409). */
export async function createSchedule(deps: Pick<Deps, 'db' | 'now'> & { log: Log }, def: ScheduleDefinition): Promise<Schedule> {
  const row = await insertSchedule(deps.db, { ...def, id: randomUUID(), now: deps.now() });
  deps.log.appendKeys({ scheduleId: row.id });
  deps.log.info('schedule created', { cron: row.cron, timezone: row.timezone, paused: row.paused });
  return toSchedule(row);
}
