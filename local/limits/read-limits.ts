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

/** AWS: at most 10,000 records a call. */
const GET_RECORDS_MAX_RECORDS = 10_000;
/** The first piece read from kinesalite: 10 records of up to 1 MiB each are about what a call may return. */
const FIRST_PIECE_RECORDS = 10;

interface GetRecordsRecord {
  Data?: string;
  SequenceNumber?: string;
  ApproximateArrivalTimestamp?: number;
}

interface GetRecordsPage {
  Records?: GetRecordsRecord[];
  NextShardIterator?: string;
  MillisBehindLatest?: number;
}

interface CutAfter {
  sequenceNumber: string;
  /** When the first record left out arrived (epoch seconds; 0 when unknown). */
  nextArrivalSeconds: number;
}

/** What kinesalite gave, piece by piece: its refusal of the first piece, or the records of the answer. */
type PiecesRead =
  | { kind: 'refused'; answer: ForwardedResponse }
  | { kind: 'read'; page: GetRecordsPage; records: GetRecordsRecord[]; bytes: number; cutAfter?: CutAfter };

/** The answer ends before the shard's tip: it continues after its last record. */
function cutAfterLast(records: GetRecordsRecord[], nextArrivalSeconds: number): { cutAfter?: CutAfter } {
  const sequenceNumber = records.at(-1)?.SequenceNumber;
  return sequenceNumber ? { cutAfter: { sequenceNumber, nextArrivalSeconds } } : {};
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
    const asked = (body as { Limit?: unknown }).Limit;
    // An invalid Limit gets kinesalite's own validation error.
    if (asked !== undefined && !(Number.isInteger(asked) && (asked as number) >= 1)) return forward(req, raw);
    const limit = Math.min((asked as number | undefined) ?? GET_RECORDS_MAX_RECORDS, GET_RECORDS_MAX_RECORDS);
    const read = await readUpTo(req, iterator as string, limit);
    if (read.kind === 'refused') return read.answer;
    const { page, records, bytes, cutAfter } = read;
    let next = page.NextShardIterator;
    let behindMs = page.MillisBehindLatest ?? 0;
    if (cutAfter) {
      const after = await upstreamCall(req.headers, 'GetShardIterator', {
        StreamName: owner.stream,
        ShardId: owner.shardId,
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        StartingSequenceNumber: cutAfter.sequenceNumber,
      });
      // Without an iterator after the cut the answer cannot be given: the caller makes the call again
      // with the same iterator, as after any failed call, and nothing is skipped.
      if (after.status !== 200) return after;
      next = (JSON.parse(after.body.toString('utf8')) as { ShardIterator?: string }).ShardIterator;
      // Not read to the tip: never 0, which tells a reader it has caught up.
      const arrivedMs = cutAfter.nextArrivalSeconds * 1000;
      behindMs = Math.max(behindMs, arrivedMs > 0 ? Math.max(1, Date.now() - Math.round(arrivedMs)) : 1);
    }
    throughput.chargeRead(shard, bytes);
    iterators.learn(next, owner);
    return jsonAnswer(
      { Records: records, NextShardIterator: next, MillisBehindLatest: behindMs },
      randomUUID(),
    );
  };

  /**
   * Reads from kinesalite in pieces, each sized by the records' average so far, until `limit` records,
   * 10 MiB, or the shard's tip. kinesalite counts records only: asked for 10,000 of the producer's
   * 20-50 KiB aggregates it built answers of hundreds of megabytes, which the cut then threw away, and
   * the stack's memory grew with the backlog (2 GB at a million events).
   */
  async function readUpTo(req: FrontRequest, iterator: string, limit: number): Promise<PiecesRead> {
    const records: GetRecordsRecord[] = [];
    let bytes = 0;
    let from = iterator;
    let piece = FIRST_PIECE_RECORDS;
    for (;;) {
      const ask = Math.min(piece, limit - records.length);
      const answer = await upstreamCall(req.headers, 'GetRecords', { ShardIterator: from, Limit: ask });
      if (answer.status !== 200) {
        // The first piece fails as the caller's call would have; a later one ends the answer early,
        // with an iterator after the last record kept.
        if (records.length === 0) return { kind: 'refused', answer };
        return { kind: 'read', page: {}, records, bytes, ...cutAfterLast(records, 0) };
      }
      const page = JSON.parse(answer.body.toString('utf8')) as GetRecordsPage;
      const got = page.Records ?? [];
      for (const [i, record] of got.entries()) {
        const size = Buffer.byteLength(record.Data ?? '', 'base64');
        if (records.length > 0 && bytes + size > GET_RECORDS_MAX_BYTES)
          return {
            kind: 'read',
            page,
            records,
            bytes,
            ...cutAfterLast(records, got[i]?.ApproximateArrivalTimestamp ?? 0),
          };
        bytes += size;
        records.push(record);
      }
      // The tip (a short piece), the limit, or the end of a closed shard: this is the answer.
      if (got.length < ask || records.length >= limit || !page.NextShardIterator)
        return { kind: 'read', page, records, bytes };
      from = page.NextShardIterator;
      const average = bytes / records.length;
      piece = Math.max(1, Math.floor((GET_RECORDS_MAX_BYTES - bytes) / Math.max(1, average)) + 1);
    }
  }

  return { getShardIterator, getRecords };
}
