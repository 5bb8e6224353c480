/**
 * A local Kinesis event source mapping: polls every shard of a stream and invokes a handler in-process
 * the way Lambda does, so the very handler modules deployed to AWS run against the local emulator.
 *
 * What it reproduces, with the AWS documentation it follows:
 * - Polling per shard (GetShardIterator TRIM_HORIZON / LATEST / AFTER_SEQUENCE_NUMBER, GetRecords), one
 *   invocation at a time per shard (ParallelizationFactor 1, required with tumbling windows). Batches
 *   close at BatchSize, at the 6 MB invocation payload limit, or when MaximumBatchingWindowInSeconds has
 *   passed since the first buffered record.
 *   https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 * - Tumbling windows aligned on ApproximateArrivalTimestamp, per shard; a batch never spans two
 *   windows; `state` returned by one invocation is passed (serialized, as JSON) to the next; a response
 *   without `state` is a failed invocation; at the window end a final invocation with no records and
 *   `isFinalInvokeForWindow: true`, retried until it succeeds (Lambda "pauses further processing until
 *   a successful invocation"); a state above 1 MB ends the window early: a final invocation with
 *   `isWindowTerminatedEarly: true`, then the same window continues with a fresh state.
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html
 * - Errors: the batch is retried up to MaximumRetryAttempts (-1 = until it succeeds) or until its
 *   oldest record is older than MaximumRecordAgeInSeconds; with BisectBatchOnFunctionError a failed
 *   batch is split in two first, and a split does not count against the retry quota; exhausted or
 *   expired batches go to the on-failure destination as metadata only, and the shard moves on.
 *   https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * - Reading: each shard is polled once a second while it has nothing new ("a base rate of once per
 *   second"), and at once again while a call comes back full (10,000 records, or behind the tip), "until
 *   the function catches up with the stream"; the mapping "shares read throughput with other consumers
 *   of the shard". A throttled GetRecords (ProvisionedThroughputExceededException) never reaches the
 *   function: it is no function error, counts against no retry quota and sends nothing to the on-failure
 *   destination ("doesn't apply to service errors or throttles where the batch didn't reach the
 *   function"); the shard waits (local/kinesis/read-throttling.ts) and reads again from the same iterator.
 *   https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 * - ReportBatchItemFailures: checkpoint before the lowest reported sequence number and retry from it;
 *   an empty list is success; a null, empty or unknown itemIdentifier fails the whole batch; without
 *   the setting the list is ignored.
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 *
 * Where AWS is silent, the runner's choices: a partially failed batch keeps the state the invocation
 * returned (the checkpointed records are in it); a bisected half starts from the state of the last
 * successful invocation.
 *
 * Local-only: `drain()` ends open windows as soon as every shard is read to its end, instead of waiting
 * for the wall clock to reach the window end: the same final invocation AWS makes when the window
 * ends, only earlier. Records that arrive afterwards with a timestamp in that window open it again
 * (AWS would have put them in the closed window).
 */

import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { GET_RECORDS_MAX_RECORDS, listShards, shardIterator } from '../adapters/kinesis-shards.ts';
import type { KinesisHandler, KinesisStreamRecord, KinesisWindowEvent } from '../consumers/kinesis-event.ts';
import { type Logger, silentLogger } from '../consumers/logger.ts';
import { LAMBDA_STATE_LIMIT_BYTES } from '../core/window.ts';
import { THROUGHPUT_EXCEEDED } from './kinesis/put-records.ts';
import { isThrottled, readBackoffMs } from './kinesis/read-throttling.ts';

/** AWS: synchronous invocation payload ≤ 6 MB. */
export const INVOKE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;
// Overhead of one record in the event JSON besides its data (ids, ARNs, field names).
const RECORD_ENVELOPE_BYTES = 400;

export class LambdaRunnerError extends Error {
  override name = 'LambdaRunnerError';
}

/** The on-failure destination record AWS sends for a discarded Kinesis batch (metadata, not data). */
export interface OnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    approximateInvokeCount: number;
  };
  responseContext: { statusCode: number; executedVersion: string; functionError: string };
  version: '1.0';
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

export interface OnFailureDestination {
  send(record: OnFailureRecord): Promise<void>;
}

