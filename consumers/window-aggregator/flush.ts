/**
 * Writing a window's partials out: merged into the user-activity table (a union of event-id sets, so a
 * retry changes nothing), then put on the user-activity stream for the alerter.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { partialRecords, type UserWindowPartial } from '../../core/aggregate.ts';
import {
  PUT_RECORDS_MAX_ENTRIES,
  type PutRecordsOptions,
  putAllRecords,
  type StreamEntry,
} from '../put-records.ts';
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

/**
 * Merges every partial and puts its records on the stream for the alerter, each user's records once
 * all of that user's merges in this flush are done: the alerter's consistent read of a user's windows
 * then includes every partial of the flush that it could be told about, as when the whole flush was put
 * at its end. That matters for rules that are not monotonic (views without a purchase: a window read
 * with its views merged but not the purchases of a later window would break the rule falsely).
 *
 * The puts go out as users complete, in calls of up to 500 records, one call at a time, so the
 * alerter works beside the rest of a large flush instead of after it, and the stream takes the records
 * spread over the merges rather than in one burst past its shards' 1,000 records a second. The merges
 * are queued user by user so that users complete steadily.
 *
 * Nothing is still in flight when this rejects: a failed merge or put fails the flush only once every
 * other merge and the put under way have finished, so Lambda's retry of the batch never races this
 * attempt. After a failed put no further put starts, and after a failed merge what still waits is not
 * put; the retry merges again (a no-op for what was merged) and puts every partial again, as it must
 * anyway, since an attempt can die between merge and put. The alerter takes a partial twice alike.
 */
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
  const mergeOptions = target.itemBudgetBytes ? { itemBudgetBytes: target.itemBudgetBytes } : {};
  const puts = new MergedRecordPuts(target.kinesis, target.streamName, target.putRecords);
  // A user's merges are queued together, so users complete steadily through the flush.
  const outcomes = await Promise.all(
    [...partialsByUser(partials).values()].map(async (userPartials) => {
      // allSettled, not all: every merge has finished before the flush can fail.
      const merges = await Promise.allSettled(
        userPartials.map((partial) =>
          mergeLimit(() => mergePartial(target.dynamo, target.tableName, partial, expiresAt, mergeOptions)),
        ),
      );
      if (merges.every((merge) => merge.status === 'fulfilled')) puts.add(userPartials);
      return merges;
    }),
  );
  const merges = outcomes.flat();
  const failedMerge = merges.find((merge) => merge.status === 'rejected');
  if (failedMerge) puts.stop();
  await puts.finish();
  if (failedMerge) throw failedMerge.reason;
  for (const merge of merges) {
    if (merge.status === 'rejected') continue;
    counts.merged++;
    counts.mergeCalls += merge.value.calls;
    counts.spilled += merge.value.spilled;
  }
  return counts;
}

/** The records of merged partials, in the order their users completed, one PutRecords call at a time. */
class MergedRecordPuts {
  private waiting: StreamEntry[] = [];
  private chain: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private stopped = false;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    private readonly options: PutRecordsOptions | undefined,
  ) {}

  add(partials: readonly UserWindowPartial[]): void {
    for (const partial of partials) {
      for (const json of partialRecords(partial)) {
        this.waiting.push({ partitionKey: partial.user_id, data: Buffer.from(json) });
      }
    }
    while (this.waiting.length >= PUT_RECORDS_MAX_ENTRIES) this.send(PUT_RECORDS_MAX_ENTRIES);
  }

  /** No put starts after this: a merge failed, and Lambda's retry of the batch puts every partial again. */
  stop(): void {
    this.stopped = true;
  }

  /** Puts what is still waiting (unless stopped) and settles every put; rejects with the first failure. */
  async finish(): Promise<void> {
    if (!this.stopped && this.waiting.length > 0) this.send(this.waiting.length);
    await this.chain;
    if (this.failure) throw this.failure.error;
  }

  private send(count: number): void {
    const entries = this.waiting.splice(0, count);
    this.chain = this.chain.then(async () => {
      if (this.stopped || this.failure) return;
      try {
        await putAllRecords(this.kinesis, this.streamName, entries, this.options);
      } catch (error) {
        this.failure = { error };
      }
    });
  }
}

function partialsByUser(partials: readonly UserWindowPartial[]): Map<string, UserWindowPartial[]> {
  const byUser = new Map<string, UserWindowPartial[]>();
  for (const partial of partials) {
    const userPartials = byUser.get(partial.user_id);
    if (userPartials) userPartials.push(partial);
    else byUser.set(partial.user_id, [partial]);
  }
  return byUser;
}
