/**
 * The pipeline's consumers on the embedded stack: the window aggregator and the bot alerter run by the
 * local Lambda runner (the same handler modules as in AWS, built with local clients), and the two
 * local Firehose deliveries into the lake. `clickstream local up` and the demo both start it here.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  createDynamoClient,
  createKinesisClient,
  createS3Client,
  createSnsClient,
} from '../adapters/clients.ts';
import { createAlerterHandler } from '../consumers/bot-alerter/handler.ts';
import { createFileDeadLetterSink } from '../consumers/dead-letter.ts';
import type { Logger } from '../consumers/logger.ts';
import { createAggregatorHandler } from '../consumers/window-aggregator/handler.ts';
import { DEFAULT_WINDOW_SECONDS } from '../core/aggregate.ts';
import type { IncidentSettings } from '../core/incident.ts';
import { type AlertRule, DEFAULT_ALERT_RULES } from '../core/rules.ts';
import { type ChaosProfileName, chainHooks, type PipelineChaos, pipelineChaos } from './chaos.ts';
import { type LocalFirehose, startLocalFirehose } from './firehose.ts';
import {
  createFileOnFailureDestination,
  type LambdaRunner,
  type LambdaRunnerHooks,
  startLambdaRunner,
} from './lambda-runner.ts';
import type { LocalStack } from './stack.ts';

/** Event-source settings, mirroring the CDK stack's defaults where local speed allows. */
export interface LocalPipelineOptions {
  /** Event-time window of the per-user aggregates. */
  windowSeconds?: number;
  /** Lambda TumblingWindowInSeconds of the aggregator's event source (arrival time). */
  tumblingWindowSeconds?: number;
  batchSize?: number;
  maxBatchingWindowMs?: number;
  rules?: readonly AlertRule[];
  /** How alerts group into incidents (default: core/incident.ts). */
  incidents?: IncidentSettings;
  /** Where malformed records and on-failure batch metadata go. */
  workDir: string;
  logger?: Logger;
  hooks?: { aggregator?: LambdaRunnerHooks; alerter?: LambdaRunnerHooks };
  /** Lake buffering (local Firehose). */
  lakeBufferMs?: number;
  /** Lambda function timeout of both consumers (none by default: an invocation may run as long as it takes). */
  functionTimeoutMs?: number;
  /** Fault injection in the consumers (local/chaos.ts); the stack-level faults come with the stack's own `chaos`. */
  chaos?: ChaosProfileName;
}

export interface LocalPipeline {
  aggregator: LambdaRunner;
  alerter: LambdaRunner;
  eventsLake: LocalFirehose;
  userActivityLake: LocalFirehose;
  /** The injected faults, when started with `chaos`. */
  chaos?: PipelineChaos;
  /**
   * Once the producer is done: end open windows, let the alerter and the lake catch up, tell the
   * alerter the stream has ended (it closes the open incidents), and wait for the alert mails to
   * leave. Afterwards every accepted event is in DynamoDB, the lake and (if it broke a rule) a mailbox.
   */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

export const LOCAL_PIPELINE_DEFAULTS = {
  windowSeconds: DEFAULT_WINDOW_SECONDS,
  tumblingWindowSeconds: 30,
  batchSize: 1000,
  maxBatchingWindowMs: 500,
};

export async function startLocalPipeline(
  stack: LocalStack,
  options: LocalPipelineOptions,
): Promise<LocalPipeline> {
  const { endpoints, names } = stack;
  mkdirSync(options.workDir, { recursive: true });
  const kinesis = createKinesisClient({ endpoint: endpoints.kinesis });
  const dynamo = createDynamoClient({ endpoint: endpoints.dynamodb });
  const sns = createSnsClient({ endpoint: endpoints.sns });
  const s3 = createS3Client({ endpoint: endpoints.s3 });
  const settings = { ...LOCAL_PIPELINE_DEFAULTS, ...definedOnly(options) };
  const chaos = options.chaos ? pipelineChaos(options.chaos) : undefined;
  const hooks = {
    aggregator: chainHooks(chaos?.hooks.aggregator, options.hooks?.aggregator),
    alerter: chainHooks(chaos?.hooks.alerter, options.hooks?.alerter),
  };
  const functionTimeoutMs = options.functionTimeoutMs ?? chaos?.functionTimeoutMs;

  const aggregator = await startLambdaRunner({
    kinesis,
    streamName: names.eventsStream,
    functionName: 'window-aggregator',
    handler: createAggregatorHandler({
      dynamo,
      kinesis,
      tableName: names.userActivityTable,
      streamName: names.userActivityStream,
      windowSeconds: settings.windowSeconds,
      deadLetter: createFileDeadLetterSink(join(options.workDir, 'dead-letter')),
      ...(options.logger ? { logger: options.logger } : {}),
    }),
    batchSize: settings.batchSize,
    maxBatchingWindowMs: settings.maxBatchingWindowMs,
    tumblingWindowSeconds: settings.tumblingWindowSeconds,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
    onFailure: createFileOnFailureDestination(join(options.workDir, 'window-aggregator.on-failure.jsonl')),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(hooks.aggregator ? { hooks: hooks.aggregator } : {}),
    ...(functionTimeoutMs ? { functionTimeoutMs } : {}),
  });
  const alerterHandler = createAlerterHandler({
    dynamo,
    sns,
    userActivityTable: names.userActivityTable,
    alertDedupeTable: names.alertDedupeTable,
    topicArn: stack.topicArn,
    rules: options.rules ?? DEFAULT_ALERT_RULES,
    ...(options.incidents ? { incidents: options.incidents } : {}),
    glueDatabase: names.glueDatabase,
    athenaWorkgroup: names.athenaWorkgroup,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const alerter = await startLambdaRunner({
    kinesis,
    streamName: names.userActivityStream,
    functionName: 'bot-alerter',
    handler: alerterHandler,
    batchSize: settings.batchSize,
    maxBatchingWindowMs: settings.maxBatchingWindowMs,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
    onFailure: createFileOnFailureDestination(join(options.workDir, 'bot-alerter.on-failure.jsonl')),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(hooks.alerter ? { hooks: hooks.alerter } : {}),
    ...(functionTimeoutMs ? { functionTimeoutMs } : {}),
  });
  const lakeOptions = {
    kinesis,
    s3,
    bucket: names.lakeBucket,
    tempDirectory: stack.tempDirectory,
    ...(options.lakeBufferMs ? { bufferMs: options.lakeBufferMs } : {}),
  };
  const eventsLake = await startLocalFirehose({
    ...lakeOptions,
    streamName: names.eventsStream,
    table: 'events',
  });
  const userActivityLake = await startLocalFirehose({
    ...lakeOptions,
    streamName: names.userActivityStream,
    table: 'user_activity',
  });

  return {
    aggregator,
    alerter,
    eventsLake,
    userActivityLake,
    ...(chaos ? { chaos } : {}),
    drain: async () => {
      await aggregator.drain();
      await Promise.all([alerter.drain(), eventsLake.flush(), userActivityLake.flush()]);
      // The replay is over: what the watermark has not closed yet closes now, as `aws lambda invoke`
      // with this event would in AWS.
      await alerterHandler({ endOfStream: true });
      await stack.sns.idle();
    },
    stop: async () => {
      await Promise.all([aggregator.stop(), alerter.stop(), eventsLake.stop(), userActivityLake.stop()]);
      for (const client of [kinesis, dynamo, sns, s3]) client.destroy();
    },
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
