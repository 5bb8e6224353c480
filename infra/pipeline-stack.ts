import { type CfnElement, CfnOutput, Duration, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct, IConstruct } from 'constructs';
import { DEAD_LETTER_PREFIX } from '../consumers/dead-letter.ts';
import { CONSUMER_SERVICES, METRICS_NAMESPACE } from '../consumers/metrics.ts';
import { SMOKE_QUEUE_PREFIX } from '../core/resources.ts';
import { LAKE_TABLE_NAMES, RAW_EVENTS_PREFIX, TABLES } from '../core/tables.ts';
import type { PipelineConfig } from './config.ts';
import { AlertTopic } from './constructs/alert-topic.ts';
import { AthenaQueries } from './constructs/athena-queries.ts';
import { DataBuckets } from './constructs/data-buckets.ts';
import { EventStreams } from './constructs/event-streams.ts';
import type { FunctionToTable } from './constructs/function-to-table.ts';
import type { LakeCatalog } from './constructs/lake-catalog.ts';
import { OperatorPolicies, SmokePolicy } from './constructs/operator-policies.ts';
import type { PipelineAlarms } from './constructs/pipeline-alarms.ts';
import type { PipelineDashboard } from './constructs/pipeline-dashboard.ts';
import { PipelineKey } from './constructs/pipeline-key.ts';
import type { StreamToFunction } from './constructs/stream-to-function.ts';
import type { StreamToLake } from './constructs/stream-to-lake.ts';
import { namedQueries } from './lake-definitions.ts';
import { addConsumers } from './pipeline-consumers.ts';
import { addLake } from './pipeline-lake.ts';
import { addAlarmsAndDashboard, addAlarmTopic } from './pipeline-monitoring.ts';

export { HANDLER_ENTRIES } from './pipeline-consumers.ts';

export interface PipelineStackProps extends StackProps {
  config: PipelineConfig;
}

/** The whole clickstream pipeline: streams, consumers, state, alerts, lake, catalog, queries, alarms. */
export class PipelineStack extends Stack {
  public readonly key: PipelineKey;
  public readonly streams: EventStreams;
  public readonly buckets: DataBuckets;
  public readonly alertTopic: AlertTopic;
  public readonly streamToAggregator: StreamToFunction;
  public readonly aggregatorToUserActivity: FunctionToTable;
  public readonly userActivityToAlerter: StreamToFunction;
  public readonly alerterToAlertDedupe: FunctionToTable;
  public readonly eventsToLake: StreamToLake;
  public readonly userActivityToLake: StreamToLake;
  public readonly lakeCatalog: LakeCatalog;
  public readonly athenaQueries: AthenaQueries;
  public readonly operatorPolicies: OperatorPolicies;
  /** What `clickstream smoke` sends beyond the producer and analyst policies. */
  public readonly smokePolicy: SmokePolicy;
  public readonly alarmTopic?: AlertTopic;
  public readonly alarms: PipelineAlarms;
  public readonly dashboard: PipelineDashboard;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const config = props.config;
    // Glue and Athena names are account-wide: derive them from the stack name so two stacks can coexist.
    const catalogName = this.stackName.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    // RetentionDays values are the day counts themselves; config.ts admits only values CloudWatch accepts.
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.key = new PipelineKey(this, 'PipelineKey');
    this.streams = new EventStreams(this, 'Streams', {
      mode: config.streamMode,
      eventsShards: config.eventsShards,
      userActivityShards: config.userActivityShards,
      retention: Duration.hours(config.streamRetentionHours),
    });
    this.buckets = new DataBuckets(this, 'Buckets', {
      lakeInfrequentAccessDays: config.lakeInfrequentAccessDays,
      athenaResultsExpirationDays: config.athenaResultsExpirationDays,
      accessLogsExpirationDays: config.accessLogsExpirationDays,
    });
    this.alertTopic = new AlertTopic(this, 'AlertTopic', {
      key: this.key.key,
      displayName: 'Clickstream bot alerts',
      ...(config.alertEmail ? { email: config.alertEmail } : {}),
    });

    ({
      streamToAggregator: this.streamToAggregator,
      aggregatorToUserActivity: this.aggregatorToUserActivity,
      userActivityToAlerter: this.userActivityToAlerter,
      alerterToAlertDedupe: this.alerterToAlertDedupe,
    } = addConsumers(this, {
      config,
      streams: this.streams,
      buckets: this.buckets,
      alertTopic: this.alertTopic,
      catalogName,
      logRetention,
    }));
    ({
      lakeCatalog: this.lakeCatalog,
      eventsToLake: this.eventsToLake,
      userActivityToLake: this.userActivityToLake,
    } = addLake(this, { config, streams: this.streams, buckets: this.buckets, catalogName, logRetention }));

    this.athenaQueries = new AthenaQueries(this, 'AthenaQueries', {
      workGroupName: catalogName,
      databaseName: catalogName,
      resultsBucket: this.buckets.athenaResults,
      bytesScannedCutoff: config.athenaBytesScannedCutoff,
      queries: namedQueries(),
    });

