/**
 * Watching the pipeline: the optional alarm topic (and the key policy CloudWatch needs to publish to
 * it), the alarms on both consumers and both deliveries, and the dashboard.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ERRORS_PREFIX } from '../core/lake.ts';
import type { PipelineConfig } from './config.ts';
import { AlertTopic } from './constructs/alert-topic.ts';
import type { DataBuckets } from './constructs/data-buckets.ts';
import type { EventStreams } from './constructs/event-streams.ts';
import { PipelineAlarms } from './constructs/pipeline-alarms.ts';
import { PipelineDashboard } from './constructs/pipeline-dashboard.ts';
import type { PipelineKey } from './constructs/pipeline-key.ts';
import type { StreamToLake } from './constructs/stream-to-lake.ts';
import type { PipelineConsumers } from './pipeline-consumers.ts';

/** The topic alarms mail `config.alarmEmail` through, when one is set. */
export function addAlarmTopic(
  scope: Construct,
  key: PipelineKey,
  config: PipelineConfig,
): AlertTopic | undefined {
  if (!config.alarmEmail) return undefined;
  const alarmTopic = new AlertTopic(scope, 'AlarmTopic', {
    key: key.key,
    displayName: 'Clickstream pipeline alarms',
    email: config.alarmEmail,
  });
  // CloudWatch publishes to the encrypted topic itself and needs the key for that; the topic policy
  // allowing it to publish is added with the alarms (PipelineAlarms).
  // https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns
  key.key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
  );
  return alarmTopic;
}

/** Adds the alarms and the dashboard to `scope` (the stack: the logical IDs stay its own). */
export function addAlarmsAndDashboard(
  scope: Construct,
  props: {
    config: PipelineConfig;
    streams: EventStreams;
    buckets: DataBuckets;
    consumers: PipelineConsumers;
    eventsToLake: StreamToLake;
    userActivityToLake: StreamToLake;
    alarmTopic: AlertTopic | undefined;
  },
): { alarms: PipelineAlarms; dashboard: PipelineDashboard } {
  const { config, consumers, eventsToLake, userActivityToLake, alarmTopic } = props;
  const aggregator = consumers.streamToAggregator.function;
  const alerter = consumers.userActivityToAlerter.function;
  // Iterator age stays below the tumbling window + batching window in steady state; a minute more is lag.
  const maxIteratorAge = Duration.seconds(
    config.tumblingWindowSeconds + config.maxBatchingWindowSeconds + 60,
  );
  const alarms = new PipelineAlarms(scope, 'PipelineAlarms', {
    consumers: [
      {
        name: 'window-aggregator',
        function: aggregator,
        failureQueue: consumers.streamToAggregator.failureQueue,
        maxIteratorAge,
      },
      {
        name: 'bot-alerter',
        function: alerter,
        failureQueue: consumers.userActivityToAlerter.failureQueue,
        maxIteratorAge: Duration.seconds(config.maxBatchingWindowSeconds + 60),
      },
    ],
    deliveries: [
      {
        name: 'events-to-lake',
        deliveryStream: eventsToLake.deliveryStream,
        maxDataFreshness: Duration.seconds(config.firehoseBufferingSeconds * 3 + 300),
      },
      {
        name: 'user-activity-to-lake',
        deliveryStream: userActivityToLake.deliveryStream,
        maxDataFreshness: Duration.seconds(config.firehoseBufferingSeconds * 3 + 300),
      },
    ],
    errorOutput: { bucket: props.buckets.lake, prefix: ERRORS_PREFIX },
    ...(alarmTopic ? { alarmTopic: alarmTopic.topic } : {}),
  });
  const dashboard = new PipelineDashboard(scope, 'PipelineDashboard', {
    eventsStream: props.streams.events,
    userActivityStream: props.streams.userActivity,
    aggregator,
    alerter,
    deliveries: [eventsToLake.deliveryStream, userActivityToLake.deliveryStream],
  });
  return { alarms, dashboard };
}
