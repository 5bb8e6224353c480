import { fileURLToPath } from 'node:url';
import {
  type CfnElement,
  CfnOutput,
  Duration,
  Fn,
  Size,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import type * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct, IConstruct } from 'constructs';
import { DEAD_LETTER_PREFIX } from '../consumers/dead-letter.ts';
import { CONSUMER_SERVICES, METRICS_NAMESPACE } from '../consumers/metrics.ts';
import { PUT_RECORDS_RETRY_BUDGET_MS } from '../consumers/put-records.ts';
import { DYNAMO_TABLES } from '../core/dynamo-tables.ts';
import { ERRORS_PREFIX } from '../core/lake.ts';
import { LAMBDA_ENV } from '../core/lambda-env.ts';
import { SMOKE_QUEUE_PREFIX } from '../core/resources.ts';
import { LAKE_TABLE_NAMES, type LakeTableName, RAW_EVENTS_PREFIX, TABLES } from '../core/tables.ts';
import type { PipelineConfig } from './config.ts';
import { AlertTopic } from './constructs/alert-topic.ts';
import { AthenaQueries } from './constructs/athena-queries.ts';
import { DataBuckets } from './constructs/data-buckets.ts';
import { EventStreams } from './constructs/event-streams.ts';
import { FunctionToTable } from './constructs/function-to-table.ts';
import { LakeCatalog } from './constructs/lake-catalog.ts';
import { OperatorPolicies, SmokePolicy } from './constructs/operator-policies.ts';
import { PipelineAlarms } from './constructs/pipeline-alarms.ts';
import { PipelineDashboard } from './constructs/pipeline-dashboard.ts';
import { PipelineKey } from './constructs/pipeline-key.ts';
import { StreamToFunction } from './constructs/stream-to-function.ts';
import { StreamToLake } from './constructs/stream-to-lake.ts';
import { catalogTables, LAKE_BUFFERING, lakeDelivery, namedQueries } from './lake-definitions.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export const HANDLER_ENTRIES = {
  aggregator: `${PROJECT_ROOT}/consumers/window-aggregator/handler.ts`,
  alerter: `${PROJECT_ROOT}/consumers/bot-alerter/handler.ts`,
} as const;

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

    const consumerSettings = {
      projectRoot: PROJECT_ROOT,
      logRetention,
      batchSize: config.batchSize,
      maxBatchingWindow: Duration.seconds(config.maxBatchingWindowSeconds),
      retryAttempts: config.retryAttempts,
      maxRecordAge: Duration.seconds(config.maxRecordAgeSeconds),
    };
    // With parallelization factor 1 a Kinesis mapping runs at most one invocation per shard; on-demand
    // streams change their shard count, so they are left unreserved.
    const reserved = (shards: number) =>
      config.reserveConcurrency && config.streamMode === 'provisioned' ? { reservedConcurrency: shards } : {};
    const [userActivitySpec, alertDedupeSpec] = tableSpecs();

    this.streamToAggregator = new StreamToFunction(this, 'StreamToAggregator', {
      ...consumerSettings,
      ...reserved(config.eventsShards),
      stream: this.streams.events,
      entry: HANDLER_ENTRIES.aggregator,
      description: 'Clickstream window aggregator: events stream -> per-user window partials',
      // The final invoke of a tumbling window flushes a whole window of state (up to 1 MB per shard);
      // its put to the user-activity stream may wait out throttling for its whole retry budget.
      memorySize: 1024,
      timeout: Duration.millis(2 * PUT_RECORDS_RETRY_BUDGET_MS),
      tumblingWindow: Duration.seconds(config.tumblingWindowSeconds),
      environment: {
        [LAMBDA_ENV.userActivityStream]: this.streams.userActivity.streamName,
        [LAMBDA_ENV.windowSeconds]: String(config.windowSeconds),
        [LAMBDA_ENV.ttlDays]: String(config.ttlDays),
        [LAMBDA_ENV.deadLetterBucket]: this.buckets.raw.bucketName,
      },
    });
    const aggregator = this.streamToAggregator.function;
    this.aggregatorToUserActivity = new FunctionToTable(this, 'AggregatorToUserActivity', {
      spec: userActivitySpec,
      writer: aggregator,
      // ADD of event-id sets, one UpdateItem per partial; GetItem reads an overflow count when an item spills.
      actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
    });
    aggregator.addEnvironment(LAMBDA_ENV.userActivityTable, this.aggregatorToUserActivity.table.tableName);
    this.streams.userActivity.grant(aggregator, 'kinesis:PutRecords');
    aggregator.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WriteMalformedRecords',
        actions: ['s3:PutObject'],
        resources: [this.buckets.raw.arnForObjects(`${DEAD_LETTER_PREFIX}*`)],
      }),
    );

    this.userActivityToAlerter = new StreamToFunction(this, 'UserActivityToAlerter', {
      ...consumerSettings,
      ...reserved(config.userActivityShards),
      stream: this.streams.userActivity,
      entry: HANDLER_ENTRIES.alerter,
      description: 'Clickstream bot alerter: user-activity partials -> rules -> SNS email',
      memorySize: 512,
      timeout: Duration.minutes(1),
      environment: {
        [LAMBDA_ENV.alertTopicArn]: this.alertTopic.topic.topicArn,
        [LAMBDA_ENV.userActivityTable]: this.aggregatorToUserActivity.table.tableName,
        [LAMBDA_ENV.ttlDays]: String(config.ttlDays),
        [LAMBDA_ENV.glueDatabase]: catalogName,
        [LAMBDA_ENV.athenaWorkgroup]: catalogName,
        ...(config.alertRulesJson ? { [LAMBDA_ENV.alertRules]: config.alertRulesJson } : {}),
      },
    });
    const alerter = this.userActivityToAlerter.function;
    this.alerterToAlertDedupe = new FunctionToTable(this, 'AlerterToAlertDedupe', {
      spec: alertDedupeSpec,
      writer: alerter,
      // Claim (conditional put), mark sent, release the claim when publishing failed.
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem'],
    });
    alerter.addEnvironment(LAMBDA_ENV.alertDedupeTable, this.alerterToAlertDedupe.table.tableName);
    // Rules fire on merged totals over horizons: one Query of the user's windows (base and overflow
    // items) around the changed ones, and of an incident's span when it closes
    // (consumers/user-activity-item.ts readUserWindows).
    this.aggregatorToUserActivity.table.grant(alerter, 'dynamodb:Query');
    // grantPublish would add kms:GenerateDataKey*; publishing to an encrypted topic needs exactly these two.
    this.alertTopic.topic.grants.actions(alerter, ['sns:Publish'], {
      keyActions: ['kms:GenerateDataKey', 'kms:Decrypt'],
    });

    this.lakeCatalog = new LakeCatalog(this, 'LakeCatalog', {
      databaseName: catalogName,
      tables: catalogTables({ rawBucket: this.buckets.raw, lakeBucket: this.buckets.lake }),
    });
    const toLake = (id: string, name: LakeTableName, stream: kinesis.IStream) => {
      const delivery = lakeDelivery(name);
      return new StreamToLake(this, id, {
        stream,
        bucket: this.buckets.lake,
        dataOutputPrefix: delivery.dataOutputPrefix,
        errorOutputPrefix: delivery.errorOutputPrefix,
        partitionQuery: delivery.partitionQuery,
        partitionKeys: delivery.partitionKeys,
        fileExtension: delivery.fileExtension,
        conversion: {
          schemaTable: cfnTable(this.lakeCatalog, delivery.table),
          timestampFormats: delivery.timestampFormats,
          compression: delivery.compression,
          enableDictionaryCompression: delivery.enableDictionaryCompression,
        },
        bufferingInterval: Duration.seconds(config.firehoseBufferingSeconds),
        bufferingSize: Size.mebibytes(LAKE_BUFFERING.sizeMiB),
        logRetention,
      });
    };
    this.eventsToLake = toLake('EventsToLake', 'events', this.streams.events);
    this.userActivityToLake = toLake('UserActivityToLake', 'user_activity', this.streams.userActivity);

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
      lakeBucket: this.buckets.lake,
      lakeTables: LAKE_TABLE_NAMES.map((name) => ({ name, prefix: TABLES[name].prefix })),
      resultsBucket: this.buckets.athenaResults,
      resultsPrefix: 'results/',
      tables: [this.aggregatorToUserActivity.table, this.alerterToAlertDedupe.table],
      databaseName: catalogName,
      workGroupName: catalogName,
    });

    if (config.alarmEmail) {
      this.alarmTopic = new AlertTopic(this, 'AlarmTopic', {
        key: this.key.key,
        displayName: 'Clickstream pipeline alarms',
        email: config.alarmEmail,
      });
      // CloudWatch publishes to the encrypted topic itself and needs the key for that; the topic policy
      // allowing it to publish is added with the alarms (PipelineAlarms).
      // https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns
      this.key.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowCloudWatchAlarmsToPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
      );
    }
    this.smokePolicy = new SmokePolicy(this, 'SmokePolicy', {
      stackName: this.stackName,
      alertTopic: this.alertTopic.topic,
      alarmTopics: this.alarmTopic ? [this.alarmTopic.topic] : [],
      userActivityTable: this.aggregatorToUserActivity.table,
      queuePrefix: SMOKE_QUEUE_PREFIX,
    });
    // Iterator age stays below the tumbling window + batching window in steady state; a minute more is lag.
    const maxIteratorAge = Duration.seconds(
      config.tumblingWindowSeconds + config.maxBatchingWindowSeconds + 60,
    );
    this.alarms = new PipelineAlarms(this, 'PipelineAlarms', {
      consumers: [
        {
          name: 'window-aggregator',
          function: aggregator,
          failureQueue: this.streamToAggregator.failureQueue,
          maxIteratorAge,
        },
        {
          name: 'bot-alerter',
          function: alerter,
          failureQueue: this.userActivityToAlerter.failureQueue,
          maxIteratorAge: Duration.seconds(config.maxBatchingWindowSeconds + 60),
        },
      ],
      deliveries: [
        {
          name: 'events-to-lake',
          deliveryStream: this.eventsToLake.deliveryStream,
          maxDataFreshness: Duration.seconds(config.firehoseBufferingSeconds * 3 + 300),
        },
        {
          name: 'user-activity-to-lake',
          deliveryStream: this.userActivityToLake.deliveryStream,
          maxDataFreshness: Duration.seconds(config.firehoseBufferingSeconds * 3 + 300),
        },
      ],
      errorOutput: { bucket: this.buckets.lake, prefix: ERRORS_PREFIX },
      ...(this.alarmTopic ? { alarmTopic: this.alarmTopic.topic } : {}),
    });
    this.dashboard = new PipelineDashboard(this, 'PipelineDashboard', {
      eventsStream: this.streams.events,
      userActivityStream: this.streams.userActivity,
      aggregator,
      alerter,
      deliveries: [this.eventsToLake.deliveryStream, this.userActivityToLake.deliveryStream],
    });

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
        },
      }),
      'Save as clickstream.config.json to point the clickstream CLI at this stack',
    );
  }
}

function tableSpecs() {
  // CloudFormation names the tables; only the key schema and TTL attribute are shared.
  const specs = DYNAMO_TABLES({ userActivityTable: 'user-activity', alertDedupeTable: 'alert-dedupe' });
  const userActivity = specs.find((s) => s.resource === 'userActivityTable');
  const alertDedupe = specs.find((s) => s.resource === 'alertDedupeTable');
  if (!userActivity || !alertDedupe)
    throw new Error('core/dynamo-tables.ts must define both DynamoDB tables');
  return [userActivity, alertDedupe] as const;
}

function cfnTable(catalog: LakeCatalog, table: string): glue.CfnTable {
  const glueTable = catalog.tables[table];
  if (!glueTable) throw new Error(`lake table ${table} is not in the catalog`);
  return glueTable.node.defaultChild as glue.CfnTable;
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
