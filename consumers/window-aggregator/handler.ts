/**
 * Lambda entry point of the window aggregator (Kinesis event source on the events stream, tumbling
 * window). One call into the record processor; the local runner builds the same handler with local
 * clients through `createAggregatorHandler`. In Lambda it logs with Powertools Logger and writes its
 * metrics with Powertools Metrics after each invocation.
 */
import { Logger } from '@aws-lambda-powertools/logger';
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

export function aggregatorConfigFromEnv(env: Env): AggregatorConfig {
  // Powertools takes its level from the function's logging config (AWS_LAMBDA_LOG_LEVEL).
  const logger = new Logger({ serviceName: CONSUMER_SERVICES.aggregator });
  const deadLetterBucket = env[LAMBDA_ENV.deadLetterBucket];
  const windowSeconds = optionalPositiveInt(env, LAMBDA_ENV.windowSeconds);
  const ttlDays = optionalPositiveInt(env, LAMBDA_ENV.ttlDays);
  return {
    dynamo: createDynamoClient(),
    kinesis: createKinesisClient(),
    tableName: requiredEnv(env, LAMBDA_ENV.userActivityTable),
    streamName: requiredEnv(env, LAMBDA_ENV.userActivityStream),
    deadLetter: deadLetterBucket
      ? createS3DeadLetterSink({ s3: createS3Client(), bucket: deadLetterBucket })
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
