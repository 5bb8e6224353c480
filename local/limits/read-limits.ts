/**
 * The read side of the Kinesis limits front: GetShardIterator answers teach it which shard an iterator
 * reads; a GetRecords call over its shard's 5 calls/s, or while the shard's 2 MB/s is in debt, fails
 * with ProvisionedThroughputExceededException; what a call returns is charged to the shard's budget,
 * shared by every reader. A call returns at most 10 MiB, as in AWS: past that the answer is cut after
 * a whole record and continues from an iterator after it
 * (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html).
 */
import { randomUUID } from 'node:crypto';
import type { ForwardedResponse } from '../http-forward.ts';
import { jsonAnswer, jsonError, LOCAL_ACCOUNT, THROUGHPUT_EXCEEDED } from '../kinesis/put-records.ts';
import { streamNameOf } from '../kinesis/shard-router.ts';
import type { FrontContext, FrontHandler, FrontRequest } from './front-context.ts';

/** AWS: one GetRecords call returns at most 10 MiB. */
export const GET_RECORDS_MAX_BYTES = 10 * 1024 * 1024;

interface GetRecordsPage {
  Records?: Array<{ Data?: string; SequenceNumber?: string; ApproximateArrivalTimestamp?: number }>;
  NextShardIterator?: string;
  MillisBehindLatest?: number;
}

export function readHandlers(front: FrontContext): {
  getShardIterator: FrontHandler;
  getRecords: FrontHandler;
} {
  const { forward, upstreamCall, throughput, shardKey, iterators } = front;

  const getShardIterator = async (req: FrontRequest, raw: Buffer, body: unknown) => {
    const answer = await forward(req, raw);
    const request = (body ?? {}) as { ShardId?: unknown };
    const stream = streamNameOf(request);
    if (answer.status === 200 && stream && typeof request.ShardId === 'string') {
      const { ShardIterator } = JSON.parse(answer.body.toString('utf8')) as { ShardIterator?: string };
      iterators.learn(ShardIterator, { stream, shardId: request.ShardId });
    }
    return answer;
  };

  const getRecords = async (req: FrontRequest, raw: Buffer, body: unknown): Promise<ForwardedResponse> => {
    const iterator = (body as { ShardIterator?: unknown } | null)?.ShardIterator;
    const owner = typeof iterator === 'string' ? iterators.ownerOf(iterator) : undefined;
    // Not made through this front (nor expired in the meantime): nothing to charge it to.
    if (!owner) return forward(req, raw);
    const shard = shardKey(owner.stream, owner.shardId);
    if (!throughput.admitRead(shard)) {
      return jsonError(
        THROUGHPUT_EXCEEDED,
        `Rate exceeded for Shard - ${owner.shardId} in stream ${owner.stream} under account ${LOCAL_ACCOUNT}.`,
        randomUUID(),
      );
    }
    const answer = await forward(req, raw);
    if (answer.status !== 200) return answer;
    const page = JSON.parse(answer.body.toString('utf8')) as GetRecordsPage;
    const records = page.Records ?? [];
    let bytes = 0;
    let kept = 0;
    for (const record of records) {
      const size = Buffer.byteLength(record.Data ?? '', 'base64');
      if (kept > 0 && bytes + size > GET_RECORDS_MAX_BYTES) break;
      bytes += size;
      kept++;
    }
    const last = records[kept - 1];
    if (kept < records.length && last?.SequenceNumber) {
      const after = await upstreamCall(req.headers, 'GetShardIterator', {
        StreamName: owner.stream,
        ShardId: owner.shardId,
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        StartingSequenceNumber: last.SequenceNumber,
      });
      if (after.status === 200) {
        const { ShardIterator } = JSON.parse(after.body.toString('utf8')) as { ShardIterator?: string };
        throughput.chargeRead(shard, bytes);
        iterators.learn(ShardIterator, owner);
        // Not read to the tip: never 0, which tells a reader it has caught up.
        const next = records[kept];
        const arrivedMs = (next?.ApproximateArrivalTimestamp ?? 0) * 1000;
        const behind = arrivedMs > 0 ? Math.max(1, Date.now() - Math.round(arrivedMs)) : 1;
        return jsonAnswer(
          {
            ...page,
            Records: records.slice(0, kept),
            NextShardIterator: ShardIterator,
            MillisBehindLatest: Math.max(page.MillisBehindLatest ?? 0, behind),
          },
          randomUUID(),
        );
      }
    }
    // Whole (or, should the emulator refuse the iterator after the cut, whole all the same).
    let total = 0;
    for (const record of records) total += Buffer.byteLength(record.Data ?? '', 'base64');
    throughput.chargeRead(shard, total);
    iterators.learn(page.NextShardIterator, owner);
    return answer;
  };

  return { getShardIterator, getRecords };
}
