import { json } from '../shared/http';
import { createHandler } from '../shared/middleware';

/** GET /: a liveness answer that touches no database (the compose healthcheck calls it). */
export const handler = createHandler('root', 'public', async () =>
  json(200, { service: 'task-executor', status: 'ok', endpoints: '/tasks, /health; see openapi.yaml' }),
);
