import { json } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { createTask, parseCreateTaskRequest } from './create-task';

/** POST /tasks */
export const build = defineHandler('createTask', 'user', async (event, { deps, log }) => {
  const { task, created } = await createTask({ ...deps, log }, parseCreateTaskRequest(event, deps.now()));
  return json(created ? 201 : 200, task, { location: `/tasks/${task.id}` });
});

export const handler = lambdaHandler(build);
