/**
 * Lambda entry point of the window aggregator (Kinesis event source on the events stream, tumbling
 * window). One call into the record processor; the local pipeline builds the same handler from the
 * function's environment in the template with `aggregatorConfigFromEnv`, passing clients of the local
 * endpoints (and its own logger, no metrics). In Lambda it logs with Powertools Logger and writes its
 * metrics with Powertools Metrics after each invocation.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient, createKinesisClient, createS3Client } from '../../adapters/clients.ts';
import { LAMBDA_ENV } from '../../core/lambda-env.ts';
import { createLogDeadLetterSink, createS3DeadLetterSink } from '../dead-letter.ts';
import { type Env, optionalPositiveInt, requiredEnv } from '../env.ts';
import type { KinesisWindowEvent } from '../kinesis-event.ts';
import { CONSUMER_SERVICES, createConsumerMetrics, publishingAfterEach } from '../metrics.ts';
import { type AggregatorConfig, type AggregatorResponse, createAggregatorProcessor } from './processor.ts';

export type AggregatorHandler = (event: KinesisWindowEvent<unknown>) => Promise<AggregatorResponse>;

export function createAggregatorHandler(config: AggregatorConfig): AggregatorHandler {
  const processor = createAggregatorProcessor(config);
  return publishingAfterEach(config.metrics, (event) => processor.process(event));
}

/** The AWS clients the aggregator calls; absent ones are made for AWS with the standard chain. */
export interface AggregatorClients {
  dynamo: DynamoDBDocumentClient;
  kinesis: KinesisClient;
  s3: S3Client;
}

export function aggregatorConfigFromEnv(
  env: Env,
  clients: Partial<AggregatorClients> = {},
): AggregatorConfig {
  // Powertools takes its level from the function's logging config (AWS_LAMBDA_LOG_LEVEL).
  const logger = new Logger({ serviceName: CONSUMER_SERVICES.aggregator });
  const deadLetterBucket = env[LAMBDA_ENV.deadLetterBucket];
  const windowSeconds = optionalPositiveInt(env, LAMBDA_ENV.windowSeconds);
  const ttlDays = optionalPositiveInt(env, LAMBDA_ENV.ttlDays);
  return {
    dynamo: clients.dynamo ?? createDynamoClient(),
    kinesis: clients.kinesis ?? createKinesisClient(),
    tableName: requiredEnv(env, LAMBDA_ENV.userActivityTable),
    streamName: requiredEnv(env, LAMBDA_ENV.userActivityStream),
    deadLetter: deadLetterBucket
      ? createS3DeadLetterSink({ s3: clients.s3 ?? createS3Client(), bucket: deadLetterBucket })
      : createLogDeadLetterSink(logger),
    ...(windowSeconds ? { windowSeconds } : {}),
    ...(ttlDays ? { ttlDays } : {}),
    logger,
    metrics: createConsumerMetrics('aggregator'),
  };
}

let built: AggregatorHandler | undefined;

// Built on first invoke, not at import, so importing the module (tests, local runner) needs no env.
export const handler: AggregatorHandler = (event) => {
  built ??= createAggregatorHandler(aggregatorConfigFromEnv(process.env));
  return built(event);
};
