/**
 * The write side of the Kinesis limits front: PutRecords refuses, at their index, the entries over
 * their shard's write budget and writes the others; PutRecord over budget fails whole. Both answer
 * ProvisionedThroughputExceededException, as Kinesis does.
 */
import { randomUUID } from 'node:crypto';
import type { ForwardedResponse } from '../http-forward.ts';
import {
  isPutRecordsBody,
  jsonError,
  type PutRecordsEntry,
  putRecordsExcept,
  THROUGHPUT_EXCEEDED,
  throughputExceededEntry,
} from '../kinesis/put-records.ts';
import { streamNameOf } from '../kinesis/shard-router.ts';
import type { FrontContext, FrontHandler, FrontRequest } from './front-context.ts';

export function writeHandlers(front: FrontContext): { putRecords: FrontHandler; putRecord: FrontHandler } {
  const { forward, router, throughput, shardKey } = front;

  const putRecords = async (req: FrontRequest, raw: Buffer, body: unknown): Promise<ForwardedResponse> => {
    const stream = streamNameOf((body ?? {}) as object);
    if (!stream || !isPutRecordsBody(body)) return forward(req, raw);
    const shards = await Promise.all(body.Records.map((entry) => router.shardOf(stream, entry)));
    // An entry Kinesis cannot route is the emulator's to refuse, with the whole call.
    if (shards.some((shardId) => shardId === undefined)) return forward(req, raw);
    const refused = new Map<number, ReturnType<typeof throughputExceededEntry>>();
    for (const [i, entry] of body.Records.entries()) {
      const shardId = shards[i] as string;
      if (!throughput.admitWrite(shardKey(stream, shardId), entryBytes(entry)))
        refused.set(i, throughputExceededEntry(shardId, stream));
    }
    return putRecordsExcept({ forward, req, raw, body, refused, requestId: randomUUID });
  };

  const putRecord = async (req: FrontRequest, raw: Buffer, body: unknown): Promise<ForwardedResponse> => {
    const entry = (body ?? {}) as Partial<PutRecordsEntry>;
    const stream = streamNameOf(entry);
    if (!stream || typeof entry.Data !== 'string' || typeof entry.PartitionKey !== 'string')
      return forward(req, raw);
    const shardId = await router.shardOf(stream, entry);
    if (shardId === undefined) return forward(req, raw);
    if (throughput.admitWrite(shardKey(stream, shardId), entryBytes(entry as PutRecordsEntry)))
      return forward(req, raw);
    const { ErrorMessage } = throughputExceededEntry(shardId, stream);
    return jsonError(THROUGHPUT_EXCEEDED, ErrorMessage, randomUUID());
  };

  return { putRecords, putRecord };
}

/** What a record weighs against a shard's write budget: its data and its partition key. */
function entryBytes(entry: PutRecordsEntry): number {
  return Buffer.byteLength(entry.Data, 'base64') + Buffer.byteLength(entry.PartitionKey, 'utf8');
}
