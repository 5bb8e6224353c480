/**
 * PutRecords with the AWS limits: ≤ 500 records and ≤ 5 MiB per call (half the 10 MiB maximum, the
 * safe default), and a call can return 200 with FailedRecordCount > 0, so only the failed entries are
 * resent.
 *
 * A shard takes 1,000 records/s; a flush of a few thousand partials overruns that, and Kinesis throttles
 * the rest (ProvisionedThroughputExceededException per record) until the shard's next second. So the
 * resends back off exponentially, each sleep half fixed and half random (equal jitter: always long enough
 * to reach the next second, and spread so parallel flushes do not retry in step), and keep going for a
 * time budget well inside the aggregator's function timeout rather than for a few attempts: giving up
 * fails the whole batch, which Lambda then retries from the start, DynamoDB merges included.
 * https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
import { setTimeout as wait } from 'node:timers/promises';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { ConsumerError } from './errors.ts';

export const PUT_RECORDS_MAX_ENTRIES = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;
/** How long a put keeps resending; the aggregator's function timeout is twice this (infra). */
export const PUT_RECORDS_RETRY_BUDGET_MS = 60_000;

export interface PutRecordsOptions {
  /** Stop resending once the next sleep would end past this much time since the put began. */
  retryBudgetMs?: number;
  /** First backoff step; each step doubles, up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** In [0, 1): the jitter. */
  random?: () => number;
}

export interface StreamEntry {
  partitionKey: string;
  data: Uint8Array;
}

export async function putAllRecords(
  kinesis: KinesisClient,
  streamName: string,
  entries: readonly StreamEntry[],
  options: PutRecordsOptions = {},
): Promise<{ calls: number; resent: number }> {
  const stats = { calls: 0, resent: 0 };
  for (const chunk of chunkEntries(entries)) await putChunk(kinesis, streamName, chunk, options, stats);
  return stats;
}

function* chunkEntries(entries: readonly StreamEntry[]): Generator<StreamEntry[]> {
  let chunk: StreamEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.data.byteLength + Buffer.byteLength(entry.partitionKey);
    if (
      chunk.length > 0 &&
      (chunk.length === PUT_RECORDS_MAX_ENTRIES || bytes + size > PUT_RECORDS_MAX_BYTES)
    ) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

async function putChunk(
  kinesis: KinesisClient,
  streamName: string,
  chunk: StreamEntry[],
  options: PutRecordsOptions,
  stats: { calls: number; resent: number },
): Promise<void> {
  const budgetMs = options.retryBudgetMs ?? PUT_RECORDS_RETRY_BUDGET_MS;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 2_000;
  const sleep = options.sleep ?? ((ms: number) => wait(ms));
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const startedAt = now();
  let pending = chunk;
  for (let attempt = 1; ; attempt++) {
    const records: PutRecordsRequestEntry[] = pending.map((entry) => ({
      PartitionKey: entry.partitionKey,
      Data: entry.data,
    }));
    stats.calls++;
    const result = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: records }));
    if (!result.FailedRecordCount) return;
    const failed = pending.filter((_, index) => result.Records?.[index]?.ErrorCode);
    const step = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    const delay = Math.round(step / 2 + random() * (step / 2));
    const elapsed = now() - startedAt;
    if (elapsed + delay > budgetMs) {
      const code = result.Records?.find((record) => record.ErrorCode)?.ErrorCode ?? 'unknown';
      throw new ConsumerError(
        `PutRecords to ${streamName}: ${failed.length} records still failing after ${attempt} attempts over ${Math.round(elapsed / 1000)} s (${code})`,
      );
    }
    stats.resent += failed.length;
    pending = failed;
    await sleep(delay);
  }
}