    this.operatorPolicies = new OperatorPolicies(this, 'OperatorPolicies', {
      eventsStream: this.streams.events,
      rawBucket: this.buckets.raw,
      rawPrefix: RAW_EVENTS_PREFIX,
      // Where `clickstream replay` puts the rows it rejected from an S3 source.
      rejectsPrefix: 'rejects/',
      // What `clickstream redrive` reads back: the aggregator's dead letters and its parked ranges.
      deadLetterPrefix: `${DEAD_LETTER_PREFIX}${CONSUMER_SERVICES.aggregator}/`,
      failureQueue: this.streamToAggregator.failureQueue,
      userActivityStream: this.streams.userActivity,
      alerterFailureQueue: this.userActivityToAlerter.failureQueue,
      lakeBucket: this.buckets.lake,
      lakeTables: LAKE_TABLE_NAMES.map((name) => ({ name, prefix: TABLES[name].prefix })),
      resultsBucket: this.buckets.athenaResults,
      resultsPrefix: 'results/',
      tables: [this.aggregatorToUserActivity.table, this.alerterToAlertDedupe.table],
      databaseName: catalogName,
      workGroupName: catalogName,
    });

    this.alarmTopic = addAlarmTopic(this, this.key, config);
    this.smokePolicy = new SmokePolicy(this, 'SmokePolicy', {
      stackName: this.stackName,
      alertTopic: this.alertTopic.topic,
      alarmTopics: this.alarmTopic ? [this.alarmTopic.topic] : [],
      userActivityTable: this.aggregatorToUserActivity.table,
      queuePrefix: SMOKE_QUEUE_PREFIX,
    });
    ({ alarms: this.alarms, dashboard: this.dashboard } = addAlarmsAndDashboard(this, {
      config,
      streams: this.streams,
      buckets: this.buckets,
      consumers: this,
      eventsToLake: this.eventsToLake,
      userActivityToLake: this.userActivityToLake,
      alarmTopic: this.alarmTopic,
    }));

    this.addOutputs(catalogName, config);
    acknowledgeNagFindings(this);
    acknowledgeValidationFindings(this);
  }

  private addOutputs(catalogName: string, config: PipelineConfig): void {
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output('EventsStreamName', this.streams.events.streamName, 'Kinesis stream the producer replays into');
    output(
      'UserActivityStreamName',
      this.streams.userActivity.streamName,
      'Kinesis stream of per-user window partials',
    );
    output(
      'RawBucketName',
      this.buckets.raw.bucketName,
      `Upload the Kaggle CSV files under ${RAW_EVENTS_PREFIX}`,
    );
    output(
      'LakeBucketName',
      this.buckets.lake.bucketName,
      'Firehose-delivered lake (events/, user_activity/)',
    );
    output('AthenaResultsBucketName', this.buckets.athenaResults.bucketName, 'Athena query results');
    output(
      'AccessLogsBucketName',
      this.buckets.accessLogs.bucketName,
      'S3 server access logs of the other buckets',
    );
    output('AlertTopicArn', this.alertTopic.topic.topicArn, 'SNS topic of bot-alert emails');
    output('UserActivityTableName', this.aggregatorToUserActivity.table.tableName, 'Merged per-user windows');
    output('AlertDedupeTableName', this.alerterToAlertDedupe.table.tableName, 'One item per alert sent');
    output('GlueDatabaseName', catalogName, 'Glue database of the lake tables');
    output(
      'AthenaWorkgroupName',
      this.athenaQueries.workGroup.ref,
      'Athena workgroup with the named queries',
    );
    output(
      'ProducerPolicyArn',
      this.operatorPolicies.producer.managedPolicyArn,
      'Attach to whoever runs clickstream replay, generate and redrive',
    );
    output(
      'AnalystPolicyArn',
      this.operatorPolicies.analyst.managedPolicyArn,
      'Attach to whoever runs clickstream query, report and verify',
    );
    output('DashboardName', this.dashboard.dashboard.dashboardName, 'CloudWatch dashboard of the pipeline');
    output(
      'SmokePolicyArn',
      this.smokePolicy.policy.managedPolicyArn,
      'Attach, with the producer and analyst policies, to whoever runs clickstream smoke',
    );
    // What clickstream smoke checks and how long it waits for each part (smoke/deployed-stack.ts).
    if (this.alarmTopic)
      output(
        'AlarmTopicArns',
        this.alarmTopic.topic.topicArn,
        'SNS topics of the CloudWatch alarms, comma-separated',
      );
    output('MetricsNamespace', METRICS_NAMESPACE, "Namespace of the consumers' custom metrics");
    output('WindowSeconds', String(config.windowSeconds), 'Event-time window of the per-user aggregates');
    output('TumblingWindowSeconds', String(config.tumblingWindowSeconds), "The aggregator's tumbling window");
    output(
      'MaxBatchingWindowSeconds',
      String(config.maxBatchingWindowSeconds),
      'Kinesis event source batching window of both consumers',
    );
    output('FirehoseBufferingSeconds', String(config.firehoseBufferingSeconds), 'Firehose buffer interval');
    output(
      'SmokeCommand',
      Fn.join('', ['npx clickstream smoke --stack ', this.stackName, ' --region ', this.region]),
      'Checks the deployed pipeline end to end (run after every deploy)',
    );
    output(
      'ReplayCommand',
      Fn.join('', [
        'npx clickstream replay --source s3://',
        this.buckets.raw.bucketName,
        `/${RAW_EVENTS_PREFIX}2019-Oct.csv --stream `,
        this.streams.events.streamName,
        ' --region ',
        this.region,
      ]),
      'Replays the uploaded CSV into this stack',
    );
    // The CLI reads resource names from clickstream.config.json: this output is that file's content.
    output(
      'ClickstreamConfig',
      this.toJsonString({
        mode: 'aws',
        region: this.region,
        names: {
          eventsStream: this.streams.events.streamName,
          userActivityStream: this.streams.userActivity.streamName,
          userActivityTable: this.aggregatorToUserActivity.table.tableName,
          alertDedupeTable: this.alerterToAlertDedupe.table.tableName,
          rawBucket: this.buckets.raw.bucketName,
          lakeBucket: this.buckets.lake.bucketName,
          athenaResultsBucket: this.buckets.athenaResults.bucketName,
          alertTopic: this.alertTopic.topic.topicArn,
          glueDatabase: catalogName,
          athenaWorkgroup: this.athenaQueries.workGroup.ref,
          aggregatorFailureQueue: this.streamToAggregator.failureQueue.queueUrl,
          alerterFailureQueue: this.userActivityToAlerter.failureQueue.queueUrl,
        },
      }),
      'Save as clickstream.config.json to point the clickstream CLI at this stack',
    );
  }
}

