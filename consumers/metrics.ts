/**
 * The consumers' CloudWatch custom metrics, written by Powertools Metrics as Embedded Metric Format: one
 * JSON object per line on stdout, which CloudWatch Logs turns into metrics (no PutMetricData call, no
 * grant). Powertools writes through a Console of its own on process.stdout, so under the functions' JSON
 * log format the runtime does not wrap the line in its own `message` field as it wraps console.log; a
 * wrapped line is not EMF and CloudWatch extracts nothing from it.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Libraries.html
 * https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html
 *
 * Powertools gives every metric the dimension `service`; a CloudWatch metric is identified by its
 * namespace, name and all its dimensions, so the dashboard graphs each metric with exactly that one.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'Clickstream';

/** Each consumer's name: Powertools' `service` in its logs and the one dimension of its metrics. */
export const CONSUMER_SERVICES = {
  aggregator: 'window-aggregator',
  alerter: 'bot-alerter',
} as const;
export type Consumer = keyof typeof CONSUMER_SERVICES;

/** Every custom metric, with the consumer that emits it. */
export const CUSTOM_METRICS = {
  /**
   * Window aggregator: partials merged into DynamoDB in one invocation. A partial Lambda delivers again
   * (a retried batch, a re-sent final window) is merged again, which changes no total, and counted
   * again: the merge is unconditional, so it cannot tell.
   */
  windowsWritten: { name: 'WindowsWritten', consumer: 'aggregator' },
  /** Bot alerter: alerts published to SNS in one invocation. */
  alertsSent: { name: 'AlertsSent', consumer: 'alerter' },
} as const satisfies Record<string, { name: string; consumer: Consumer }>;
export type MetricName = (typeof CUSTOM_METRICS)[keyof typeof CUSTOM_METRICS]['name'];

/** The dimensions a custom metric carries, as the dashboard must name them. */
export function metricDimensions(metric: { consumer: Consumer }): Record<string, string> {
  return { service: CONSUMER_SERVICES[metric.consumer] };
}

/**
 * What a record processor needs of Powertools Metrics. The local runner and most tests pass none, so
 * nothing is written there; a Lambda handler passes `createConsumerMetrics`.
 */
export interface MetricsSink {
  addMetric(name: MetricName, unit: typeof MetricUnit.Count, value: number): unknown;
}

/** A sink that also writes what it collected: Powertools Metrics. */
export interface PublishingMetrics extends MetricsSink {
  hasStoredMetrics(): boolean;
  publishStoredMetrics(): unknown;
}

export const noMetrics: MetricsSink = { addMetric() {} };

export function countMetric(sink: MetricsSink, name: MetricName, value: number): void {
  sink.addMetric(name, MetricUnit.Count, value);
}

export function createConsumerMetrics(consumer: Consumer): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: CONSUMER_SERVICES[consumer] });
}

/**
 * Writes the metrics an invocation collected once it ends, failed or not, as Powertools' logMetrics
 * does; an invocation with nothing to count writes no line.
 */
export function publishingAfterEach<Event, Result>(
  metrics: PublishingMetrics | undefined,
  handler: (event: Event) => Promise<Result>,
): (event: Event) => Promise<Result> {
  if (!metrics) return handler;
  return async (event) => {
    try {
      return await handler(event);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
