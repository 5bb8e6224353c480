/**
 * Which shard of a stream a Kinesis write lands on, decided as Kinesis decides it: by the entry's
 * explicit hash key when it has one (KPL aggregates), else by the MD5 of its partition key, within the
 * hash-key ranges of the stream's open shards
 * (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html). The ranges come from
 * the emulator behind (the paged ListShards every Kinesis reader uses, adapters/kinesis-shards.ts) once
 * per stream, and are forgotten when a call changes the stream's shards.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { isOpenShard, listShards } from '../../adapters/kinesis-shards.ts';
import type { ForwardedResponse } from '../http-forward.ts';

/** Sends one request to the emulator behind and buffers its answer (local/http-forward.ts). */
export type Forward = (
  req: { headers: IncomingHttpHeaders; method?: string | undefined; url?: string | undefined },
  body: Buffer,
) => Promise<ForwardedResponse>;

/** What routing reads of an entry: PutRecord's body and each of PutRecords' entries alike. */
export interface RoutedEntry {
  PartitionKey?: string;
  ExplicitHashKey?: string;
}

export interface ShardRouter {
  /** The id of the shard the entry lands on; undefined when the stream or the entry cannot be routed. */
  shardOf(streamName: string, entry: RoutedEntry): Promise<string | undefined>;
  /** Drops what is known of a stream's shards (it was created, deleted or resharded). */
  forget(streamName: string): void;
}

/** Calls after which a stream's shards are not what they were. */
export const RESHAPING_TARGETS = new Set(
  ['CreateStream', 'DeleteStream', 'UpdateShardCount', 'SplitShard', 'MergeShards'].map(
    (action) => `Kinesis_20131202.${action}`,
  ),
);

interface HashRange {
  shardId: string;
  start: bigint;
  end: bigint;
}

/** `kinesis` talks to the emulator behind the proxy (a client of adapters/clients.ts; the caller destroys it). */
export function createShardRouter(kinesis: KinesisClient): ShardRouter {
  const ranges = new Map<string, Promise<HashRange[] | undefined>>();

  const list = async (streamName: string): Promise<HashRange[]> =>
    // A closed parent of a reshard takes no writes; its range is its children's now.
    (await listShards(kinesis, streamName)).filter(isOpenShard).map((shard) => ({
      shardId: shard.ShardId as string,
      start: BigInt(shard.HashKeyRange?.StartingHashKey as string),
      end: BigInt(shard.HashKeyRange?.EndingHashKey as string),
    }));

  return {
    async shardOf(streamName, entry) {
      let known = ranges.get(streamName);
      if (!known) {
        known = list(streamName).catch(() => undefined);
        ranges.set(streamName, known);
      }
      const shards = await known;
      // Not listed (no such stream, or the emulator failed): asked again next time.
      if (!shards) {
        ranges.delete(streamName);
        return undefined;
      }
      const hash = hashKeyOf(entry);
      if (hash === undefined) return undefined;
      return shards.find((range) => hash >= range.start && hash <= range.end)?.shardId;
    },
    forget: (streamName) => void ranges.delete(streamName),
  };
}

/** The 128-bit hash key an entry is routed by, or undefined for an entry Kinesis would refuse. */
export function hashKeyOf(entry: RoutedEntry): bigint | undefined {
  if (entry.ExplicitHashKey !== undefined) {
    return /^\d{1,39}$/.test(entry.ExplicitHashKey) ? BigInt(entry.ExplicitHashKey) : undefined;
  }
  if (typeof entry.PartitionKey !== 'string') return undefined;
  return BigInt(`0x${createHash('md5').update(entry.PartitionKey, 'utf8').digest('hex')}`);
}

/** The stream a call names, by name or by ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`). */
export function streamNameOf(request: object): string | undefined {
  const body = request as { StreamName?: unknown; StreamARN?: unknown };
  if (typeof body.StreamName === 'string') return body.StreamName;
  if (typeof body.StreamARN === 'string') return body.StreamARN.split('/').pop();
  return undefined;
}
