/**
 * Finding a stream's shards and a place to start reading one: the first steps of every Kinesis reader
 * (the producer's shard map, the local Lambda event source mapping, the local Firehose, redrive and the
 * tests), kept in one place so that each of them pages ListShards as AWS requires.
 */
import {
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
