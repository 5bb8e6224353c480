import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import {
  type Consumer,
  CUSTOM_METRICS,
  METRICS_NAMESPACE,
  metricDimensions,
} from '../../consumers/metrics.ts';

export interface PipelineDashboardProps {
  eventsStream: kinesis.IStream;
  userActivityStream: kinesis.IStream;
  aggregator: lambda.IFunction;
  alerter: lambda.IFunction;
  deliveries: firehose.IDeliveryStream[];
}

/** One page showing the pipeline end to end: records in, consumer lag, windows written, alerts sent. */
export class PipelineDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const period = Duration.minutes(1);
    // The handlers' metrics (consumers/metrics.ts) with the `service` dimension Powertools gives them: a
    // metric graphed without it is another metric, one that never gets data.
    const custom = (metric: { name: string; consumer: Consumer }, label: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: metric.name,
        dimensionsMap: metricDimensions(metric),
        statistic: 'Sum',
        period,
        label,
      });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Throughput (records/min)',
            width: 12,
            left: [
              props.eventsStream.metricIncomingRecords({ statistic: 'Sum', period, label: 'events stream' }),
              props.userActivityStream.metricIncomingRecords({
                statistic: 'Sum',
                period,
                label: 'user-activity stream',
              }),
              ...props.deliveries.map((d) => d.metricIncomingRecords({ statistic: 'Sum', period })),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Iterator age (ms)',
            width: 12,
            left: [
              props.aggregator.metric('IteratorAge', {
                statistic: 'Maximum',
                period,
                label: 'window-aggregator',
              }),
              props.alerter.metric('IteratorAge', { statistic: 'Maximum', period, label: 'bot-alerter' }),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Windows written / alerts sent',
            width: 12,
            left: [custom(CUSTOM_METRICS.windowsWritten, 'windows written')],
            right: [custom(CUSTOM_METRICS.alertsSent, 'alerts sent')],
          }),
          new cloudwatch.GraphWidget({
            title: 'Lambda errors and throttles',
            width: 12,
            left: [
              props.aggregator.metricErrors({ period, label: 'aggregator errors' }),
              props.alerter.metricErrors({ period, label: 'alerter errors' }),
              props.aggregator.metricThrottles({ period, label: 'aggregator throttles' }),
              props.alerter.metricThrottles({ period, label: 'alerter throttles' }),
            ],
          }),
        ],
      ],
    });
  }
}