export function createMemoryOnFailureDestination(): OnFailureDestination & { records: OnFailureRecord[] } {
  const records: OnFailureRecord[] = [];
  return {
    records,
    async send(record) {
      records.push(record);
    },
  };
}

/** One JSON object per line, appended (the local stand-in for an SQS queue or S3 prefix). */
export function createFileOnFailureDestination(path: string): OnFailureDestination {
  return {
    async send(record) {
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(record)}\n`);
    },
  };
}

export interface LambdaRunnerHooks {
  /**
   * Called before every invocation (n counts from 1 across shards). Throwing makes the invocation fail
   * as a function error would; delaying past `functionTimeoutMs` makes it time out.
   */
  beforeInvoke?(n: number, event: KinesisWindowEvent<unknown>): void | Promise<void>;
}

export interface LambdaRunnerOptions {
  kinesis: KinesisClient;
  streamName: string;
  // biome-ignore lint/suspicious/noExplicitAny: handlers differ in their state type.
  handler: KinesisHandler<any>;
  /** BatchSize (AWS default 100). */
  batchSize?: number;
  /** MaximumBatchingWindowInSeconds, in ms (AWS default 0). */
  maxBatchingWindowMs?: number;
  /** TumblingWindowInSeconds (absent or 0: no tumbling window; AWS maximum 900). */
  tumblingWindowSeconds?: number;
  /** MaximumRetryAttempts; -1 retries until success (the AWS default). Local default 2. */
  maxRetryAttempts?: number;
  /** MaximumRecordAgeInSeconds: a failing batch whose oldest record is older is discarded; -1 (default) never. */
  maxRecordAgeSeconds?: number;
  bisectBatchOnError?: boolean;
  reportBatchItemFailures?: boolean;
  onFailure?: OnFailureDestination;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /**
   * Least time between the starts of two GetRecords calls on a shard, unless the last one came back
   * full (default 1000: AWS polls each shard once a second). Buffered batches are still invoked as soon
   * as their batching window ends.
   */
  pollIntervalMs?: number;
  /** Pause before retrying a failed invocation. */
  retryDelayMs?: number;
  /** The function timeout: an invocation running longer fails (its work may still land, as in AWS). */
  functionTimeoutMs?: number;
  /** Keep checkpoints (and open window state) in this JSON file and resume from it. */
  checkpointFile?: string;
  functionName?: string;
  region?: string;
  accountId?: string;
  logger?: Logger;
  hooks?: LambdaRunnerHooks;
  /**
   * How long idle()/drain() wait without any progress (a record read, an invocation that succeeded)
   * before they give up with an error that says what they are waiting for. Default 300 s: longer than
   * a large final invocation (tens of thousands of merges) takes on a loaded 2-core machine, and still
   * an answer instead of a wait without end.
   */
  stallTimeoutMs?: number;
}

export interface ShardStats {
  checkpoint: string | null;
  buffered: number;
  windowOpen: boolean;
  caughtUp: boolean;
}

export interface LambdaRunnerStats {
  invocations: number;
  finalInvocations: number;
  functionErrors: number;
  partialFailures: number;
  retries: number;
  bisections: number;
  windowsTerminatedEarly: number;
  /** Records that completed successfully (each counted once, however often retried). */
  recordsProcessed: number;
  discardedBatches: number;
  discardedRecords: number;
  /** Largest serialized state a handler returned, in bytes. */
  maxStateBytes: number;
  /** GetRecords calls Kinesis throttled (each waited out and made again; nothing lost). */
  readThrottles: number;
  shards: Record<string, ShardStats>;
}

/** The event source mapping settings the runner applies, defaults filled in. */
export interface LambdaRunnerSettings {
  functionName: string;
  streamName: string;
  batchSize: number;
  maxBatchingWindowMs: number;
  tumblingWindowSeconds: number;
  maxRetryAttempts: number;
  maxRecordAgeSeconds: number;
  bisectBatchOnError: boolean;
  reportBatchItemFailures: boolean;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  functionTimeoutMs?: number;
}

export interface LambdaRunner {
  settings: LambdaRunnerSettings;
  stats(): LambdaRunnerStats;
  /** Resolves once every shard is read to its end, nothing is buffered or running, and no window is open. */
  idle(): Promise<void>;
  /** Like idle(), but ends open windows (final invocations) as soon as the shards are read to their end. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

interface BufferedRecord {
  record: KinesisStreamRecord;
  arrivalMs: number;
  bytes: number;
}

interface OpenWindow {
  startMs: number;
  endMs: number;
  /** Serialized, as Lambda keeps it between invocations. */
  stateJson: string;
}

interface ShardCursor {
  shardId: string;
  iterator: string | undefined;
  buffer: BufferedRecord[];
  /** Local time the first buffered record was read (batching window). */
  bufferSinceMs: number;
  window: OpenWindow | undefined;
  checkpoint: string | null;
  /** Start time of the last GetRecords that found the shard read to its end. */
  caughtUpPollStartedMs: number;
  caughtUp: boolean;
  busy: boolean;
  closed: boolean;
  /** The last failed invocation's error, until one succeeds: what a stalled drain reports. */
  lastError: string | undefined;
  /** Start of the invocation in flight: a long one is work, not a stall (a failed one is no progress). */
  invokingSinceMs: number | undefined;
  /** Start of the last GetRecords call. */
  lastPollStartedMs: number;
  /** The last call came back full: more is there, read again at once. */
  behind: boolean;
  /** GetRecords calls throttled in a row. */
  throttledPolls: number;
  /** The last record read from the shard (or the checkpoint resumed from): where a new iterator starts. */
  readTo: string | null;
}

type InvokeResult = { ok: true; state: unknown; failures: string[] } | { ok: false; error: string };

interface CheckpointFile {
  shards: Record<string, { sequenceNumber: string | null; window?: OpenWindow }>;
}

export async function startLambdaRunner(options: LambdaRunnerOptions): Promise<LambdaRunner> {
  const batchSize = options.batchSize ?? 100;
  const maxBatchingWindowMs = options.maxBatchingWindowMs ?? 0;
  const windowMs = (options.tumblingWindowSeconds ?? 0) * 1000;
  const maxRetryAttempts = options.maxRetryAttempts ?? 2;
  const maxRecordAgeMs = (options.maxRecordAgeSeconds ?? -1) * 1000;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  // How often a shard with records buffered looks again whether a batching window has ended.
  const tickMs = Math.min(pollIntervalMs, 25);
  const retryDelayMs = options.retryDelayMs ?? 5;
  const logger = options.logger ?? silentLogger;
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const functionName = options.functionName ?? 'local-function';
  const functionArn = `arn:aws:lambda:${region}:${accountId}:function:${functionName}`;
  if (batchSize < 1 || batchSize > 10_000)
    throw new LambdaRunnerError(`batchSize must be 1-10000, got ${batchSize}`);
  if (windowMs > 900_000)
    throw new LambdaRunnerError('tumblingWindowSeconds must be at most 900 (AWS limit)');

  const summary = await options.kinesis.send(
    new DescribeStreamSummaryCommand({ StreamName: options.streamName }),
  );
  const streamArn =
    summary.StreamDescriptionSummary?.StreamARN ??
    `arn:aws:kinesis:${region}:${accountId}:stream/${options.streamName}`;
  // Every shard, the closed parents of a reshard included: their records still reach the function.
  const shards = await listShards(options.kinesis, options.streamName);
  const saved = options.checkpointFile ? await readCheckpoints(options.checkpointFile) : undefined;

  const stats: Omit<LambdaRunnerStats, 'shards'> = {
    invocations: 0,
    finalInvocations: 0,
    functionErrors: 0,
    partialFailures: 0,
    retries: 0,
    bisections: 0,
    windowsTerminatedEarly: 0,
    recordsProcessed: 0,
    discardedBatches: 0,
    discardedRecords: 0,
    maxStateBytes: 0,
    readThrottles: 0,
  };
  const cursors: ShardCursor[] = [];
  for (const shard of shards) {
    const shardId = shard.ShardId ?? '';
    const resume = saved?.shards[shardId];
    const iterator = await iteratorAfter(shardId, resume?.sequenceNumber ?? null);
    cursors.push({
      shardId,
      iterator,
      buffer: [],
      bufferSinceMs: 0,
      window: resume?.window,
      checkpoint: resume?.sequenceNumber ?? null,
      caughtUpPollStartedMs: 0,
      caughtUp: false,
      busy: false,
      closed: false,
      lastError: undefined,
      invokingSinceMs: undefined,
      lastPollStartedMs: Number.NEGATIVE_INFINITY,
      behind: false,
      throttledPolls: 0,
      readTo: resume?.sequenceNumber ?? null,
    });
  }

  /** An iterator after `sequenceNumber`, or at the mapping's starting position when nothing was read. */
  function iteratorAfter(shardId: string, sequenceNumber: string | null): Promise<string | undefined> {
    return shardIterator(
      options.kinesis,
      options.streamName,
      shardId,
      sequenceNumber
        ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber }
        : { type: options.startingPosition ?? 'TRIM_HORIZON' },
    );
  }

  let stopped = false;
  let draining = false;
  let invocationCount = 0;
  // Moved on every record read and every invocation that succeeds: a drain that sees it stand still
  // for stallTimeoutMs is waiting for something that will not happen.
  let lastProgressMs = Date.now();
  const stallTimeoutMs = options.stallTimeoutMs ?? 300_000;
  const sleepers = new Set<() => void>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        sleepers.delete(wake);
        resolve();
      }, ms);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      sleepers.add(wake);
    });

  function toLambdaRecord(cursor: ShardCursor, record: KinesisRecord): BufferedRecord {
    const data = Buffer.from(record.Data ?? new Uint8Array()).toString('base64');
    const arrivalMs = record.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
    const sequenceNumber = record.SequenceNumber ?? '';
    return {
      arrivalMs,
      bytes: data.length + RECORD_ENVELOPE_BYTES,
      record: {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: record.PartitionKey ?? '',
          sequenceNumber,
          data,
          approximateArrivalTimestamp: arrivalMs / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${cursor.shardId}:${sequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: `arn:aws:iam::${accountId}:role/${functionName}-role`,
        awsRegion: region,
        eventSourceARN: streamArn,
      },
    };
  }

  function windowOf(arrivalMs: number): { startMs: number; endMs: number } {
    const startMs = Math.floor(arrivalMs / windowMs) * windowMs;
    return { startMs, endMs: startMs + windowMs };
  }

  function buildEvent(cursor: ShardCursor, records: BufferedRecord[], final: { early: boolean } | undefined) {
    const event: KinesisWindowEvent<unknown> = { Records: records.map((buffered) => buffered.record) };
    if (windowMs > 0 && cursor.window) {
      event.window = { start: isoSeconds(cursor.window.startMs), end: isoSeconds(cursor.window.endMs) };
      event.state = JSON.parse(cursor.window.stateJson);
      event.shardId = cursor.shardId;
      event.eventSourceARN = streamArn;
      event.isFinalInvokeForWindow = final !== undefined;
      event.isWindowTerminatedEarly = final?.early ?? false;
    }
    return event;
  }

  async function invoke(
    cursor: ShardCursor,
    event: KinesisWindowEvent<unknown>,
    attempt: number,
  ): Promise<InvokeResult> {
    const n = ++invocationCount;
    stats.invocations++;
    cursor.invokingSinceMs = Date.now();
    if (event.isFinalInvokeForWindow) stats.finalInvocations++;
    logger.debug('invoke', {
      n,
      shardId: cursor.shardId,
      records: event.Records.length,
      firstSequenceNumber: event.Records[0]?.kinesis.sequenceNumber,
      attempt,
      ...(event.window ? { window: event.window, final: event.isFinalInvokeForWindow } : {}),
    });
    try {
      const run = (async () => {
        await options.hooks?.beforeInvoke?.(n, event);
        return options.handler(event);
      })();
      const response = options.functionTimeoutMs
        ? await withTimeout(run, options.functionTimeoutMs)
        : await run;
      const result = interpretResponse(event, response ?? undefined);
      if (result.ok) {
        lastProgressMs = Date.now();
        cursor.lastError = undefined;
      } else cursor.lastError = result.error;
      return result;
    } catch (error) {
      stats.functionErrors++;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      logger.debug('invoke failed', { n, shardId: cursor.shardId, error: message });
      cursor.lastError = message;
      return { ok: false, error: message };
    } finally {
      cursor.invokingSinceMs = undefined;
    }
  }

  function interpretResponse(event: KinesisWindowEvent<unknown>, response: unknown): InvokeResult {
    const body = (typeof response === 'object' && response !== null ? response : {}) as {
      state?: unknown;
      batchItemFailures?: unknown;
    };
    if (windowMs > 0 && (typeof body.state !== 'object' || body.state === null)) {
      stats.functionErrors++;
      return { ok: false, error: 'response has no state (required with tumbling windows)' };
    }
    if (!options.reportBatchItemFailures || body.batchItemFailures == null)
      return { ok: true, state: body.state, failures: [] };
    if (!Array.isArray(body.batchItemFailures)) {
      stats.functionErrors++;
      return { ok: false, error: 'batchItemFailures is not a list' };
    }
    const known = new Set(event.Records.map((record) => record.kinesis.sequenceNumber));
    const failures: string[] = [];
    for (const failure of body.batchItemFailures as unknown[]) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || id === '' || !known.has(id)) {
        stats.functionErrors++;
        return { ok: false, error: `invalid itemIdentifier ${JSON.stringify(id)}: the whole batch fails` };
      }
      failures.push(id);
    }
    return { ok: true, state: body.state, failures };
  }

  function commitState(cursor: ShardCursor, state: unknown): boolean {
    if (windowMs === 0 || !cursor.window) return false;
    const json = JSON.stringify(state ?? {});
    const bytes = Buffer.byteLength(json);
    if (bytes > stats.maxStateBytes) stats.maxStateBytes = bytes;
    cursor.window.stateJson = json;
    return bytes > LAMBDA_STATE_LIMIT_BYTES;
  }

  async function checkpoint(cursor: ShardCursor, sequenceNumber: string | undefined): Promise<void> {
    if (sequenceNumber === undefined) return;
    cursor.checkpoint = sequenceNumber;
    if (options.checkpointFile) await writeCheckpoints(options.checkpointFile, cursors);
  }

  async function discard(
    cursor: ShardCursor,
    records: BufferedRecord[],
    invokeCount: number,
    error: string,
    condition: OnFailureRecord['requestContext']['condition'] = 'RetryAttemptsExhausted',
  ) {
    const first = records[0];
    const last = records[records.length - 1];
    if (!first || !last) return;
    stats.discardedBatches++;
    stats.discardedRecords += records.length;
    logger.warn('batch discarded', { shardId: cursor.shardId, records: records.length, condition, error });
    await options.onFailure?.send({
      requestContext: {
        requestId: randomUUID(),
        functionArn,
        condition,
        approximateInvokeCount: invokeCount,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date().toISOString(),
      KinesisBatchInfo: {
        shardId: cursor.shardId,
        startSequenceNumber: first.record.kinesis.sequenceNumber,
        endSequenceNumber: last.record.kinesis.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.arrivalMs).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.arrivalMs).toISOString(),
        batchSize: records.length,
        streamArn,
      },
    });
  }

  /** Lambda stops retrying a batch once its oldest record is older than MaximumRecordAgeInSeconds. */
  function expired(records: BufferedRecord[]): boolean {
    const oldest = records[0];
    return maxRecordAgeMs >= 0 && oldest !== undefined && Date.now() - oldest.arrivalMs > maxRecordAgeMs;
  }

  /** Runs one batch to completion: success, or retries/bisection, or the on-failure destination. */
  async function deliver(cursor: ShardCursor, batch: BufferedRecord[]): Promise<void> {
    const queue: Array<{ records: BufferedRecord[]; retries: number }> = [{ records: batch, retries: 0 }];
    while (queue.length > 0 && !stopped) {
      const item = queue[0] as { records: BufferedRecord[]; retries: number };
      const result = await invoke(cursor, buildEvent(cursor, item.records, undefined), item.retries);
      if (result.ok && result.failures.length === 0) {
        const overflow = commitState(cursor, result.state);
        stats.recordsProcessed += item.records.length;
        await checkpoint(cursor, item.records[item.records.length - 1]?.record.kinesis.sequenceNumber);
        queue.shift();
        if (overflow) await finalInvoke(cursor, true);
        continue;
      }
      if (result.ok) {
        // Checkpoint before the lowest failed record; retry from it.
        stats.partialFailures++;
        const failed = new Set(result.failures);
        const lowest = item.records.findIndex((buffered) =>
          failed.has(buffered.record.kinesis.sequenceNumber),
        );
        const done = item.records.slice(0, lowest);
        const remaining = item.records.slice(lowest);
        commitState(cursor, result.state);
        stats.recordsProcessed += done.length;
        await checkpoint(cursor, done[done.length - 1]?.record.kinesis.sequenceNumber);
        const old = expired(remaining);
        if (old || (maxRetryAttempts >= 0 && item.retries >= maxRetryAttempts)) {
          const condition = old ? 'RecordAgeExceeded' : 'RetryAttemptsExhausted';
          await discard(cursor, remaining, item.retries + 1, 'partial batch failure', condition);
          await checkpoint(cursor, remaining[remaining.length - 1]?.record.kinesis.sequenceNumber);
          queue.shift();
        } else {
          stats.retries++;
          queue[0] = { records: remaining, retries: item.retries + 1 };
          await sleep(retryDelayMs);
        }
        continue;
      }
      if (options.bisectBatchOnError && item.records.length > 1) {
        // A split does not count against the retry quota.
        stats.bisections++;
        const middle = Math.ceil(item.records.length / 2);
        queue.splice(
          0,
          1,
          { records: item.records.slice(0, middle), retries: item.retries },
          { records: item.records.slice(middle), retries: item.retries },
        );
        continue;
      }
      if (expired(item.records)) {
        await discard(cursor, item.records, item.retries + 1, result.error, 'RecordAgeExceeded');
        await checkpoint(cursor, item.records[item.records.length - 1]?.record.kinesis.sequenceNumber);
        queue.shift();
        continue;
      }
      if (maxRetryAttempts >= 0 && item.retries >= maxRetryAttempts) {
        await discard(cursor, item.records, item.retries + 1, result.error);
        await checkpoint(cursor, item.records[item.records.length - 1]?.record.kinesis.sequenceNumber);
        queue.shift();
        continue;
      }
      stats.retries++;
      queue[0] = { records: item.records, retries: item.retries + 1 };
      await sleep(retryDelayMs);
    }
  }

  /** The window's last invocation; retried until it succeeds, as Lambda pauses the shard until then. */
  async function finalInvoke(cursor: ShardCursor, early: boolean): Promise<void> {
    const window = cursor.window;
    if (!window) return;
    if (early) stats.windowsTerminatedEarly++;
    for (let attempt = 0; !stopped; attempt++) {
      const result = await invoke(cursor, buildEvent(cursor, [], { early }), attempt);
      if (result.ok) break;
      stats.retries++;
      await sleep(Math.min(retryDelayMs * 2 ** attempt, 1000));
    }
    if (stopped) return;
    if (early) window.stateJson = '{}';
    else cursor.window = undefined;
    if (options.checkpointFile) await writeCheckpoints(options.checkpointFile, cursors);
  }

  /** The next batch to invoke, or undefined when the shard should wait for more records. */
  function takeBatch(cursor: ShardCursor, now: number): BufferedRecord[] | undefined {
    const first = cursor.buffer[0];
    if (!first) return undefined;
    let count = 0;
    let bytes = 0;
    let endedByWindow = false;
    const firstWindow = windowMs > 0 ? windowOf(first.arrivalMs).startMs : 0;
    for (const buffered of cursor.buffer) {
      if (count === batchSize) break;
      if (windowMs > 0 && windowOf(buffered.arrivalMs).startMs !== firstWindow) {
        endedByWindow = true;
        break;
      }
      if (count > 0 && bytes + buffered.bytes > INVOKE_PAYLOAD_LIMIT_BYTES) break;
      bytes += buffered.bytes;
      count++;
    }
    const full = count === batchSize || count < cursor.buffer.length;
    const waited = now - cursor.bufferSinceMs >= maxBatchingWindowMs;
    if (!(full || endedByWindow || waited || (draining && cursor.caughtUp))) return undefined;
    const batch = cursor.buffer.splice(0, count);
    cursor.bufferSinceMs = now;
    return batch;
  }

  /** Reads the shard when a read is due: what came back, or that Kinesis throttled the call. */
  async function poll(cursor: ShardCursor): Promise<{ fetched: number; throttled: boolean }> {
    const pollStartedMs = Date.now();
    const due = cursor.behind || pollStartedMs - cursor.lastPollStartedMs >= pollIntervalMs;
    if (!due || cursor.closed || !cursor.iterator || cursor.buffer.length >= GET_RECORDS_MAX_RECORDS)
      return { fetched: 0, throttled: false };
    cursor.lastPollStartedMs = pollStartedMs;
    let page: GetRecordsCommandOutput;
    try {
      page = await options.kinesis.send(
        new GetRecordsCommand({ ShardIterator: cursor.iterator, Limit: GET_RECORDS_MAX_RECORDS }),
      );
    } catch (error) {
      // "A shard iterator expires 5 minutes after it is returned"
      // (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html): a shard
      // whose buffer stayed full that long (a long run's backlog) is read on from after its last record.
      if ((error as Error).name === 'ExpiredIteratorException') {
        cursor.iterator = await iteratorAfter(cursor.shardId, cursor.readTo);
        return { fetched: 0, throttled: false };
      }
      if (!isThrottled(error)) throw error;
      stats.readThrottles++;
      cursor.throttledPolls++;
      cursor.lastError = `GetRecords throttled ${cursor.throttledPolls} times in a row (${THROUGHPUT_EXCEEDED})`;
      logger.debug('GetRecords throttled', { shardId: cursor.shardId, inARow: cursor.throttledPolls });
      return { fetched: 0, throttled: true };
    }
    if (cursor.throttledPolls > 0) cursor.lastError = undefined;
    cursor.throttledPolls = 0;
    cursor.iterator = page.NextShardIterator;
    if (!cursor.iterator) cursor.closed = true;
    const records = page.Records ?? [];
    const fetched = records.length;
    if (fetched > 0) lastProgressMs = Date.now();
    if (cursor.buffer.length === 0 && fetched > 0) cursor.bufferSinceMs = Date.now();
    for (const record of records) cursor.buffer.push(toLambdaRecord(cursor, record));
    cursor.readTo = records.at(-1)?.SequenceNumber ?? cursor.readTo;
    cursor.caughtUp = fetched === 0 && (page.MillisBehindLatest ?? 0) === 0;
    if (cursor.caughtUp) cursor.caughtUpPollStartedMs = pollStartedMs;
    cursor.behind = fetched >= GET_RECORDS_MAX_RECORDS || (page.MillisBehindLatest ?? 0) > 0;
    return { fetched, throttled: false };
  }

  async function step(cursor: ShardCursor): Promise<{ progressed: boolean; throttled: boolean }> {
    const { fetched, throttled } = await poll(cursor);
    let invoked = false;
    while (!stopped) {
      const now = Date.now();
      const first = cursor.buffer[0];
      if (windowMs > 0) {
        // Close the open window once no record of it can still come: a later record is here, or the
        // clock passed its end and a poll started after the end found the shard read to its end.
        const window = cursor.window;
        if (window) {
          const laterRecordHere = first !== undefined && first.arrivalMs >= window.endMs;
          const ended = now >= window.endMs && cursor.caughtUpPollStartedMs >= window.endMs && !first;
          const drained = draining && cursor.caughtUp && !first;
          if (laterRecordHere || ended || drained) {
            await finalInvoke(cursor, false);
            invoked = true;
            continue;
          }
        }
        if (first && !cursor.window) {
          const { startMs, endMs } = windowOf(first.arrivalMs);
          cursor.window = { startMs, endMs, stateJson: '{}' };
        }
      }
      const batch = takeBatch(cursor, now);
      if (!batch) break;
      await deliver(cursor, batch);
      invoked = true;
    }
    return { progressed: fetched > 0 || invoked, throttled };
  }

  const loops = cursors.map(async (cursor) => {
    while (!stopped) {
      cursor.busy = true;
      let outcome = { progressed: false, throttled: false };
      try {
        outcome = await step(cursor);
      } catch (error) {
        cursor.lastError = `GetRecords: ${String(error)}`;
        logger.error('shard poll failed', { shardId: cursor.shardId, error: String(error) });
      } finally {
        cursor.busy = false;
      }
      if (stopped) break;
      if (outcome.throttled) await sleep(readBackoffMs(cursor.throttledPolls));
      else if (!outcome.progressed) await sleep(tickMs);
    }
  });

  function isShardIdle(cursor: ShardCursor, sinceMs: number): boolean {
    return (
      !cursor.busy &&
      cursor.buffer.length === 0 &&
      cursor.window === undefined &&
      (cursor.closed || (cursor.caughtUp && cursor.caughtUpPollStartedMs >= sinceMs))
    );
  }

  /** What the shards that are not idle yet are waiting for, one clause per shard. */
  function waitingFor(sinceMs: number): string {
    return cursors
      .filter((cursor) => !isShardIdle(cursor, sinceMs))
      .map((cursor) => {
        const parts = [
          cursor.buffer.length > 0 ? `${cursor.buffer.length} records buffered` : undefined,
          cursor.window ? 'a window open' : undefined,
          cursor.invokingSinceMs ? 'an invocation running' : undefined,
          cursor.caughtUp ? undefined : 'not read to its end',
          cursor.lastError ? `last error: ${cursor.lastError}` : undefined,
        ].filter(Boolean);
        return `${cursor.shardId} (${parts.join(', ')})`;
      })
      .join('; ');
  }

  async function idle(): Promise<void> {
    const sinceMs = Date.now();
    while (!cursors.every((cursor) => isShardIdle(cursor, sinceMs))) {
      if (stopped) throw new LambdaRunnerError('runner stopped before it became idle');
      const inFlight = cursors.map((cursor) => cursor.invokingSinceMs ?? 0);
      const stalledMs = Date.now() - Math.max(lastProgressMs, sinceMs, ...inFlight);
      if (stalledMs > stallTimeoutMs) {
        throw new LambdaRunnerError(
          `${functionName} made no progress for ${(stalledMs / 1000).toFixed(1)} s while draining ${options.streamName}: ${waitingFor(sinceMs)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  return {
    settings: {
      functionName,
      streamName: options.streamName,
      batchSize,
      maxBatchingWindowMs,
      tumblingWindowSeconds: windowMs / 1000,
      maxRetryAttempts,
      maxRecordAgeSeconds: maxRecordAgeMs < 0 ? -1 : maxRecordAgeMs / 1000,
      bisectBatchOnError: options.bisectBatchOnError ?? false,
      reportBatchItemFailures: options.reportBatchItemFailures ?? false,
      startingPosition: options.startingPosition ?? 'TRIM_HORIZON',
      ...(options.functionTimeoutMs ? { functionTimeoutMs: options.functionTimeoutMs } : {}),
    },
    stats: () => ({
      ...stats,
      shards: Object.fromEntries(
        cursors.map((cursor) => [
          cursor.shardId,
          {
            checkpoint: cursor.checkpoint,
            buffered: cursor.buffer.length,
            windowOpen: cursor.window !== undefined,
            caughtUp: cursor.caughtUp,
          },
        ]),
      ),
    }),
    idle,
    async drain() {
      draining = true;
      try {
        await idle();
      } finally {
        draining = false;
      }
    },
    async stop() {
      stopped = true;
      for (const wake of sleepers) wake();
      await Promise.all(loops);
    },
  };
}

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new LambdaRunnerError(`Task timed out after ${(ms / 1000).toFixed(2)} seconds`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readCheckpoints(path: string): Promise<CheckpointFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CheckpointFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LambdaRunnerError(`cannot read checkpoint file ${path}`, { cause: error });
  }
}

async function writeCheckpoints(path: string, cursors: readonly ShardCursor[]): Promise<void> {
  const file: CheckpointFile = {
    shards: Object.fromEntries(
      cursors.map((cursor) => [
        cursor.shardId,
        { sequenceNumber: cursor.checkpoint, ...(cursor.window ? { window: cursor.window } : {}) },
      ]),
    ),
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(file));
}
