/**
 * Paths, headers and limits of the HTTP API, shared by the server's route table, the agent,
 * the CLI and the dashboard, so a path or a limit is written down once.
 */

/** Route templates in API Gateway syntax (`{id}` for a parameter). */
export const ROUTES = {
  root: '/',
  /** the dashboard's bundled script and stylesheet (GET /assets/browser.<hash>.js), no token */
  assets: '/assets/{file}',
  health: '/health',
  tasks: '/tasks',
  /** counts per state and the oldest queued task, for the dashboard's overview */
  summary: '/tasks/summary',
  pick: '/tasks/pick',
  task: '/tasks/{id}',
  heartbeat: '/tasks/{id}/heartbeat',
  finish: '/tasks/{id}/finish',
  cancel: '/tasks/{id}/cancel',
  /** GET: read a stream (users); POST: send new output (the task's agent) */
  output: '/tasks/{id}/output',
  /** Prometheus text (the local server only; on Lambda the same figures go to CloudWatch) */
  metrics: '/metrics',
  /** the agents seen in the last AGENTS_SEEN_WITHIN_SECONDS */
  agents: '/agents',
  /** an agent says it stopped (its own X-Agent-Id, agent token): it is `gone` at once */
  agentStop: '/agents/{id}/stop',
  /** POST: create; GET: list (docs/api.md, Schedules) */
  schedules: '/schedules',
  /** GET, PATCH, DELETE one schedule */
  schedule: '/schedules/{id}',
} as const;

/** A concrete path: the template with its {id} filled in (URL-encoded). */
export function pathFor(template: (typeof ROUTES)[keyof typeof ROUTES], id?: string): string {
  return id === undefined ? template : template.replace('{id}', encodeURIComponent(id));
}

/** Request headers the API reads beyond the standard ones. */
export const HEADERS = {
  agentId: 'x-agent-id',
  leaseToken: 'x-lease-token',
  idempotencyKey: 'idempotency-key',
  /** GET /tasks/{id}/output answers: the offset to pass back, the task's state, and whether the stream is complete */
  nextOffset: 'x-next-offset',
  taskState: 'x-task-state',
  outputComplete: 'x-output-complete',
  /** pick: the labels the agent runs (AGENT_LABELS), comma-separated */
  agentLabels: 'x-agent-labels',
} as const;

/** 1 MiB on user endpoints; 6 MiB on finish, Lambda's own payload limit. */
export const USER_BODY_LIMIT = 1024 * 1024;
export const AGENT_BODY_LIMIT = 6 * 1024 * 1024;
/**
 * Endpoints that take no body, or only `{}` (pick, heartbeat, and every GET, GET /tasks/{id}/output
 * and GET /tasks/summary among them): 4 KiB. They never need more, and a client that holds a
 * large body open (80 such connections of 6 MiB each took the server from 544 to 918 MB) then
 * gets a 413 before anything is buffered.
 */
export const EMPTY_BODY_LIMIT = 4 * 1024;
/**
 * An output send's body: 1 MiB. A 64 KiB flush of control characters is about 384 KiB of JSON
 * (each one escaped as \u00XX); the agent splits a send that would be larger.
 */
export const OUTPUT_BODY_LIMIT = 1024 * 1024;
/** The most text one read of GET /tasks/{id}/output answers with (UTF-8 bytes); X-Next-Offset continues. */
export const OUTPUT_READ_MAX_BYTES = 1024 * 1024;

/** The longest command accepted, in UTF-8 bytes. */
export const COMMAND_MAX_BYTES = 64 * 1024;
/** timeoutSeconds: default and range. */
export const DEFAULT_TIMEOUT_SECONDS = 3600;
export const MAX_TIMEOUT_SECONDS = 86400;
/** The longest a pick may be held (?wait=). */
export const MAX_PICK_WAIT_SECONDS = 20;
/** The longest a read of GET /tasks/{id}/output may be held (?wait=). */
export const MAX_OUTPUT_WAIT_SECONDS = 20;
/** An agent sends new output at least this often while it flows, and at once past OUTPUT_FLUSH_BYTES buffered. */
export const OUTPUT_FLUSH_MS = 1000;
export const OUTPUT_FLUSH_BYTES = 64 * 1024;
/** GET /tasks/summary counts each state up to this many tasks (an index walk, never the whole table). */
export const SUMMARY_COUNT_LIMIT = 10000;
/** GET /agents lists the agents seen this recently. */
export const AGENTS_SEEN_WITHIN_SECONDS = 600;
/** GET /tasks page sizes. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
/**
 * List items carry at most this many characters of a command, with `commandTruncated: true`
 * when it was cut (GET /tasks/{id} has it whole): 1,000 commands of 64 KiB of control
 * characters made a 390 MB page, as JSON escapes each such character in six bytes.
 */
export const LIST_COMMAND_MAX_CHARS = 1024;
/** A GET /tasks answer is at most this many bytes of JSON: further items go to the next page (nextCursor). */
export const LIST_PAGE_MAX_BYTES = 1024 * 1024;

/** POST /tasks priority: default and range (docs/routing.md). */
export const DEFAULT_PRIORITY = 0;
export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;
/** Labels of a task or an agent: at most this many, each matching LABEL_PATTERN. */
export const MAX_LABELS = 16;
/** 1-63 characters of letters, digits and `._:=-`, starting with a letter or digit. */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:=-]{0,62}$/;
/** The furthest ahead a runAt may be (docs/api.md, Schedules): the same moment a calendar year later. */
export function latestRunAt(now: Date): Date {
  const limit = new Date(now.getTime());
  limit.setUTCFullYear(limit.getUTCFullYear() + 1);
  return limit;
}

/** Why a label list breaks the rules of docs/routing.md, or null when it is fine. */
export function labelProblem(labels: readonly string[]): string | null {
  if (labels.length > MAX_LABELS) return `at most ${MAX_LABELS} labels are allowed (got ${labels.length})`;
  const bad = labels.find((l) => !LABEL_PATTERN.test(l));
  if (bad !== undefined) {
    return `label ${JSON.stringify(bad.slice(0, 70))} must be 1-63 characters of letters, digits and ._:=- starting with a letter or digit`;
  }
  return null;
}

/** Labels as the server stores them: sorted (by code point) and deduplicated. */
export function canonicalLabels(labels: readonly string[]): string[] {
  return [...new Set(labels)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
/** A schedule's name: 1 to this many characters, printable, no control characters. */
export const SCHEDULE_NAME_MAX_CHARS = 200;
/** The longest cron expression read (croner's own limits apply inside it). */
export const CRON_MAX_CHARS = 200;
/** The longest IANA time zone name read (the longest real one is 32). */
export const TIMEZONE_MAX_CHARS = 64;
/**
 * GET /schedules answers at most this many schedules (by name), with `truncated: true` when
 * there are more: a schedule is a few hundred bytes plus its command, so a page stays bounded.
 */
export const MAX_SCHEDULES_LISTED = 500;
/** A schedule's command in GET /schedules is cut like list items of GET /tasks (GET /schedules/{id} has it whole). */
export const SCHEDULE_LIST_COMMAND_MAX_CHARS = LIST_COMMAND_MAX_CHARS;

/** The shortest token accepted off loopback: 16 characters (of the 64 hex that `openssl rand -hex 32` gives). */
export const MIN_TOKEN_LENGTH = 16;

/**
 * A host name that only this machine reaches (`localhost`, `::1` bracketed or not, 127.x.y.z):
 * where the server binds to one, no token at all is required, and a short one is taken.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
