/**
 * The two consumers of the pipeline and what they may touch: the window aggregator (events stream ->
 * user-activity table and stream, malformed records to the dead-letter prefix) and the bot alerter
 * (user-activity stream -> rules -> alert-dedupe table and the alert topic).
 */
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEAD_LETTER_PREFIX } from '../consumers/dead-letter.ts';
import { PUT_RECORDS_RETRY_BUDGET_MS } from '../consumers/put-records.ts';
import { DYNAMO_TABLES } from '../core/dynamo-tables.ts';
import { LAMBDA_ENV } from '../core/lambda-env.ts';
import type { PipelineConfig } from './config.ts';
import type { AlertTopic } from './constructs/alert-topic.ts';
import type { DataBuckets } from './constructs/data-buckets.ts';
import type { EventStreams } from './constructs/event-streams.ts';
import { FunctionToTable } from './constructs/function-to-table.ts';
import { StreamToFunction } from './constructs/stream-to-function.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export const HANDLER_ENTRIES = {
  aggregator: `${PROJECT_ROOT}/consumers/window-aggregator/handler.ts`,
  alerter: `${PROJECT_ROOT}/consumers/bot-alerter/handler.ts`,
} as const;

export interface PipelineConsumers {
  streamToAggregator: StreamToFunction;
  aggregatorToUserActivity: FunctionToTable;
  userActivityToAlerter: StreamToFunction;
  alerterToAlertDedupe: FunctionToTable;
}

/** Adds both consumers, their tables and their grants to `scope` (the stack: the logical IDs stay its own). */
export function addConsumers(
  scope: Construct,
  props: {
    config: PipelineConfig;
    streams: EventStreams;
    buckets: DataBuckets;
    alertTopic: AlertTopic;
    catalogName: string;
    logRetention: logs.RetentionDays;
  },
): PipelineConsumers {
  const { config, streams, buckets, alertTopic, catalogName, logRetention } = props;
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

  const streamToAggregator = new StreamToFunction(scope, 'StreamToAggregator', {
    ...consumerSettings,
    ...reserved(config.eventsShards),
    stream: streams.events,
    entry: HANDLER_ENTRIES.aggregator,
    description: 'Clickstream window aggregator: events stream -> per-user window partials',
    // The final invoke of a tumbling window flushes a whole window of state (up to 1 MB per shard);
    // its put to the user-activity stream may wait out throttling for its whole retry budget.
    memorySize: 1024,
    timeout: Duration.millis(2 * PUT_RECORDS_RETRY_BUDGET_MS),
    tumblingWindow: Duration.seconds(config.tumblingWindowSeconds),
    environment: {
      [LAMBDA_ENV.userActivityStream]: streams.userActivity.streamName,
      [LAMBDA_ENV.windowSeconds]: String(config.windowSeconds),
      [LAMBDA_ENV.ttlDays]: String(config.ttlDays),
      [LAMBDA_ENV.deadLetterBucket]: buckets.raw.bucketName,
    },
  });
  const aggregator = streamToAggregator.function;
  const aggregatorToUserActivity = new FunctionToTable(scope, 'AggregatorToUserActivity', {
    spec: userActivitySpec,
    writer: aggregator,
    // ADD of event-id sets, one UpdateItem per partial; GetItem reads an overflow count when an item spills.
    actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
  });
  aggregator.addEnvironment(LAMBDA_ENV.userActivityTable, aggregatorToUserActivity.table.tableName);
  streams.userActivity.grant(aggregator, 'kinesis:PutRecords');
  aggregator.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'WriteMalformedRecords',
      actions: ['s3:PutObject'],
      resources: [buckets.raw.arnForObjects(`${DEAD_LETTER_PREFIX}*`)],
    }),
  );

  const userActivityToAlerter = new StreamToFunction(scope, 'UserActivityToAlerter', {
    ...consumerSettings,
    ...reserved(config.userActivityShards),
    stream: streams.userActivity,
    entry: HANDLER_ENTRIES.alerter,
    description: 'Clickstream bot alerter: user-activity partials -> rules -> SNS email',
    memorySize: 512,
    timeout: Duration.minutes(1),
    environment: {
      [LAMBDA_ENV.alertTopicArn]: alertTopic.topic.topicArn,
      [LAMBDA_ENV.userActivityTable]: aggregatorToUserActivity.table.tableName,
      [LAMBDA_ENV.ttlDays]: String(config.ttlDays),
      [LAMBDA_ENV.glueDatabase]: catalogName,
      [LAMBDA_ENV.athenaWorkgroup]: catalogName,
      ...(config.alertRulesJson ? { [LAMBDA_ENV.alertRules]: config.alertRulesJson } : {}),
    },
  });
  const alerter = userActivityToAlerter.function;
  const alerterToAlertDedupe = new FunctionToTable(scope, 'AlerterToAlertDedupe', {
    spec: alertDedupeSpec,
    writer: alerter,
    // Claim (conditional put), mark sent, release the claim when publishing failed.
    actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem'],
  });
  alerter.addEnvironment(LAMBDA_ENV.alertDedupeTable, alerterToAlertDedupe.table.tableName);
  // Rules fire on merged totals over horizons: one Query of the user's windows (base and overflow
  // items) around the changed ones, and of an incident's span when it closes
  // (consumers/user-activity-item.ts readUserWindows).
  aggregatorToUserActivity.table.grant(alerter, 'dynamodb:Query');
  // grantPublish would add kms:GenerateDataKey*; publishing to an encrypted topic needs exactly these two.
  alertTopic.topic.grants.actions(alerter, ['sns:Publish'], {
    keyActions: ['kms:GenerateDataKey', 'kms:Decrypt'],
  });
  return { streamToAggregator, aggregatorToUserActivity, userActivityToAlerter, alerterToAlertDedupe };
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
