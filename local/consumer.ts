/**
 * One consumer of the local pipeline: a function of the template with its event source mapping, as a
 * local runner invoking a handler built from the function's environment by the same env-reading code
 * the Lambda runs in AWS (only the clients' endpoints differ). The pipeline runs each one in a worker
 * thread of its own (local/consumer-thread.ts), or in the caller's thread for tests that inject hooks.
 */
import { join } from 'node:path';
import {
  createDynamoClient,
  createKinesisClient,
  createS3Client,
  createSnsClient,
  type LocalEndpoints,
} from '../adapters/clients.ts';
import { alerterConfigFromEnv, createAlerterHandler } from '../consumers/bot-alerter/handler.ts';
import type { Logger } from '../consumers/logger.ts';
import { aggregatorConfigFromEnv, createAggregatorHandler } from '../consumers/window-aggregator/handler.ts';
import { DEFAULT_WINDOW_SECONDS } from '../core/aggregate.ts';
import type { GuardableClient, LocalIam } from './iam/guard.ts';
import {
  createFileOnFailureDestination,
  type LambdaRunner,
  type LambdaRunnerHooks,
  startLambdaRunner,
} from './lambda-runner.ts';
import type { HandlerKind, LocalEventSourceMapping, LocalFunction } from './template.ts';

/** What a consumer is made of: plain data, so that it crosses to a worker thread as it is. */
export interface ConsumerSpec {
  kind: HandlerKind;
  fn: LocalFunction;
  mapping: LocalEventSourceMapping;
  streamName: string;
  endpoints: LocalEndpoints;
  region: string;
  accountId: string;
  /** Where the on-failure destinations (one JSONL file per queue or topic of the template) go. */
  workDir: string;
  functionTimeoutMs?: number;
}

export interface LocalConsumer {
  runner: LambdaRunner;
  /** The event-time window the aggregator folds by, as its environment sets it. */
  windowSeconds?: number;
  /** Calls the function's DynamoDB client sent so far. */
  dynamodbCalls(): number;
  /** The alerter's end-of-stream invocation, as `aws lambda invoke` with `{"endOfStream": true}`. */
  endOfStream(): Promise<void>;
  stop(): Promise<void>;
}

export interface ConsumerDeps {
  logger: Logger;
  iam?: LocalIam;
  hooks?: LambdaRunnerHooks;
}

export async function startLocalConsumer(spec: ConsumerSpec, deps: ConsumerDeps): Promise<LocalConsumer> {
  const { fn, mapping } = spec;
  const built = buildHandler(spec, deps);
  const kinesis = createKinesisClient({ endpoint: spec.endpoints.kinesis });
  let runner: LambdaRunner;
  try {
    runner = await startLambdaRunner({
      kinesis,
      streamName: spec.streamName,
      functionName: fn.name,
      handler: built.handler,
      batchSize: mapping.batchSize,
      maxBatchingWindowMs: mapping.maximumBatchingWindowInSeconds * 1000,
      tumblingWindowSeconds: mapping.tumblingWindowInSeconds,
      maxRetryAttempts: mapping.maximumRetryAttempts,
      maxRecordAgeSeconds: mapping.maximumRecordAgeInSeconds,
      bisectBatchOnError: mapping.bisectBatchOnFunctionError,
      reportBatchItemFailures: mapping.reportBatchItemFailures,
      startingPosition: mapping.startingPosition,
      region: spec.region,
      accountId: spec.accountId,
      ...(mapping.onFailure
        ? {
            onFailure: createFileOnFailureDestination(join(spec.workDir, `${mapping.onFailure.name}.jsonl`)),
          }
        : {}),
      logger: deps.logger,
      ...(deps.hooks ? { hooks: deps.hooks } : {}),
      ...(spec.functionTimeoutMs ? { functionTimeoutMs: spec.functionTimeoutMs } : {}),
      ...(fn.timeoutSeconds ? { deployedTimeoutMs: fn.timeoutSeconds * 1000 } : {}),
      // A final flush merging for minutes on a busy machine is working, not stalled.
      workDone: built.dynamodbCalls,
    });
  } catch (error) {
    built.destroy();
    kinesis.destroy();
    throw error;
  }
  return {
    runner,
    ...(built.windowSeconds ? { windowSeconds: built.windowSeconds } : {}),
    dynamodbCalls: built.dynamodbCalls,
    endOfStream: async () => {
      if (spec.kind === 'alerter') await built.handler({ endOfStream: true });
    },
    stop: async () => {
      await runner.stop();
      built.destroy();
      kinesis.destroy();
    },
  };
}

interface BuiltHandler {
  // biome-ignore lint/suspicious/noExplicitAny: the two handlers differ in their state type.
  handler: (event: any) => Promise<any>;
  windowSeconds?: number;
  dynamodbCalls(): number;
  destroy(): void;
}

/**
 * A handler from its function's environment, exactly as the Lambda builds it, with clients of the local
 * endpoints. Logs go to the pipeline's logger, and no metrics are written: Powertools would print an EMF
 * line on stdout after every invocation, which only CloudWatch reads.
 */
function buildHandler(spec: ConsumerSpec, { logger, iam }: ConsumerDeps): BuiltHandler {
  const { fn, endpoints } = spec;
  const local = { logger, metrics: undefined };
  // The function's own clients: with IAM on, each call is decided against the function's role.
  const asRole = <C extends GuardableClient>(client: C) => (iam ? iam.guard(client, fn.logicalId) : client);
  const dynamo = createDynamoClient({ endpoint: endpoints.dynamodb });
  asRole(dynamo);
  let dynamodbCalls = 0;
  dynamo.middlewareStack.add(
    (next) => (args) => {
      dynamodbCalls++;
      return next(args);
    },
    { step: 'initialize', name: 'countDynamodbCalls' },
  );
  if (fn.handler === 'aggregator') {
    const kinesis = asRole(createKinesisClient({ endpoint: endpoints.kinesis }));
    const s3 = asRole(createS3Client({ endpoint: endpoints.s3 }));
    const config = { ...aggregatorConfigFromEnv(fn.environment, { dynamo, kinesis, s3 }), ...local };
    return {
      handler: createAggregatorHandler(config),
      windowSeconds: config.windowSeconds ?? DEFAULT_WINDOW_SECONDS,
      dynamodbCalls: () => dynamodbCalls,
      destroy: () => {
        for (const client of [dynamo, kinesis, s3]) client.destroy();
      },
    };
  }
  const sns = asRole(createSnsClient({ endpoint: endpoints.sns }));
  return {
    handler: createAlerterHandler({ ...alerterConfigFromEnv(fn.environment, { dynamo, sns }), ...local }),
    dynamodbCalls: () => dynamodbCalls,
    destroy: () => {
      for (const client of [dynamo, sns]) client.destroy();
    },
  };
}
