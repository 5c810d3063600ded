/**
 * On Lambda there is no process to scrape (each instance counts for itself): every figure of
 * functions/shared/metrics.ts goes to CloudWatch instead, as an embedded-metric-format line in the
 * function's log (powertools Metrics), which CloudWatch turns into a metric without an API call.
 * Names are the Prometheus names; labels become dimensions.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Labels, MetricSink } from './metrics';

/** The CloudWatch namespace the figures go to. */
export const EMF_NAMESPACE = 'TaskExecutor';

/** A sink writing one EMF line per figure, each with its own dimensions (singleMetric flushes at once). */
export function emfSink(metrics = new Metrics({ namespace: EMF_NAMESPACE, serviceName: 'task-executor-api' })): MetricSink {
  const emit = (name: string, labels: Labels, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number) => {
    const single = metrics.singleMetric();
    for (const [key, v] of Object.entries(labels)) single.addDimension(key, v === '' ? 'none' : v);
    single.addMetric(name, unit, value);
  };
  return {
    count: (def, labels, n) => emit(def.name, labels, MetricUnit.Count, n),
    observe: (def, labels, seconds) => emit(def.name, labels, MetricUnit.Seconds, seconds),
    gauge: (def, labels, value) => emit(def.name, labels, def.name.endsWith('_seconds') ? MetricUnit.Seconds : MetricUnit.Count, value),
  };
}
