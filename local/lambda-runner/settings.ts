/**
 * The event source mapping settings a local runner takes, and the figures it runs with once the
 * defaults are filled in and the AWS limits checked.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisHandler, KinesisWindowEvent } from '../../consumers/kinesis-event.ts';
import { type Logger, silentLogger } from '../../consumers/logger.ts';
import type { OnFailureDestination } from './on-failure.ts';

export class LambdaRunnerError extends Error {
  override name = 'LambdaRunnerError';
}

export interface LambdaRunnerHooks {
  /**
   * Called before every invocation (n counts from 1 across shards). Throwing makes the invocation fail
   * as a function error would; delaying past `functionTimeoutMs` makes it time out.
   */
  beforeInvoke?(n: number, event: KinesisWindowEvent<unknown>): void | Promise<void>;
}

export interface LambdaRunnerOptions {
  kinesis: KinesisClient;
  streamName: string;
  // biome-ignore lint/suspicious/noExplicitAny: handlers differ in their state type.
  handler: KinesisHandler<any>;
  /** BatchSize (AWS default 100). */
  batchSize?: number;
  /** MaximumBatchingWindowInSeconds, in ms (AWS default 0). */
  maxBatchingWindowMs?: number;
  /** TumblingWindowInSeconds (absent or 0: no tumbling window; AWS maximum 900). */
  tumblingWindowSeconds?: number;
  /** MaximumRetryAttempts; -1 retries until success (the AWS default). Local default 2. */
  maxRetryAttempts?: number;
  /** MaximumRecordAgeInSeconds: a failing batch whose oldest record is older is discarded; -1 (default) never. */
  maxRecordAgeSeconds?: number;
  bisectBatchOnError?: boolean;
  reportBatchItemFailures?: boolean;
  onFailure?: OnFailureDestination;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /**
   * Least time between the starts of two GetRecords calls on a shard, unless the last one came back
   * full (default 1000: AWS polls each shard once a second). Buffered batches are still invoked as soon
   * as their batching window ends.
   */
  pollIntervalMs?: number;
  /** Pause before retrying a failed invocation. */
  retryDelayMs?: number;
  /** The function timeout: an invocation running longer fails (its work may still land, as in AWS). */
  functionTimeoutMs?: number;
  /**
   * The function's Timeout as deployed (the template's). Not enforced, as the local emulators are
   * slower than the services they stand in for: an invocation running longer is counted
   * (`invocationsPastTimeout`), since AWS would have cut it off and retried its batch.
   */
  deployedTimeoutMs?: number;
  /** Keep checkpoints (and open window state) in this JSON file and resume from it. */
  checkpointFile?: string;
  functionName?: string;
  region?: string;
  accountId?: string;
  logger?: Logger;
  hooks?: LambdaRunnerHooks;
  /**
   * How long idle()/drain() wait without any progress (a record read, an invocation that succeeded)
   * before they give up with an error that says what they are waiting for. Default 300 s: longer than
   * a large final invocation (tens of thousands of merges) takes on a loaded 2-core machine, and still
   * an answer instead of a wait without end.
   */
  stallTimeoutMs?: number;
  /**
   * A count of the work the function does (its DynamoDB calls): a change counts as progress, so one
   * invocation that keeps working past stallTimeoutMs (a final flush of a large window on a loaded
   * machine) is not taken for a stall, while one whose calls stopped still is.
   */
  workDone?: () => number;
}

/** The event source mapping settings the runner applies, defaults filled in. */
export interface LambdaRunnerSettings {
  functionName: string;
  streamName: string;
  batchSize: number;
  maxBatchingWindowMs: number;
  tumblingWindowSeconds: number;
  maxRetryAttempts: number;
  maxRecordAgeSeconds: number;
  bisectBatchOnError: boolean;
  reportBatchItemFailures: boolean;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  functionTimeoutMs?: number;
  deployedTimeoutMs?: number;
}

/** The options with their defaults filled in, in the units the runner computes with. */
export interface RunnerConfig {
  batchSize: number;
  maxBatchingWindowMs: number;
  /** The tumbling window in ms; 0 without one. */
  windowMs: number;
  maxRetryAttempts: number;
  /** Negative when records never expire. */
  maxRecordAgeMs: number;
  pollIntervalMs: number;
  /** How often a shard with records buffered looks again whether a batching window has ended. */
  tickMs: number;
  retryDelayMs: number;
  stallTimeoutMs: number;
  logger: Logger;
  region: string;
  accountId: string;
  functionName: string;
  functionArn: string;
}

/** Fills in the defaults and refuses what AWS refuses, before the runner touches the stream. */
export function resolveConfig(options: LambdaRunnerOptions): RunnerConfig {
  const batchSize = options.batchSize ?? 100;
  const windowMs = (options.tumblingWindowSeconds ?? 0) * 1000;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const functionName = options.functionName ?? 'local-function';
  if (batchSize < 1 || batchSize > 10_000)
    throw new LambdaRunnerError(`batchSize must be 1-10000, got ${batchSize}`);
  if (windowMs > 900_000)
    throw new LambdaRunnerError('tumblingWindowSeconds must be at most 900 (AWS limit)');
  return {
    batchSize,
    maxBatchingWindowMs: options.maxBatchingWindowMs ?? 0,
    windowMs,
    maxRetryAttempts: options.maxRetryAttempts ?? 2,
    maxRecordAgeMs: (options.maxRecordAgeSeconds ?? -1) * 1000,
    pollIntervalMs,
    tickMs: Math.min(pollIntervalMs, 25),
    retryDelayMs: options.retryDelayMs ?? 5,
    stallTimeoutMs: options.stallTimeoutMs ?? 300_000,
    logger: options.logger ?? silentLogger,
    region,
    accountId,
    functionName,
    functionArn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}`,
  };
}

/** The settings a runner reports: what it applies, in the event source mapping's own units. */
export function appliedSettings(options: LambdaRunnerOptions, config: RunnerConfig): LambdaRunnerSettings {
  return {
    functionName: config.functionName,
    streamName: options.streamName,
    batchSize: config.batchSize,
    maxBatchingWindowMs: config.maxBatchingWindowMs,
    tumblingWindowSeconds: config.windowMs / 1000,
    maxRetryAttempts: config.maxRetryAttempts,
    maxRecordAgeSeconds: config.maxRecordAgeMs < 0 ? -1 : config.maxRecordAgeMs / 1000,
    bisectBatchOnError: options.bisectBatchOnError ?? false,
    reportBatchItemFailures: options.reportBatchItemFailures ?? false,
    startingPosition: options.startingPosition ?? 'TRIM_HORIZON',
    ...(options.functionTimeoutMs ? { functionTimeoutMs: options.functionTimeoutMs } : {}),
    ...(options.deployedTimeoutMs ? { deployedTimeoutMs: options.deployedTimeoutMs } : {}),
  };
}
