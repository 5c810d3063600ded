import { json } from '../shared/http';
import { createHandler } from '../shared/middleware';
import { createTask, parseCreateTaskRequest } from './create-task';

/** POST /tasks */
export const handler = createHandler('createTask', 'user', async (event, { deps, log }) => {
  const { task, created } = await createTask({ ...deps, log }, parseCreateTaskRequest(event));
  return json(created ? 201 : 200, task, { location: `/tasks/${task.id}` });
});
