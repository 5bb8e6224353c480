/**
 * PutRecords with the AWS limits: ≤ 500 records and ≤ 5 MiB per call (half the 10 MiB maximum, the
 * safe default), and a call can return 200 with FailedRecordCount > 0, so only the failed entries are
 * resent, with exponential backoff and full jitter.
 */
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { ConsumerError } from './errors.ts';

export const PUT_RECORDS_MAX_ENTRIES = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;

export interface PutRecordsOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
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
  const maxAttempts = options.maxAttempts ?? 6;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
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
    if (attempt >= maxAttempts) {
      const code = result.Records?.find((record) => record.ErrorCode)?.ErrorCode ?? 'unknown';
      throw new ConsumerError(
        `PutRecords to ${streamName}: ${failed.length} records still failing after ${attempt} attempts (${code})`,
      );
    }
    stats.resent += failed.length;
    pending = failed;
    await sleep(Math.random() * baseDelayMs * 2 ** (attempt - 1));
  }
}
