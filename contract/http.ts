/**
 * Paths, headers and limits of the HTTP API, shared by the server's route table, the agent,
 * the CLI and the dashboard, so a path or a limit is written down once.
 */

/** Route templates in API Gateway syntax (`{id}` for a parameter). */
export const ROUTES = {
  root: '/',
  health: '/health',
  tasks: '/tasks',
  pick: '/tasks/pick',
  task: '/tasks/{id}',
  heartbeat: '/tasks/{id}/heartbeat',
  finish: '/tasks/{id}/finish',
  cancel: '/tasks/{id}/cancel',
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
} as const;

/** 1 MiB on user endpoints; 6 MiB on finish, Lambda's own payload limit. */
export const USER_BODY_LIMIT = 1024 * 1024;
export const AGENT_BODY_LIMIT = 6 * 1024 * 1024;

/** The longest command accepted, in UTF-8 bytes. */
export const COMMAND_MAX_BYTES = 64 * 1024;
/** timeoutSeconds: default and range. */
export const DEFAULT_TIMEOUT_SECONDS = 3600;
export const MAX_TIMEOUT_SECONDS = 86400;
/** The longest a pick may be held (?wait=). */
export const MAX_PICK_WAIT_SECONDS = 20;
/** GET /tasks page sizes. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
