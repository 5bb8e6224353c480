/**
 * Reading the shards: every shard from TRIM_HORIZON, LATEST or after its checkpoint, each polled once a
 * second while it has nothing new ("a base rate of once per second") and at once again while a call
 * comes back full (10,000 records, or behind the tip), "until the function catches up with the stream";
 * one invocation at a time per shard (ParallelizationFactor 1, required with tumbling windows). A
 * throttled GetRecords (ProvisionedThroughputExceededException) never reaches the function: it is no
 * function error, counts against no retry quota and sends nothing to the on-failure destination
 * ("doesn't apply to service errors or throttles where the batch didn't reach the function"); the shard
 * waits (local/kinesis/read-throttling.ts) and reads again from the same iterator.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 */
import { GetRecordsCommand, type GetRecordsCommandOutput, type Shard } from '@aws-sdk/client-kinesis';
import { GET_RECORDS_MAX_RECORDS, shardIterator } from '../../adapters/kinesis-shards.ts';
import { THROUGHPUT_EXCEEDED } from '../kinesis/put-records.ts';
import { isThrottled, readBackoffMs } from '../kinesis/read-throttling.ts';
import { takeBatch } from './batching.ts';
import type { CheckpointFile } from './checkpoints.ts';
import { deliver } from './delivery.ts';
import type { RunnerState } from './runner-state.ts';
import type { LambdaRunnerOptions } from './settings.ts';
import { newShardCursor, type ShardCursor, toLambdaRecord } from './shard-cursor.ts';
import { closeOrOpenWindow } from './tumbling-window.ts';

/** A cursor on every shard, positioned after its saved checkpoint or at the starting position. */
export async function openShardCursors(
  options: LambdaRunnerOptions,
  shards: readonly Shard[],
  saved: CheckpointFile | undefined,
): Promise<ShardCursor[]> {
  const cursors: ShardCursor[] = [];
  for (const shard of shards) {
    const shardId = shard.ShardId ?? '';
    const resume = saved?.shards[shardId];
    const iterator = await iteratorAfter(options, shardId, resume?.sequenceNumber ?? null);
    cursors.push(
      newShardCursor(shardId, iterator, {
        checkpoint: resume?.sequenceNumber ?? null,
        window: resume?.window,
      }),
    );
  }
  return cursors;
}

/** An iterator after `sequenceNumber`, or at the mapping's starting position when nothing was read. */
function iteratorAfter(
  options: LambdaRunnerOptions,
  shardId: string,
  sequenceNumber: string | null,
): Promise<string | undefined> {
  return shardIterator(
    options.kinesis,
    options.streamName,
    shardId,
    sequenceNumber
      ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber }
      : { type: options.startingPosition ?? 'TRIM_HORIZON' },
  );
}

/** Polls and invokes on one shard until the runner stops; a failed poll is logged and tried again. */
export async function runShard(run: RunnerState, cursor: ShardCursor): Promise<void> {
  while (!run.stopped) {
    cursor.busy = true;
    let outcome = { progressed: false, throttled: false };
    try {
      outcome = await step(run, cursor);
    } catch (error) {
      cursor.lastError = `GetRecords: ${String(error)}`;
      run.config.logger.error('shard poll failed', { shardId: cursor.shardId, error: String(error) });
    } finally {
      cursor.busy = false;
    }
    if (run.stopped) break;
    if (outcome.throttled) await run.sleep(readBackoffMs(cursor.throttledPolls));
    else if (!outcome.progressed) await run.sleep(run.config.tickMs);
  }
}

/** One round on a shard: a read if one is due, then every batch (and window end) that is ready. */
async function step(
  run: RunnerState,
  cursor: ShardCursor,
): Promise<{ progressed: boolean; throttled: boolean }> {
  const { fetched, throttled } = await poll(run, cursor);
  let invoked = false;
  while (!run.stopped) {
    const now = Date.now();
    if (await closeOrOpenWindow(run, cursor, now)) {
      invoked = true;
      continue;
    }
    const batch = takeBatch(run, cursor, now);
    if (!batch) break;
    await deliver(run, cursor, batch);
    invoked = true;
  }
  return { progressed: fetched > 0 || invoked, throttled };
}

/** Reads the shard when a read is due: what came back, or that Kinesis throttled the call. */
async function poll(run: RunnerState, cursor: ShardCursor): Promise<{ fetched: number; throttled: boolean }> {
  const pollStartedMs = Date.now();
  const due = cursor.behind || pollStartedMs - cursor.lastPollStartedMs >= run.config.pollIntervalMs;
  if (!due || cursor.closed || !cursor.iterator || cursor.buffer.length >= GET_RECORDS_MAX_RECORDS)
    return { fetched: 0, throttled: false };
  cursor.lastPollStartedMs = pollStartedMs;
  let page: GetRecordsCommandOutput;
  try {
    page = await run.options.kinesis.send(
      new GetRecordsCommand({ ShardIterator: cursor.iterator, Limit: GET_RECORDS_MAX_RECORDS }),
    );
  } catch (error) {
    // "A shard iterator expires 5 minutes after it is returned"
    // (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html): a shard
    // whose buffer stayed full that long (a long run's backlog) is read on from after its last record.
    if ((error as Error).name === 'ExpiredIteratorException') {
      cursor.iterator = await iteratorAfter(run.options, cursor.shardId, cursor.readTo);
      return { fetched: 0, throttled: false };
    }
    if (!isThrottled(error)) throw error;
    run.counters.readThrottles++;
    cursor.throttledPolls++;
    cursor.lastError = `GetRecords throttled ${cursor.throttledPolls} times in a row (${THROUGHPUT_EXCEEDED})`;
    run.config.logger.debug('GetRecords throttled', {
      shardId: cursor.shardId,
      inARow: cursor.throttledPolls,
    });
    return { fetched: 0, throttled: true };
  }
  if (cursor.throttledPolls > 0) cursor.lastError = undefined;
  cursor.throttledPolls = 0;
  cursor.iterator = page.NextShardIterator;
  if (!cursor.iterator) cursor.closed = true;
  const records = page.Records ?? [];
  const fetched = records.length;
  if (fetched > 0) run.lastProgressMs = Date.now();
  if (cursor.buffer.length === 0 && fetched > 0) cursor.bufferSinceMs = Date.now();
  for (const record of records) cursor.buffer.push(toLambdaRecord(run.source, cursor.shardId, record));
  cursor.readTo = records.at(-1)?.SequenceNumber ?? cursor.readTo;
  cursor.caughtUp = fetched === 0 && (page.MillisBehindLatest ?? 0) === 0;
  if (cursor.caughtUp) cursor.caughtUpPollStartedMs = pollStartedMs;
  cursor.behind = fetched >= GET_RECORDS_MAX_RECORDS || (page.MillisBehindLatest ?? 0) > 0;
  return { fetched, throttled: false };
}
