/**
 * Lambda entry point of the bot alerter (Kinesis event source on the user-activity stream, with
 * FunctionResponseTypes ReportBatchItemFailures). One call into the record processor; the local
 * pipeline builds the same handler from the function's environment in the template with
 * `alerterConfigFromEnv`, passing clients of the local endpoints (and its own logger, no metrics). In
 * Lambda it logs with Powertools Logger and writes its metrics with Powertools Metrics after each
 * invocation.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient, createSnsClient } from '../../adapters/clients.ts';
import { LAMBDA_ENV } from '../../core/lambda-env.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { alertRulesFromJson } from '../../core/rules.ts';
import { type Env, optionalPositiveInt, requiredEnv } from '../env.ts';
import type { KinesisStreamBatchItemFailure, KinesisStreamEvent } from '../kinesis-event.ts';
import { CONSUMER_SERVICES, createConsumerMetrics, publishingAfterEach } from '../metrics.ts';
import { type AlerterConfig, createAlerterProcessor } from './processor.ts';

export type AlerterHandler = (
  event: KinesisStreamEvent,
) => Promise<{ batchItemFailures: KinesisStreamBatchItemFailure[] }>;

export function createAlerterHandler(config: AlerterConfig): AlerterHandler {
  const processor = createAlerterProcessor(config);
  return publishingAfterEach(config.metrics, (event) => processor.process(event));
}

/** The AWS clients the alerter calls; absent ones are made for AWS with the standard chain. */
export interface AlerterClients {
  dynamo: DynamoDBDocumentClient;
  sns: SNSClient;
}

export function alerterConfigFromEnv(env: Env, clients: Partial<AlerterClients> = {}): AlerterConfig {
  const ttlDays = optionalPositiveInt(env, LAMBDA_ENV.ttlDays);
  const athenaWorkgroup = env[LAMBDA_ENV.athenaWorkgroup];
  return {
    dynamo: clients.dynamo ?? createDynamoClient(),
    sns: clients.sns ?? createSnsClient(),
    userActivityTable: requiredEnv(env, LAMBDA_ENV.userActivityTable),
    alertDedupeTable: requiredEnv(env, LAMBDA_ENV.alertDedupeTable),
    topicArn: requiredEnv(env, LAMBDA_ENV.alertTopicArn),
    rules: alertRulesFromJson(env[LAMBDA_ENV.alertRules], LAMBDA_ENV.alertRules),
    glueDatabase: env[LAMBDA_ENV.glueDatabase] || DEFAULT_RESOURCE_NAMES.glueDatabase,
    ...(athenaWorkgroup ? { athenaWorkgroup } : {}),
    ...(ttlDays ? { ttlDays } : {}),
    // Powertools takes its level from the function's logging config (AWS_LAMBDA_LOG_LEVEL).
    logger: new Logger({ serviceName: CONSUMER_SERVICES.alerter }),
    metrics: createConsumerMetrics('alerter'),
  };
}

let built: AlerterHandler | undefined;

// Built on first invoke, not at import, so importing the module (tests, local runner) needs no env.
export const handler: AlerterHandler = (event) => {
  built ??= createAlerterHandler(alerterConfigFromEnv(process.env));
  return built(event);
};
