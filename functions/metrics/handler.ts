import { rejectQuery } from '../shared/http';
import { METRICS_CONTENT_TYPE } from '../shared/metrics';
import { defineHandler, lambdaHandler } from '../shared/middleware';
import { scrapeMetrics } from './metrics';

/**
 * GET /metrics: Prometheus text. Served by the local server only (template.yaml has no route for
 * it): on Lambda each instance counts for itself, so the figures go out as CloudWatch metrics
 * instead (docs/metrics.md).
 */
export const build = defineHandler('metrics', 'user', async (event, { deps }) => {
  rejectQuery(event);
  return { statusCode: 200, headers: { 'content-type': METRICS_CONTENT_TYPE }, body: await scrapeMetrics(deps) };
});

export const handler = lambdaHandler(build);