/**
 * Every cdk-nag AwsSolutions finding this stack keeps on purpose, one acknowledgement per finding,
 * each on the narrowest construct, with the reason it is acceptable.
 */
function acknowledgeNagFindings(stack: PipelineStack): void {
  const ack = (scope: IConstruct, id: string, reason: string) =>
    Validations.of(scope).acknowledge({ id, reason });
  ack(
    stack.buckets.accessLogs,
    'AwsSolutions-S1',
    'This bucket is the server access log target of the other buckets; logging it into itself would loop.',
  );
  for (const consumer of [stack.streamToAggregator, stack.userActivityToAlerter]) {
    ack(
      consumer.failureQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination (Lambda on-failure destination of the Kinesis mapping); a DLQ of a DLQ adds nothing and its depth is alarmed.',
    );
    ack(
      consumer.function,
      'AwsSolutions-L1',
      'Node.js 22 on purpose (design brief): the bundle targets node22 and the AWS SDK v3 shipped with that runtime; runtime upgrades are deliberate, tested changes.',
    );
  }
  ack(
    stack.streamToAggregator.role,
    `AwsSolutions-IAM5[Resource::<${logicalId(stack.buckets.raw)}.Arn>/dead-letter/*]`,
    'The aggregator writes malformed records as new objects whose keys derive from shard and sequence numbers; s3:PutObject only, confined to the dead-letter/ prefix.',
  );
  for (const delivery of [stack.eventsToLake, stack.userActivityToLake]) {
    const role = delivery.deliveryStream.node.findChild('S3 Destination Role');
    const lake = `<${logicalId(stack.buckets.lake)}.Arn>/*`;
    const firehoseS3 =
      'the Firehose S3 destination (CDK L2) grants bucket read/write in glob form, scoped to the lake bucket only; Firehose writes objects under keys it generates and needs object put/get, multipart abort, bucket location and listing (AWS Firehose S3 destination access docs)';
    ack(
      role,
      `AwsSolutions-IAM5[Resource::${lake}]`,
      `Object keys are generated per partition and buffer flush: ${firehoseS3}.`,
    );
    for (const action of ['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*']) {
      ack(role, `AwsSolutions-IAM5[Action::${action}]`, `${action} comes from ${firehoseS3}.`);
    }
    ack(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'glue:GetSchemaVersion on * is added by the CDK Firehose SchemaConfiguration for Glue Schema Registry lookups; it is read-only and our Glue tables reference no registry schema (the table itself is granted by ARN).',
    );
    ack(
      delivery.deliveryStream,
      'AwsSolutions-KDF1',
      'Firehose server-side encryption applies to Direct PUT only; with a Kinesis stream source the records stay encrypted at rest in the KMS-encrypted source stream and land SSE-S3-encrypted in the lake bucket.',
    );
  }
}

function acknowledgeValidationFindings(stack: Stack): void {
  Validations.of(stack).acknowledge({
    id: 'CloudFormation-Validate::W7001',
    reason:
      'The Firehose L2 adds the awscdkawskinesisfirehoseCidrBlocks mapping (per-region Firehose CIDRs for Redshift/Splunk/HTTP allowlists) to any stack that uses it; with S3 destinations it is unused and harmless.',
  });
}

function logicalId(bucket: s3.Bucket): string {
  return Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement);
}
