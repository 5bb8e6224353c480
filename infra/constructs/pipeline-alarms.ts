import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface WatchedConsumer {
  /** Short name used in alarm descriptions, e.g. `window-aggregator`. */
  name: string;
  function: lambda.IFunction;
  failureQueue: sqs.IQueue;
  /** Iterator age above this means the consumer is falling behind its stream. */
  maxIteratorAge: Duration;
}

export interface WatchedDelivery {
  name: string;
  deliveryStream: firehose.IDeliveryStream;
  /** Oldest undelivered record age above this means the lake is going stale. */
  maxDataFreshness: Duration;
}

/** Where the deliveries write the records they could not convert or partition. */
export interface WatchedErrorOutput {
  bucket: s3.Bucket;
  prefix: string;
}

export interface PipelineAlarmsProps {
  consumers: WatchedConsumer[];
  deliveries: WatchedDelivery[];
  errorOutput?: WatchedErrorOutput;
  /** Where alarm state changes go; none = alarms visible in the console only. */
  alarmTopic?: sns.ITopic;
}

/**
 * The alarms an operator of this pipeline needs: consumers behind or failing, records parked, lake stale
 * or missing records.
 */
export class PipelineAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(1);
    for (const consumer of props.consumers) {
      const prefix = pascal(consumer.name);
      this.add(
        new cloudwatch.Alarm(this, `${prefix}IteratorAge`, {
          alarmDescription: `${consumer.name} is more than ${consumer.maxIteratorAge.toSeconds()} s behind its stream (tumbling window + batching window + margin)`,
          metric: consumer.function.metric('IteratorAge', { statistic: 'Maximum', period }),
          threshold: consumer.maxIteratorAge.toMilliseconds(),
          evaluationPeriods: 5,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          // No invocations means no records, which is not lag.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      this.add(
        new cloudwatch.Alarm(this, `${prefix}Errors`, {
          alarmDescription: `${consumer.name} invocations fail (the batch is retried, then bisected, then parked in the failure queue)`,
          metric: consumer.function.metricErrors({ statistic: 'Sum', period }),
          threshold: 0,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      this.add(
        new cloudwatch.Alarm(this, `${prefix}Throttles`, {
          alarmDescription: `${consumer.name} is throttled: its shards stall until concurrency frees up`,
          metric: consumer.function.metricThrottles({ statistic: 'Sum', period }),
          threshold: 0,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      this.add(
        new cloudwatch.Alarm(this, `${prefix}FailureQueueDepth`, {
          alarmDescription: `${consumer.name} parked records it could not process in its on-failure queue: inspect and redrive`,
          metric: consumer.failureQueue.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period,
          }),
          threshold: 0,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const delivery of props.deliveries) {
      const prefix = pascal(delivery.name);
      this.add(
        new cloudwatch.Alarm(this, `${prefix}DeliveryFailures`, {
          alarmDescription: `${delivery.name} Firehose fails to deliver to S3 (records go to the errors/ prefix)`,
          metric: delivery.deliveryStream.metric('DeliveryToS3.Success', {
            statistic: 'Minimum',
            period: Duration.minutes(5),
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          // No data means nothing to deliver.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      this.watchRecordFailures(delivery, prefix);
      this.add(
        new cloudwatch.Alarm(this, `${prefix}DataFreshness`, {
          alarmDescription: `${delivery.name} Firehose holds records older than ${delivery.maxDataFreshness.toSeconds()} s: the lake is stale`,
          metric: delivery.deliveryStream.metric('DeliveryToS3.DataFreshness', {
            statistic: 'Maximum',
            period: Duration.minutes(5),
          }),
          threshold: delivery.maxDataFreshness.toSeconds(),
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    if (props.errorOutput) this.watchErrorOutput(props.errorOutput);
    if (props.alarmTopic) {
      const action = new actions.SnsAction(props.alarmTopic);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
      this.allowToPublish(props.alarmTopic);
    }
  }

  /**
   * Records Firehose takes in but cannot land in the lake go to the error prefix while DeliveryToS3.Success
   * stays at 1, so they need alarms of their own: FailedConversion.Records counts records that do not
   * match the Glue schema (format-conversion-failed), PartitionCountExceeded is 1 while records go to
   * the error prefix because the active partitions reached their limit.
   * https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html
   */
  private watchRecordFailures(delivery: WatchedDelivery, prefix: string): void {
    const period = Duration.minutes(5);
    const failing = (id: string, description: string, metric: cloudwatch.IMetric) =>
      this.add(
        new cloudwatch.Alarm(this, `${prefix}${id}`, {
          alarmDescription: `${delivery.name}: ${description}`,
          metric,
          threshold: 0,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    failing(
      'FormatConversionFailures',
      'records failed the Parquet conversion (schema mismatch) and went to the errors/ prefix',
      delivery.deliveryStream.metric('FailedConversion.Records', { statistic: 'Sum', period }),
    );
    failing(
      'PartitionCountExceeded',
      'too many active partitions: records go to the errors/ prefix instead of the lake',
      delivery.deliveryStream.metric('PartitionCountExceeded', { statistic: 'Maximum', period }),
    );
  }

  /**
   * Records whose partition key cannot be extracted (partitioning-failed) have no Firehose metric: only
   * the objects Firehose writes under the error prefix show them. S3 request metrics on that prefix count
   * those writes (best effort, billed as custom metrics).
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html
   */
  private watchErrorOutput(output: WatchedErrorOutput): void {
    const filterId = 'FirehoseErrorOutput';
    output.bucket.addMetric({ id: filterId, prefix: output.prefix });
    this.add(
      new cloudwatch.Alarm(this, 'LakeErrorObjects', {
        alarmDescription: `Firehose wrote objects under ${output.prefix} in the lake bucket: records that did not reach the lake (see their error type in the key)`,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/S3',
          metricName: 'PutRequests',
          dimensionsMap: { BucketName: output.bucket.bucketName, FilterId: filterId },
          statistic: 'Sum',
          period: Duration.minutes(5),
        }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /**
   * A topic with a policy of its own (enforceSSL makes one) no longer has SNS's default policy, so
   * CloudWatch may publish only if a statement lets it; without one every alarm action fails with
   * "is not authorized to perform: SNS:Publish". Scoped to these alarms' ARNs (aws:SourceArn) in this
   * account. https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
   * The topic's KMS key must also let CloudWatch use it (PipelineKey).
   */
  private allowToPublish(topic: sns.ITopic): void {
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': this.alarms.map((alarm) => alarm.alarmArn) },
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
        },
      }),
    );
  }

  private add(alarm: cloudwatch.Alarm): void {
    this.alarms.push(alarm);
  }
}

function pascal(name: string): string {
  return name.replace(/(^|[-_ ])(\w)/g, (_, __, c: string) => c.toUpperCase());
}
