import { json } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';

/** GET /: a small status that touches no database (the compose healthcheck calls /health). */
export const build = defineHandler('root', 'public', async () =>
  json(200, { service: 'task-executor', status: 'ok', endpoints: '/tasks, /health; see openapi.yaml' }),
);

export const handler = lambdaHandler(build);
