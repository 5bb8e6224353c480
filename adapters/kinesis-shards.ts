/**
 * Finding a stream's shards, a place to start reading one and reading it to its tip: the steps of every
 * Kinesis reader (the producer's shard map, the local Lambda event source mapping, the local Firehose,
 * redrive and the tests), kept in one place so that each of them pages ListShards as AWS requires and
 * tells the end of a shard the same way.
 */
import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';

/** AWS: one GetRecords call returns at most 10,000 records. */
export const GET_RECORDS_MAX_RECORDS = 10_000;

/**
 * Every shard of the stream, open and closed, in the order Kinesis lists them. ListShards answers in
 * pages (1,000 shards by default) and a later page is asked for with the NextToken alone: naming the
 * stream again next to it is an error.
 */
export async function listShards(kinesis: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/** A shard that still takes writes: the closed parents of a reshard have an ending sequence number. */
export function isOpenShard(shard: Shard): boolean {
  return shard.SequenceNumberRange?.EndingSequenceNumber === undefined;
}

/** Where in a shard to start reading. */
export type ShardPosition =
  | { type: 'TRIM_HORIZON' | 'LATEST' }
  | { type: 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

/** An iterator for `shardId` at `position` (undefined when Kinesis returns none). */
export async function shardIterator(
  kinesis: KinesisClient,
  streamName: string,
  shardId: string,
  position: ShardPosition,
): Promise<string | undefined> {
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({
      StreamName: streamName,
      ShardId: shardId,
      ShardIteratorType: position.type,
      ...('sequenceNumber' in position ? { StartingSequenceNumber: position.sequenceNumber } : {}),
    }),
  );
  return ShardIterator;
}

/**
 * Empty GetRecords pages in a row, while still behind the tip, after which a read to the tip gives up:
 * AWS may answer a few empty pages before the records further on.
 */
export const MAX_EMPTY_PAGES = 25;

export interface ReadToTipOptions {
  /** Records per GetRecords call (at most GET_RECORDS_MAX_RECORDS, the default). */
  limit?: number;
  /** Stops before the next call once aborted. */
  signal?: AbortSignal;
}

/**
 * The records of a shard from `iterator` on, one non-empty GetRecords page at a time, until the shard's
 * tip as it stands now: an empty page with MillisBehindLatest 0 ("caught up, and there are no new records
 * to process at this moment"), a closed shard's end (no NextShardIterator), or MAX_EMPTY_PAGES empty
 * pages in a row; https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html.
 * A caller that has what it wants stops early by leaving its `for await`. Errors (throttling included)
 * are the caller's: a reader that waits them out and polls on is a poller (local/lambda-runner.ts,
 * local/firehose.ts), not this.
 */
export async function* readToTip(
  kinesis: KinesisClient,
  iterator: string | undefined,
  { limit = GET_RECORDS_MAX_RECORDS, signal }: ReadToTipOptions = {},
): AsyncGenerator<_Record[]> {
  let next = iterator;
  let emptyInARow = 0;
  while (next && !signal?.aborted) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: next, Limit: limit }));
    const records = page.Records ?? [];
    if (records.length > 0) {
      emptyInARow = 0;
      yield records;
    } else if ((page.MillisBehindLatest ?? 0) === 0 || ++emptyInARow >= MAX_EMPTY_PAGES) return;
    next = page.NextShardIterator;
  }
}
