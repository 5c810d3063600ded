/**
 * The one route table: method, path (API Gateway syntax), the handler's builder and its source
 * folder. The Express adapter mounts it, template.yaml and openapi.yaml are tested against it.
 */
import { AGENT_BODY_LIMIT, EMPTY_BODY_LIMIT, OUTPUT_BODY_LIMIT, ROUTES, USER_BODY_LIMIT } from '../contract/http';
import * as cancelTask from './cancel-task/handler';
import * as createSchedule from './create-schedule/handler';
import * as createTask from './create-task/handler';
import * as deleteSchedule from './delete-schedule/handler';
import * as finishTask from './finish-task/handler';
import * as getSchedule from './get-schedule/handler';
import * as getTask from './get-task/handler';
import * as health from './health/handler';
import * as heartbeatTask from './heartbeat-task/handler';
import * as listAgents from './list-agents/handler';
import * as listSchedules from './list-schedules/handler';
import * as listTasks from './list-tasks/handler';
import * as metrics from './metrics/handler';
import * as pickTask from './pick-task/handler';
import * as readOutput from './read-output/handler';
import * as root from './root/handler';
import * as sendOutput from './send-output/handler';
import type { Audience } from './shared/auth';
import type { BuildHandler, DepsSource, Handler } from './shared/middleware';
import * as stopAgent from './stop-agent/handler';
import * as taskSummary from './task-summary/handler';
import * as updateSchedule from './update-schedule/handler';

export type Route = {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** API Gateway path syntax: `{id}` for a parameter */
  path: string;
  /** the handler's folder under functions/ (also its SAM function's entry point) */
  dir: string;
  /** builds the handler for a set of deps (the Lambda entry point exports it built from its environment) */
  build: (deps: DepsSource) => Handler;
  /** whose token the route needs (the handler's own, from defineHandler): the local adapter checks it before reading a body */
  audience: Audience;
  /** the largest body the handler accepts (it checks itself; the local adapter reads no more) */
  bodyLimit: number;
  /** false: served by the local server only, not deployed by template.yaml (GET /metrics) */
  lambda?: false;
  /** true: a long poll, which the local adapter tells when its client hangs up (context.clientGone) */
  holds?: true;
};

/** Exact paths come before parameterised ones: /tasks/pick is never read as a task id. */
const table: readonly (Omit<Route, 'audience' | 'build'> & { build: BuildHandler })[] = [
  { method: 'GET', path: ROUTES.root, dir: 'root', build: root.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'GET', path: ROUTES.assets, dir: 'root', build: root.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'GET', path: ROUTES.health, dir: 'health', build: health.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'POST', path: ROUTES.tasks, dir: 'create-task', build: createTask.build, bodyLimit: USER_BODY_LIMIT },
  { method: 'GET', path: ROUTES.tasks, dir: 'list-tasks', build: listTasks.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'GET', path: ROUTES.summary, dir: 'task-summary', build: taskSummary.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'GET', path: ROUTES.pick, dir: 'pick-task', build: pickTask.build, bodyLimit: EMPTY_BODY_LIMIT, holds: true },
  { method: 'POST', path: ROUTES.pick, dir: 'pick-task', build: pickTask.build, bodyLimit: EMPTY_BODY_LIMIT, holds: true },
  { method: 'GET', path: ROUTES.task, dir: 'get-task', build: getTask.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'POST', path: ROUTES.heartbeat, dir: 'heartbeat-task', build: heartbeatTask.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'POST', path: ROUTES.output, dir: 'send-output', build: sendOutput.build, bodyLimit: OUTPUT_BODY_LIMIT },
  { method: 'GET', path: ROUTES.output, dir: 'read-output', build: readOutput.build, bodyLimit: EMPTY_BODY_LIMIT, holds: true },
  { method: 'POST', path: ROUTES.finish, dir: 'finish-task', build: finishTask.build, bodyLimit: AGENT_BODY_LIMIT },
  { method: 'POST', path: ROUTES.cancel, dir: 'cancel-task', build: cancelTask.build, bodyLimit: USER_BODY_LIMIT },
  { method: 'GET', path: ROUTES.agents, dir: 'list-agents', build: listAgents.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'POST', path: ROUTES.agentStop, dir: 'stop-agent', build: stopAgent.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'GET', path: ROUTES.metrics, dir: 'metrics', build: metrics.build, bodyLimit: EMPTY_BODY_LIMIT, lambda: false },
  { method: 'POST', path: ROUTES.schedules, dir: 'create-schedule', build: createSchedule.build, bodyLimit: USER_BODY_LIMIT },
  { method: 'GET', path: ROUTES.schedules, dir: 'list-schedules', build: listSchedules.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'GET', path: ROUTES.schedule, dir: 'get-schedule', build: getSchedule.build, bodyLimit: EMPTY_BODY_LIMIT },
  { method: 'PATCH', path: ROUTES.schedule, dir: 'update-schedule', build: updateSchedule.build, bodyLimit: USER_BODY_LIMIT },
  { method: 'DELETE', path: ROUTES.schedule, dir: 'delete-schedule', build: deleteSchedule.build, bodyLimit: EMPTY_BODY_LIMIT },
];

/** The route table, each route with its handler's audience. */
export const routes: readonly Route[] = table.map((route) => ({ ...route, audience: route.build.audience }));
