/**
 * The one route table: method, path (API Gateway syntax), handler and its source folder.
 * The Express adapter mounts it, template.yaml and openapi.yaml are tested against it.
 */
import { handler as cancelTask } from './cancel-task/handler';
import { handler as createTask } from './create-task/handler';
import { handler as finishTask } from './finish-task/handler';
import { handler as getTask } from './get-task/handler';
import { handler as health } from './health/handler';
import { handler as heartbeatTask } from './heartbeat-task/handler';
import { handler as listTasks } from './list-tasks/handler';
import { handler as pickTask } from './pick-task/handler';
import { handler as root } from './root/handler';
import { AGENT_BODY_LIMIT, USER_BODY_LIMIT } from './shared/http';
import type { Handler } from './shared/middleware';

export type Route = {
  method: 'GET' | 'POST';
  /** API Gateway path syntax: `{id}` for a parameter */
  path: string;
  /** the handler's folder under functions/ (also its SAM function's entry point) */
  dir: string;
  handler: Handler;
  /** the largest body the handler accepts (it checks itself; the local adapter reads no more) */
  bodyLimit: number;
};

/** Exact paths come before parameterised ones: /tasks/pick is never read as a task id. */
export const routes: readonly Route[] = [
  { method: 'GET', path: '/', dir: 'root', handler: root, bodyLimit: USER_BODY_LIMIT },
  { method: 'GET', path: '/health', dir: 'health', handler: health, bodyLimit: USER_BODY_LIMIT },
  { method: 'POST', path: '/tasks', dir: 'create-task', handler: createTask, bodyLimit: USER_BODY_LIMIT },
  { method: 'GET', path: '/tasks', dir: 'list-tasks', handler: listTasks, bodyLimit: USER_BODY_LIMIT },
  { method: 'GET', path: '/tasks/pick', dir: 'pick-task', handler: pickTask, bodyLimit: AGENT_BODY_LIMIT },
  { method: 'POST', path: '/tasks/pick', dir: 'pick-task', handler: pickTask, bodyLimit: AGENT_BODY_LIMIT },
  { method: 'GET', path: '/tasks/{id}', dir: 'get-task', handler: getTask, bodyLimit: USER_BODY_LIMIT },
  { method: 'POST', path: '/tasks/{id}/heartbeat', dir: 'heartbeat-task', handler: heartbeatTask, bodyLimit: AGENT_BODY_LIMIT },
  { method: 'POST', path: '/tasks/{id}/finish', dir: 'finish-task', handler: finishTask, bodyLimit: AGENT_BODY_LIMIT },
  { method: 'POST', path: '/tasks/{id}/cancel', dir: 'cancel-task', handler: cancelTask, bodyLimit: USER_BODY_LIMIT },
];
