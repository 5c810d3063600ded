/**
 * The schedule resource (docs/api.md, Schedules, docs/api.md "Schedules"): a command run on a cron
 * schedule, each tick making one task. Types only.
 */

/** A schedule as the API answers it. */
export type Schedule = {
  id: string;
  name: string;
  /** 5 fields (minute resolution) or 6 (seconds first) */
  cron: string;
  /** IANA zone the cron fields are read in */
  timezone: string;
  command: string;
  /** list items only: true when `command` was cut (GET /schedules/{id} has it whole) */
  commandTruncated?: boolean;
  timeoutSeconds: number;
  priority: number;
  labels: string[];
  paused: boolean;
  /** the next tick a task will be created for; null while paused */
  nextRunAt: string | null;
  /** the last tick a task was created for; null before the first */
  lastRunAt: string | null;
  /** ticks passed over because they were more than one period late (every server was down) */
  skippedTicks: number;
  createdAt: string;
  updatedAt: string;
};

/** GET /schedules: every schedule by name, at most MAX_SCHEDULES_LISTED (then `truncated`). */
export type ScheduleList = { schedules: Schedule[]; truncated: boolean };

/** The fields of POST /schedules (and, each optional, of PATCH /schedules/{id}). */
export type ScheduleFields = {
  name: string;
  cron: string;
  command: string;
  timezone?: string;
  timeoutSeconds?: number;
  priority?: number;
  labels?: string[];
  paused?: boolean;
};
