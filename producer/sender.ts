/**
 * PutRecords with the failure handling Kinesis asks of producers: one call in flight per shard (keeps
 * each partition key's order), p-limit over all shards, resend of only the failed entries of a partial
 * failure with exponential backoff and full jitter, per-shard slow-down on throttling, bounded retries,
 * and every record that still fails handed to `onFailed` (never dropped).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type KinesisClient, PutRecordsCommand, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import pLimit from 'p-limit';
import type { Batch, OutgoingRecord } from './batcher.ts';
import { fatalAwsError, ProducerError } from './errors.ts';
import type { ShardRateLimiter } from './shards.ts';

export interface FailedRecord {
  record: OutgoingRecord;
  errorCode: string;
  errorMessage: string;
}

export interface SenderOptions {
  kinesis: KinesisClient;
  streamName: string;
  limiter: ShardRateLimiter;
  /** Calls in flight over all shards. */
  concurrency?: number;
  /** Resends after the first attempt; a record failing them all goes to onFailed. */
  maxRetries?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  random?: () => number;
  onSent(records: readonly OutgoingRecord[]): void;
  onFailed(failures: readonly FailedRecord[]): void;
}

export interface SenderStats {
  calls: number;
  /** Records sent again after a failure (one per resend). */
  retried: number;
  throttled: number;
}

const PTE = 'ProvisionedThroughputExceededException';
// Whole-call errors that no resend fixes: the entries fail at once (still written, never dropped).
const NOT_RETRYABLE = new Set(['ValidationException', 'InvalidArgumentException', 'SerializationException']);

export class KinesisSender {
  readonly stats: SenderStats = { calls: 0, retried: 0, throttled: 0 };
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly busyShards = new Map<number, Promise<void>>();
  private readonly maxRetries: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private fatal: Error | undefined;

  constructor(private readonly options: SenderOptions) {
    this.limit = pLimit(options.concurrency ?? 8);
    this.maxRetries = options.maxRetries ?? 10;
    this.baseMs = options.backoff?.baseMs ?? 100;
    this.maxMs = options.backoff?.maxMs ?? 5_000;
    this.random = options.random ?? Math.random;
  }

  /** The error that stopped sending (credentials, missing stream), if any. */
  get fatalError(): Error | undefined {
    return this.fatal;
  }

  /**
   * Queues a batch; resolves once it is accepted, which is when its shard has no call in flight. Waiting
   * here is the backpressure that stops the reader.
   */
  async submit(batch: Batch): Promise<void> {
    for (let busy = this.busyShards.get(batch.shard); busy; busy = this.busyShards.get(batch.shard))
      await busy;
    this.throwIfFatal();
    const done = this.limit(() => this.sendBatch(batch)).finally(() => this.busyShards.delete(batch.shard));
    this.busyShards.set(batch.shard, done);
  }

  /** Resolves when nothing is in flight. */
  async drain(): Promise<void> {
    while (this.busyShards.size > 0) await Promise.all(this.busyShards.values());
    this.throwIfFatal();
  }

  get inFlight(): number {
    return this.busyShards.size;
  }

  private throwIfFatal(): void {
    if (this.fatal) throw this.fatal;
  }

  private async sendBatch(batch: Batch): Promise<void> {
    const { limiter } = this.options;
    let pending: readonly OutgoingRecord[] = batch.records;
    for (let attempt = 0; ; attempt++) {
      if (this.fatal) {
        // Another call found the stream unusable: these records are neither sent nor failed; the run
        // stops with the error and the checkpoint still covers them.
        return;
      }
      const wait = limiter.reserve(batch.shard, pending.length);
      if (wait > 0) await sleep(wait);
      let results: PutRecordsResultEntry[];
      let callError: { code: string; message: string } | undefined;
      try {
        this.stats.calls++;
        const response = await this.options.kinesis.send(
          new PutRecordsCommand({
            StreamName: this.options.streamName,
            Records: pending.map((record) =>
              record.explicitHashKey === undefined
                ? { Data: record.data, PartitionKey: record.partitionKey }
                : {
                    Data: record.data,
                    PartitionKey: record.partitionKey,
                    ExplicitHashKey: record.explicitHashKey,
                  },
            ),
          }),
        );
        results = response.Records ?? [];
      } catch (error) {
        const fatal = fatalAwsError(error, `Kinesis stream ${this.options.streamName}`);
        if (fatal) {
          this.fatal = fatal;
          return;
        }
        const code = error instanceof Error ? error.name : 'Error';
        const message = error instanceof Error ? error.message : String(error);
        if (NOT_RETRYABLE.has(code)) {
          this.options.onFailed(
            pending.map((record) => ({ record, errorCode: code, errorMessage: message })),
          );
          return;
        }
        callError = { code, message };
        results = [];
      }

      const failed: FailedRecord[] = [];
      if (callError) {
        if (callError.code === PTE) this.noteThrottle(batch.shard);
        for (const record of pending)
          failed.push({ record, errorCode: callError.code, errorMessage: callError.message });
      } else {
        const sent: OutgoingRecord[] = [];
        let throttled = false;
        for (let i = 0; i < pending.length; i++) {
          const record = pending[i] as OutgoingRecord;
          const result = results[i];
          if (result && !result.ErrorCode && result.SequenceNumber) {
            sent.push(record);
            continue;
          }
          const errorCode = result?.ErrorCode ?? 'MissingResult';
          if (errorCode === PTE) throttled = true;
          failed.push({
            record,
            errorCode,
            errorMessage: result?.ErrorMessage ?? 'no result for this entry',
          });
        }
        if (throttled) this.noteThrottle(batch.shard);
        else limiter.succeeded(batch.shard);
        if (sent.length > 0) this.options.onSent(sent);
      }
      if (failed.length === 0) return;
      if (attempt >= this.maxRetries) {
        this.options.onFailed(failed);
        return;
      }
      for (const failure of failed) this.stats.retried += failure.record.events.length;
      pending = failed.map((failure) => failure.record);
      // Full jitter (AWS Architecture Blog): spreads resends of many producers instead of syncing them.
      await sleep(this.random() * Math.min(this.maxMs, this.baseMs * 2 ** attempt));
    }
  }

  private noteThrottle(shard: number): void {
    this.stats.throttled++;
    this.options.limiter.throttled(shard);
  }
}

export function positiveConcurrency(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 256) {
    throw new ProducerError(`--concurrency must be an integer 1..256, got ${value}`);
  }
  return value;
}
