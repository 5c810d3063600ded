import { json } from '../shared/http';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { checkHealth } from './health';

/** GET /health: 200 while the database answers, 503 otherwise. */
export const build = defineHandler('health', 'public', async (_event, { deps }) => json(200, await checkHealth(deps)));

export const handler = lambdaHandler(build);
