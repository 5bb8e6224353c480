/**
 * Writing a window's partials out: merged into the user-activity table (a union of event-id sets, so a
 * retry changes nothing), then put on the user-activity stream for the alerter.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { partialRecords, type UserWindowPartial } from '../../core/aggregate.ts';
import { type PutRecordsOptions, putAllRecords } from '../put-records.ts';
import { mergePartial } from '../user-activity-item.ts';

/** UpdateItem calls in flight per flush unless `writeConcurrency` says otherwise. */
export const DEFAULT_WRITE_CONCURRENCY = 16;

export interface FlushCounts {
  merged: number;
  /** DynamoDB calls the merges took (one per partial unless an item spilled). */
  mergeCalls: number;
  /** Merges that went to an overflow item. */
  spilled: number;
}

export async function flushPartials(
  target: {
    dynamo: DynamoDBDocumentClient;
    kinesis: KinesisClient;
    tableName: string;
    streamName: string;
    writeConcurrency?: number;
    itemBudgetBytes?: number;
    putRecords?: PutRecordsOptions;
  },
  partials: UserWindowPartial[],
  /** The TTL the merged items get: `ttlSeconds` from `now()`. */
  expiry: { now: () => number; ttlSeconds: number },
): Promise<FlushCounts> {
  const counts = { merged: 0, mergeCalls: 0, spilled: 0 };
  if (partials.length === 0) return counts;
  const expiresAt = Math.floor(expiry.now() / 1000) + expiry.ttlSeconds;
  // Per flush, not per processor: locally one handler serves several shards at once.
  const mergeLimit = pLimit(target.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY);
  // allSettled: a failed merge fails the flush only once the others have finished, so no merge is
  // still in flight when Lambda retries the batch.
  const mergeOptions = target.itemBudgetBytes ? { itemBudgetBytes: target.itemBudgetBytes } : {};
  const outcomes = await Promise.allSettled(
    partials.map((partial) =>
      mergeLimit(() => mergePartial(target.dynamo, target.tableName, partial, expiresAt, mergeOptions)),
    ),
  );
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') throw outcome.reason;
    counts.merged++;
    counts.mergeCalls += outcome.value.calls;
    counts.spilled += outcome.value.spilled;
  }
  // After the merge, so the alerter's consistent read of the total always includes this partial.
  // A retry puts again: the earlier attempt may have died between merge and put.
  await putAllRecords(
    target.kinesis,
    target.streamName,
    partials.flatMap((partial) =>
      partialRecords(partial).map((json) => ({ partitionKey: partial.user_id, data: Buffer.from(json) })),
    ),
    target.putRecords,
  );
  return counts;
}
