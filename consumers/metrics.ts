/**
 * CloudWatch custom metrics as Embedded Metric Format (EMF) log lines: Lambda ships the function's log
 * lines to CloudWatch Logs, which extracts the metrics, so a handler needs no PutMetricData call (no
 * extra latency, no IAM grant). The CDK dashboard graphs these names in this namespace, without
 * dimensions. https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 *
 * Pure: the caller logs the fields (through the injected logger) and supplies the clock.
 */
export const METRICS_NAMESPACE = 'Clickstream';

export const METRIC_NAMES = {
  /** Bot alerter: alerts published to SNS in one invocation. */
  alertsSent: 'AlertsSent',
  /**
   * Window aggregator: partials merged into DynamoDB in one invocation. A partial Lambda delivers
   * again (a retried batch, a re-sent final window) is merged again, which changes no total, and
   * counted again: the merge is unconditional, so it cannot tell.
   */
  windowsWritten: 'WindowsWritten',
} as const;
export type MetricName = (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];

export interface EmfFields {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: MetricName; Unit: 'Count' }>;
    }>;
  };
  [metric: string]: unknown;
}

/** The top-level fields of one EMF log line carrying one Count metric with no dimensions. */
export function emfCount(name: MetricName, value: number, timestampMs: number): EmfFields {
  return {
    _aws: {
      Timestamp: timestampMs,
      // One empty dimension set: the metric is published once, under the namespace alone.
      CloudWatchMetrics: [
        { Namespace: METRICS_NAMESPACE, Dimensions: [[]], Metrics: [{ Name: name, Unit: 'Count' }] },
      ],
    },
    [name]: value,
  };
}

/** The whole line, for writers that are not the JSON logger. */
export function emfLine(name: MetricName, value: number, timestampMs: number): string {
  return JSON.stringify(emfCount(name, value, timestampMs));
}
