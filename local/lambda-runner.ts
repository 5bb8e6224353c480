/**
 * A local Kinesis event source mapping: polls every shard of a stream and invokes a handler in-process
 * the way Lambda does, so the very handler modules deployed to AWS run against the local emulator.
 *
 * What it reproduces, with the AWS documentation it follows:
 * - Polling per shard (GetShardIterator TRIM_HORIZON / LATEST / AFTER_SEQUENCE_NUMBER, GetRecords), one
 *   invocation at a time per shard (ParallelizationFactor 1, required with tumbling windows). Batches
 *   close at BatchSize, at the 6 MB invocation payload limit, or when MaximumBatchingWindowInSeconds has
 *   passed since the first buffered record.
 *   https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 * - Tumbling windows aligned on ApproximateArrivalTimestamp, per shard; a batch never spans two
 *   windows; `state` returned by one invocation is passed (serialized, as JSON) to the next; a response
 *   without `state` is a failed invocation; at the window end a final invocation with no records and
 *   `isFinalInvokeForWindow: true`, retried until it succeeds (Lambda "pauses further processing until
 *   a successful invocation"); a state above 1 MB ends the window early: a final invocation with
 *   `isWindowTerminatedEarly: true`, then the same window continues with a fresh state.
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html
 * - Errors: the batch is retried up to MaximumRetryAttempts (-1 = until it succeeds) or until its
 *   oldest record is older than MaximumRecordAgeInSeconds; with BisectBatchOnFunctionError a failed
 *   batch is split in two first, and a split does not count against the retry quota; exhausted or
 *   expired batches go to the on-failure destination as metadata only, and the shard moves on.
 *   https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * - Reading: each shard is polled once a second while it has nothing new ("a base rate of once per
 *   second"), and at once again while a call comes back full (10,000 records, or behind the tip), "until
 *   the function catches up with the stream"; the mapping "shares read throughput with other consumers
 *   of the shard". A throttled GetRecords (ProvisionedThroughputExceededException) never reaches the
 *   function: it is no function error, counts against no retry quota and sends nothing to the on-failure
 *   destination ("doesn't apply to service errors or throttles where the batch didn't reach the
 *   function"); the shard waits (local/kinesis/read-throttling.ts) and reads again from the same iterator.
 *   https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 * - ReportBatchItemFailures: checkpoint before the lowest reported sequence number and retry from it;
 *   an empty list is success; a null, empty or unknown itemIdentifier fails the whole batch; without
 *   the setting the list is ignored.
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 *
 * Where AWS is silent, the runner's choices: a partially failed batch keeps the state the invocation
 * returned (the checkpointed records are in it); a bisected half starts from the state of the last
 * successful invocation.
 *
 * Local-only: `drain()` ends open windows as soon as every shard is read to its end, instead of waiting
 * for the wall clock to reach the window end: the same final invocation AWS makes when the window
 * ends, only earlier. Records that arrive afterwards with a timestamp in that window open it again
 * (AWS would have put them in the closed window).
 *
 * The parts, in local/lambda-runner/: settings.ts (options, defaults, AWS limits), shard-poller.ts
 * (reading the shards, one step at a time), batching.ts (when records become a batch), invoker.ts (the
 * event, the timeout, the response), delivery.ts (retries, bisection, partial failures), tumbling-window.ts
 * (state and final invocations), checkpoints.ts, on-failure.ts (destinations), idle.ts (idle and drain),
 * stats.ts; runner-state.ts is what they share.
 */

import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { listShards } from '../adapters/kinesis-shards.ts';
import { readCheckpoints } from './lambda-runner/checkpoints.ts';
import { waitUntilIdle } from './lambda-runner/idle.ts';
import { type RunnerState, wakeableSleep } from './lambda-runner/runner-state.ts';
import {
  appliedSettings,
  type LambdaRunnerOptions,
  type LambdaRunnerSettings,
  resolveConfig,
} from './lambda-runner/settings.ts';
import { openShardCursors, runShard } from './lambda-runner/shard-poller.ts';
import { type LambdaRunnerStats, newRunnerCounters, runnerStats } from './lambda-runner/stats.ts';

export { INVOKE_PAYLOAD_LIMIT_BYTES } from './lambda-runner/batching.ts';
export {
  createFileOnFailureDestination,
  createMemoryOnFailureDestination,
  type OnFailureDestination,
  type OnFailureRecord,
} from './lambda-runner/on-failure.ts';
export {
  LambdaRunnerError,
  type LambdaRunnerHooks,
  type LambdaRunnerOptions,
  type LambdaRunnerSettings,
} from './lambda-runner/settings.ts';
export type { LambdaRunnerStats, ShardStats } from './lambda-runner/stats.ts';

export interface LambdaRunner {
  settings: LambdaRunnerSettings;
  stats(): LambdaRunnerStats;
  /** Resolves once every shard is read to its end, nothing is buffered or running, and no window is open. */
  idle(): Promise<void>;
  /** Like idle(), but ends open windows (final invocations) as soon as the shards are read to their end. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLambdaRunner(options: LambdaRunnerOptions): Promise<LambdaRunner> {
  const config = resolveConfig(options);
  const summary = await options.kinesis.send(
    new DescribeStreamSummaryCommand({ StreamName: options.streamName }),
  );
  const streamArn =
    summary.StreamDescriptionSummary?.StreamARN ??
    `arn:aws:kinesis:${config.region}:${config.accountId}:stream/${options.streamName}`;
  // Every shard, the closed parents of a reshard included: their records still reach the function.
  const shards = await listShards(options.kinesis, options.streamName);
  const saved = options.checkpointFile ? await readCheckpoints(options.checkpointFile) : undefined;
  const run: RunnerState = {
    options,
    config,
    source: {
      streamArn,
      region: config.region,
      accountId: config.accountId,
      functionName: config.functionName,
    },
    counters: newRunnerCounters(),
    cursors: await openShardCursors(options, shards, saved),
    stopped: false,
    draining: false,
    invocationCount: 0,
    lastProgressMs: Date.now(),
    ...wakeableSleep(),
  };
  const loops = run.cursors.map((cursor) => runShard(run, cursor));

  return {
    settings: appliedSettings(options, config),
    stats: () => runnerStats(run.counters, run.cursors),
    idle: () => waitUntilIdle(run),
    async drain() {
      run.draining = true;
      try {
        await waitUntilIdle(run);
      } finally {
        run.draining = false;
      }
    },
    async stop() {
      run.stopped = true;
      run.wakeSleepers();
      await Promise.all(loops);
    },
  };
}
