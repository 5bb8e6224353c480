/**
 * `clickstream replay`: a Kaggle CSV (file or S3, plain or gzip) → typed events → Kinesis, paced by
 * the original event times or as fast as the stream takes, with rejects, retries, a failed-records
 * file and a resumable checkpoint.
 *
 * `replayToStream` is the library entry (the demo and tests call it in-process); `replay` takes the
 * command's flags, checked here, and a RunContext; cli/commands/replay.ts declares the flags.
 */

import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { createKinesisClient, createS3Client } from '../adapters/clients.ts';
import type { RunContext } from '../adapters/run-context.ts';
import { clientOptions } from '../adapters/target.ts';
import { eventId, parseRow, REJECT_REASONS, type RejectReason, toIsoSeconds } from '../core/event.ts';
import { integerFlag, isoTimeFlag, parsedFlag } from '../core/flags.ts';
import {
  type Batch,
  BatchLimitError,
  eventRecordJson,
  KINESIS_LIMITS,
  maxEventBytes,
  type OutgoingRecord,
  PARTITION_KEY_FIELDS,
  type PartitionKeyField,
  ShardBatcher,
} from './batcher.ts';
import {
  type CheckpointFile,
  defaultCheckpointPath,
  loadCheckpoint,
  type Position,
  ProgressTracker,
  readSourceIdentity,
  type SourceIdentity,
  saveCheckpoint,
  staleReason,
  streamCreatedAt,
} from './checkpoint.ts';
import { ProducerError } from './errors.ts';
import { Pacer, parseSpeed, type Speed } from './pacer.ts';
import { failedRecordsFile, fileRejectSink, type RejectSink, s3RejectSink } from './rejects.ts';
import { type ReaderTally, readRowChunks } from './rows.ts';
import { KinesisSender } from './sender.ts';
import { loadShardMap, ShardMap, ShardRateLimiter } from './shards.ts';
import { describeSource, openSource } from './source.ts';

export interface ReplayProgress {
  read: number;
  sent: number;
  rejected: number;
  failed: number;
  retried: number;
  skipped: number;
  /** Event time of the last event read (epoch ms). */
  eventTimeMs?: number;
  /** Bytes of the source read so far and in all, when known (compressed for gzip). */
  sourceBytesRead: number;
  sourceBytes?: number;
}

export interface ReplayToStreamOptions {
  /** Required unless dryRun. Give it `maxAttempts: 1`: the sender runs its own retries. */
  kinesis?: KinesisClient;
  /** Required for s3:// sources. */
  s3?: S3Client;
  streamName: string;
  /** A local path or s3://bucket/key; `.gz` is decompressed on the fly. */
  source: string;
  partitionKey?: PartitionKeyField;
  speed?: Speed;
  /** Event-time range [from, to) in epoch ms; events outside are counted as `skipped`. */
  fromMs?: number;
  toMs?: number;
  /** Stop after this many rows read (over all runs of a checkpoint). */
  limit?: number;
  /** Parse, validate and batch; send nothing. `sent` then counts what would have been sent. */
  dryRun?: boolean;
  /**
   * Pack each shard's events into KPL aggregated records (default true): up to ~190 events per Kinesis
   * record, within a shard's 1,000 records/s. Off for consumers that cannot de-aggregate (ours can,
   * and Firehose de-aggregates on its own).
   */
  aggregate?: boolean;
  maxBatchBytes?: number;
  maxBatchRecords?: number;
  concurrency?: number;
  maxRetries?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  /** A path, or a sink of your own (e.g. s3RejectSink). Default `.clickstream/<name>.rejects.csv`. */
  rejects?: string | RejectSink;
  /** Default `.clickstream/<name>.failed.jsonl`. */
  failedOut?: string;
  /** Checkpoint file: resumed from when it exists, kept up to date while running. */
  checkpoint?: string;
  /** Ignore an existing checkpoint and replay from the first row (the checkpoint is then rewritten). */
  restart?: boolean;
  /** Told once, before the first row is read, where the run starts. */
  onStart?: (start: ReplayStart) => void;
  /** Records the reader may run ahead of the last saved checkpoint (bounds duplicates after a crash). */
  window?: number;
  signal?: AbortSignal;
  onProgress?: (progress: ReplayProgress) => void;
  progressIntervalMs?: number;
  /** Injected for tests: per-shard adaptive rate state. */
  limiter?: ShardRateLimiter;
  random?: () => number;
}

/** Where a run starts, as onStart is told. */
export interface ReplayStart {
  checkpoint?: string;
  /** Set when resuming: the checkpoint's position (read = rows read before it over all runs). */
  resumedFrom?: { line: number; byteOffset: number; read: number; complete: boolean };
  /** Set when a checkpoint existed but no longer applies: why this run starts from the first row. */
  startedOver?: string;
  /** Size of the source in the bytes byteOffset counts (unset for gzip sources). */
  sourceBytes?: number;
  /** The prefix of every event id of this run. */
  sourceTag: string;
}

export interface ReplaySummary {
  /** Rows considered: read = sent + rejected + failed. Rows outside --from/--to are `skipped`, not read. */
  read: number;
  sent: number;
  rejected: { total: number; byReason: Partial<Record<RejectReason, number>> };
  failed: number;
  /** Record resends after a failed attempt. */
  retried: number;
  durationMs: number;
  eventsPerSecond: number;
  skipped: number;
  source: string;
  stream: string;
  shards: number;
  partitionKey: PartitionKeyField;
  dryRun: boolean;
  calls: number;
  throttled: number;
  firstEventTime?: string;
  lastEventTime?: string;
  rejectsFile?: string;
  failedFile?: string;
  checkpoint?: string;
  resumedFrom?: { line: number; byteOffset: number };
  /** Why an existing checkpoint was not resumed from (source changed, stream created again). */
  startedOver?: string;
  /**
   * Upper bound on events this run sent that the run it resumed had already sent. They carry the same
   * event ids as the first time, so the pipeline counts them once.
   */
  possibleDuplicates: number;
  /** The prefix of this run's event ids (the source's tag). */
  sourceTag: string;
  /** Kinesis records put (fewer than events sent when aggregated). */
  records: number;
  aggregated: boolean;
  /** Stopped by Ctrl-C (or the signal); the checkpoint, if any, resumes it. */
  interrupted: boolean;
  /** Where every byte of the source went. */
  bytes: ByteAccount;
}

/**
 * Every byte of the (decompressed) source belongs to exactly one of these parts. `addsUp` says they
 * sum to `source`, which is measured apart from the rows (the file or object size; for gzip, the
 * bytes inflated): a reader that skipped or swallowed bytes would show here.
 */
export interface ByteAccount {
  source: number;
  header: number;
  /** Rows acknowledged by Kinesis (or, in a dry run, batched). */
  sent: number;
  /** Rows in the rejects file. */
  rejected: number;
  /** Rows in the failed-records file. */
  failed: number;
  /** Rows outside --from/--to. */
  skipped: number;
  /** Empty lines. */
  blank: number;
  /** Before the checkpoint this run resumed from. */
  earlier: number;
  /** After the last row read when --limit or an interrupt ended the run (for gzip: of what was inflated). */
  unread: number;
  addsUp: boolean;
}

export const DEFAULT_CONCURRENCY = 8;
const CHECKPOINT_INTERVAL_MS = 1_000;

export async function replayToStream(options: ReplayToStreamOptions): Promise<ReplaySummary> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const aggregate = options.aggregate ?? true;
  const partitionKey = options.partitionKey ?? 'category_id';
  if (!PARTITION_KEY_FIELDS.includes(partitionKey)) {
    throw new ProducerError(
      `cannot partition by ${partitionKey}`,
      `use one of: ${PARTITION_KEY_FIELDS.join(', ')}`,
    );
  }
  const source = describeSource(options.source);
  if (!dryRun && !options.kinesis)
    throw new ProducerError('no Kinesis client given', 'pass kinesis or dryRun');

  // Listing the shards first is also the preflight: a missing stream or no credentials fail here, cleanly.
  const shardMap = dryRun
    ? ShardMap.single()
    : await loadShardMap(options.kinesis as KinesisClient, options.streamName);
  const { identity, createdAt, resumed, startedOver } = await resolveStart(options, source, partitionKey);
  const start: Position = resumed
    ? { line: resumed.line, byteOffset: resumed.byteOffset, read: resumed.read }
    : { line: 0, byteOffset: 0, read: 0 };
  options.onStart?.({
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    ...(resumed ? { resumedFrom: { ...start, complete: resumed.complete } } : {}),
    ...(startedOver ? { startedOver } : {}),
    // Offsets count decompressed bytes: a gzip source's stored size does not compare with them.
    ...(identity.bytes >= 0 && !source.gzip ? { sourceBytes: identity.bytes } : {}),
    sourceTag: identity.tag,
  });
  const batcher = createBatcher(options, shardMap, aggregate);
  const window =
    options.window ??
    Math.max(10_000, 2 * shardMap.count * (options.maxBatchRecords ?? KINESIS_LIMITS.maxRecordsPerCall));
  const delivery = createDelivery(options, { source, batcher, dryRun, append: resumed !== undefined });
  const keeper = keepCheckpoints(options, {
    start,
    window,
    delivery,
    fields: {
      partitionKey,
      sourceTag: identity.tag,
      sourceBytes: identity.bytes,
      ...(createdAt ? { streamCreatedAt: createdAt } : {}),
    },
  });

  const opened = await openSource(source, {
    ...(options.s3 ? { s3: options.s3 } : {}),
    startByte: start.byteOffset,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const reading: Reading = {
    position: { ...start },
    gapBytes: 0,
    interrupted: false,
    reachedLimit: start.read >= (options.limit ?? Number.POSITIVE_INFINITY),
  };
  const progressTimer = reportProgress(options, delivery, reading, opened);
  const tally: ReaderTally = { input: 0, header: 0, blank: 0 };
  try {
    if (!reading.reachedLimit) {
      await sendRows(options, {
        stream: opened.stream,
        tally,
        start,
        reading,
        batcher,
        shardMap,
        delivery,
        keeper,
        sourceTag: identity.tag,
        partitionKey,
        aggregate,
        window,
      });
    }
    await delivery.flushAll();
    await delivery.sender?.drain();
    await keeper.save(!reading.interrupted);
  } catch (error) {
    // Flushes what was written even when the run fails, so the files hold every row counted so far.
    await Promise.allSettled([delivery.rejects.close(), delivery.failedFile.close()]);
    throw error;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
  }
  const [rejectsFile, failedFile] = await Promise.all([
    delivery.rejects.close(),
    delivery.failedFile.close(),
  ]);
  const durationMs = Math.round(performance.now() - started);
  // A plain source's size is known up front; a gzip one's only from what was inflated.
  const sourceBytes =
    source.gzip || opened.storedBytes === undefined ? start.byteOffset + tally.input : opened.storedBytes;
  // Cut short, the reader has read ahead of the last row taken: what lies before it is split up by the
  // gaps between rows, and the rest is unread.
  const stoppedEarly = reading.interrupted || reading.reachedLimit;
  const header = !stoppedEarly || reading.gapBytes > 0 ? tally.header : 0;
  const blank = stoppedEarly ? reading.gapBytes - header : tally.blank;
  const { counts, sender } = delivery;
  return {
    read: counts.read,
    sent: counts.sent,
    rejected: { total: counts.rejected, byReason: orderedReasons(counts.byReason) },
    failed: counts.failed,
    retried: sender?.stats.retried ?? 0,
    durationMs,
    eventsPerSecond: durationMs > 0 ? Math.round((counts.sent * 1000) / durationMs) : 0,
    skipped: counts.skipped,
    source: options.source,
    stream: options.streamName,
    shards: shardMap.count,
    partitionKey,
    dryRun,
    calls: sender?.stats.calls ?? counts.calls,
    throttled: sender?.stats.throttled ?? 0,
    ...(reading.firstEventMs !== undefined ? { firstEventTime: toIsoSeconds(reading.firstEventMs) } : {}),
    ...(reading.lastEventMs !== undefined ? { lastEventTime: toIsoSeconds(reading.lastEventMs) } : {}),
    ...(rejectsFile ? { rejectsFile } : {}),
    ...(failedFile ? { failedFile } : {}),
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    ...(resumed ? { resumedFrom: { line: resumed.line, byteOffset: resumed.byteOffset } } : {}),
    ...(startedOver ? { startedOver } : {}),
    possibleDuplicates: resumed && !resumed.complete ? resumed.window : 0,
    sourceTag: identity.tag,
    interrupted: reading.interrupted,
    records: counts.records,
    aggregated: aggregate,
    bytes: byteAccount(
      sourceBytes,
      { ...counts.bytes, header, blank, earlier: start.byteOffset },
      stoppedEarly,
    ),
  };
}

/** One batcher per run, its limits checked: a bad --max-batch-bytes fails before anything is read. */
function createBatcher(options: ReplayToStreamOptions, shardMap: ShardMap, aggregate: boolean): ShardBatcher {
  try {
    return new ShardBatcher(
      shardMap.count,
      {
        maxBytes: options.maxBatchBytes ?? KINESIS_LIMITS.defaultBytesPerCall,
        maxRecords: options.maxBatchRecords ?? KINESIS_LIMITS.maxRecordsPerCall,
      },
      aggregate
        ? { shardHashKeys: shardMap.shards.map((shard) => shard.startingHashKey.toString()) }
        : undefined,
    );
  } catch (error) {
    if (error instanceof BatchLimitError)
      throw new ProducerError(error.message, 'see --max-batch-bytes', { cause: error });
    throw error;
  }
}

/** What a run has counted so far, and the bytes of the source by where their rows went. */
interface ReplayCounts {
  read: number;
  sent: number;
  rejected: number;
  byReason: Partial<Record<RejectReason, number>>;
  failed: number;
  skipped: number;
  calls: number;
  records: number;
  bytes: { sent: number; rejected: number; failed: number; skipped: number };
}

/** Where rows go once read: rejected rows to the rejects sink, batches to Kinesis, failures to a file. */
interface Delivery {
  counts: ReplayCounts;
  rejects: RejectSink;
  failedFile: ReturnType<typeof failedRecordsFile>;
  /** Unset in a dry run, which settles every batch as sent. */
  sender: KinesisSender | undefined;
  reject(line: number, reason: RejectReason, detail: string, raw: Uint8Array, rowBytes: number): void;
  dispatch(batch: Batch): Promise<void>;
  flushAll(): Promise<void>;
}

function createDelivery(
  options: ReplayToStreamOptions,
  run: { source: ReturnType<typeof describeSource>; batcher: ShardBatcher; dryRun: boolean; append: boolean },
): Delivery {
  const { batcher, append } = run;
  const rejects =
    typeof options.rejects === 'object'
      ? options.rejects
      : fileRejectSink(options.rejects ?? join('.clickstream', `${run.source.stem}.rejects.csv`), { append });
  const failedPath = options.failedOut ?? join('.clickstream', `${run.source.stem}.failed.jsonl`);
  const failedFile = failedRecordsFile(failedPath, { append });
  const counts: ReplayCounts = {
    read: 0,
    sent: 0,
    rejected: 0,
    byReason: {},
    failed: 0,
    skipped: 0,
    calls: 0,
    records: 0,
    bytes: { sent: 0, rejected: 0, failed: 0, skipped: 0 },
  };
  const settleSent = (records: readonly OutgoingRecord[]) => {
    counts.records += records.length;
    for (const record of records) {
      counts.sent += record.events.length;
      for (const event of record.events) {
        counts.bytes.sent += event.sourceBytes ?? 0;
        event.owner.settle(1);
      }
      batcher.recycle(record);
    }
  };
  const sender = run.dryRun
    ? undefined
    : new KinesisSender({
        kinesis: options.kinesis as KinesisClient,
        streamName: options.streamName,
        limiter: options.limiter ?? new ShardRateLimiter(),
        concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
        maxRetries: options.maxRetries ?? 10,
        ...(options.backoff ? { backoff: options.backoff } : {}),
        ...(options.random ? { random: options.random } : {}),
        onSent: settleSent,
        onFailed: (failures) => {
          // Written before they count as settled, so a checkpoint never moves past an unwritten failure.
          failedFile.write(failures);
          for (const { record } of failures) {
            counts.failed += record.events.length;
            for (const event of record.events) {
              counts.bytes.failed += event.sourceBytes ?? 0;
              event.owner.settle(1);
            }
            batcher.recycle(record);
          }
        },
      });
  const dispatch = async (batch: Batch) => {
    counts.calls++;
    if (!sender) {
      settleSent(batch.records);
      return;
    }
    await sender.submit(batch);
  };
  return {
    counts,
    rejects,
    failedFile,
    sender,
    reject: (line, reason, detail, raw, rowBytes) => {
      counts.rejected++;
      counts.byReason[reason] = (counts.byReason[reason] ?? 0) + 1;
      counts.bytes.rejected += rowBytes;
      rejects.reject(line, reason, detail, raw);
    },
    dispatch,
    flushAll: async () => {
      for (const batch of batcher.flushAll()) await dispatch(batch);
    },
  };
}

/** The checkpoint of a run: what has been accounted for, saved, and the reader held within a window of it. */
interface CheckpointKeeper {
  tracker: ProgressTracker;
  save(complete: boolean): Promise<void>;
  /** Saves when the last save is older than CHECKPOINT_INTERVAL_MS. */
  saveIfDue(): Promise<void>;
  /** Blocks the reader until it is less than `window` records past the saved checkpoint. */
  makeRoom(): Promise<void>;
}

function keepCheckpoints(
  options: ReplayToStreamOptions,
  run: {
    start: Position;
    window: number;
    delivery: Delivery;
    /** The checkpoint's fields that say which replay it belongs to. */
    fields: Pick<CheckpointFile, 'partitionKey' | 'sourceTag' | 'sourceBytes' | 'streamCreatedAt'>;
  },
): CheckpointKeeper {
  const { window, delivery } = run;
  const tracker = new ProgressTracker(run.start);
  let lastSave = performance.now();
  const save = async (complete: boolean) => {
    if (!options.checkpoint) {
      tracker.markSaved(tracker.accounted);
      return;
    }
    const position = tracker.accounted;
    await Promise.all([delivery.rejects.flushed(), delivery.failedFile.flushed()]);
    saveCheckpoint(options.checkpoint, {
      version: 2,
      source: options.source,
      streamName: options.streamName,
      ...run.fields,
      line: position.line,
      byteOffset: position.byteOffset,
      read: position.read,
      window,
      complete,
      updatedAt: new Date().toISOString(),
    });
    tracker.markSaved(position);
    lastSave = performance.now();
  };
  return {
    tracker,
    save,
    saveIfDue: async () => {
      if (options.checkpoint && performance.now() - lastSave >= CHECKPOINT_INTERVAL_MS) await save(false);
    },
    makeRoom: async () => {
      await delivery.flushAll();
      while (tracker.readPastSaved >= window) {
        const before = tracker.accounted;
        await save(false);
        if (tracker.readPastSaved < window) break;
        if (tracker.accounted !== before) continue;
        const idle = delivery.sender ? delivery.sender.drain() : Promise.resolve();
        idle.catch(() => undefined);
        await Promise.race([tracker.nextAdvance(), idle]);
        if (delivery.sender?.fatalError) throw delivery.sender.fatalError;
      }
    },
  };
}

/** Where the reading stands: the progress reports and the summary read it, sendRows moves it. */
interface Reading {
  /** After the last row taken (sent, rejected or skipped). */
  position: Position;
  /** Bytes between the rows read: the header and empty lines. */
  gapBytes: number;
  interrupted: boolean;
  reachedLimit: boolean;
  firstEventMs?: number;
  lastEventMs?: number;
}

function reportProgress(
  options: ReplayToStreamOptions,
  delivery: Delivery,
  reading: Reading,
  opened: { storedBytesRead(): number; storedBytes?: number },
): ReturnType<typeof setInterval> | undefined {
  if (!options.onProgress) return undefined;
  const { counts, sender } = delivery;
  const timer = setInterval(() => {
    options.onProgress?.({
      read: counts.read,
      sent: counts.sent,
      rejected: counts.rejected,
      failed: counts.failed,
      retried: sender?.stats.retried ?? 0,
      skipped: counts.skipped,
      ...(reading.lastEventMs !== undefined ? { eventTimeMs: reading.lastEventMs } : {}),
      sourceBytesRead: opened.storedBytesRead(),
      ...(opened.storedBytes !== undefined ? { sourceBytes: opened.storedBytes } : {}),
    });
  }, options.progressIntervalMs ?? 250);
  timer.unref();
  return timer;
}

/**
 * Reads the rows from `start` and hands each to the delivery: unreadable and invalid rows are rejected,
 * rows outside [from, to) skipped, the others paced by their event time, batched per shard and sent.
 * Stops at the end of the source, at the limit, or when the signal aborts (`reading` says which).
 */
async function sendRows(
  options: ReplayToStreamOptions,
  run: {
    stream: Parameters<typeof readRowChunks>[0];
    tally: ReaderTally;
    start: Position;
    reading: Reading;
    batcher: ShardBatcher;
    shardMap: ShardMap;
    delivery: Delivery;
    keeper: CheckpointKeeper;
    sourceTag: string;
    partitionKey: PartitionKeyField;
    aggregate: boolean;
    window: number;
  },
): Promise<void> {
  const { start, reading, batcher, shardMap, delivery, keeper, partitionKey, aggregate, window } = run;
  const { counts, reject } = delivery;
  const { tracker } = keeper;
  const signal = options.signal;
  const fromMs = options.fromMs ?? Number.NEGATIVE_INFINITY;
  const toMs = options.toMs ?? Number.POSITIVE_INFINITY;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const pacer = new Pacer(options.speed ?? 'max');
  chunks: for await (const chunk of readRowChunks(run.stream, {
    startLine: start.line,
    startByte: start.byteOffset,
    tally: run.tally,
  })) {
    if (signal?.aborted) {
      reading.interrupted = true;
      break;
    }
    let replayedAt = new Date().toISOString();
    let span = tracker.open();
    const { rows, lines, starts, ends, rejected } = chunk;
    for (let i = 0; i < rows.length; i++) {
      if (reading.position.read >= limit) {
        reading.reachedLimit = true;
        tracker.seal(span, reading.position);
        break chunks;
      }
      const fields = rows[i] as string[];
      const endLine = lines[i] as number;
      const end = ends[i] as number;
      const rowStart = starts[i] as number;
      const rowBytes = end - rowStart;
      reading.gapBytes += rowStart - reading.position.byteOffset;
      const row: Position = { line: endLine, byteOffset: end, read: reading.position.read + 1 };
      const unreadable = rejected?.get(i);
      if (unreadable) {
        counts.read++;
        reject(endLine, unreadable.reason, unreadable.detail, chunk.raw(i), rowBytes);
        reading.position = row;
        continue;
      }
      const parsed = parseRow(fields, rowBytes);
      if (!parsed.ok) {
        counts.read++;
        reject(endLine, parsed.reason, parsed.detail, chunk.raw(i), rowBytes);
        reading.position = row;
        continue;
      }
      const eventMs = parsed.eventMs;
      if (eventMs < fromMs || eventMs >= toMs) {
        counts.skipped++;
        counts.bytes.skipped += rowBytes;
        reading.position = { line: endLine, byteOffset: end, read: reading.position.read };
        continue;
      }
      counts.read++;
      const delay = pacer.delayFor(eventMs);
      // Waits under ~2 ms are below timer resolution; they are caught up on by the next due event.
      if (delay > 2) {
        tracker.seal(span, reading.position);
        await delivery.flushAll();
        try {
          await sleep(delay, undefined, signal ? { signal } : undefined);
        } catch {
          counts.read--;
          reading.interrupted = true;
          break chunks;
        }
        span = tracker.open();
        replayedAt = new Date().toISOString();
      }
      if (tracker.readPastSaved >= window) {
        tracker.seal(span, reading.position);
        await keeper.makeRoom();
        span = tracker.open();
        replayedAt = new Date().toISOString();
      }
      reading.firstEventMs ??= eventMs;
      reading.lastEventMs = eventMs;
      const key = parsed.event[partitionKey];
      const json = eventRecordJson(parsed.event, eventId(run.sourceTag, endLine), replayedAt);
      const bytes = Buffer.byteLength(json, 'utf8');
      if (bytes > maxEventBytes(key, aggregate)) {
        reject(endLine, 'oversize', 'record over 1 MiB with its partition key', chunk.raw(i), rowBytes);
        reading.position = row;
        continue;
      }
      tracker.add(span);
      const full = batcher.add(
        shardMap.shardOf(key),
        { partitionKey: key, line: endLine, owner: span, sourceBytes: rowBytes },
        { json, bytes },
      );
      reading.position = row;
      if (full) {
        tracker.seal(span, reading.position);
        await delivery.dispatch(full);
        span = tracker.open();
        replayedAt = new Date().toISOString();
      }
    }
    tracker.seal(span, reading.position);
    await keeper.saveIfDue();
  }
}

/** The parts of the source; on a run cut short, what was not read is the remainder. */
function byteAccount(
  source: number,
  parts: Omit<ByteAccount, 'source' | 'unread' | 'addsUp'>,
  stoppedEarly: boolean,
): ByteAccount {
  const counted =
    parts.header + parts.sent + parts.rejected + parts.failed + parts.skipped + parts.blank + parts.earlier;
  const unread = stoppedEarly ? source - counted : 0;
  return { source, ...parts, unread, addsUp: counted + unread === source };
}

/** One line: the parts that are there, and whether they add up. */
export function renderByteAccount(bytes: ByteAccount): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const named: Array<[string, number]> = [
    ['header', bytes.header],
    ['sent', bytes.sent],
    ['rejected', bytes.rejected],
    ['failed', bytes.failed],
    ['skipped', bytes.skipped],
    ['blank lines', bytes.blank],
    ['done before the resume', bytes.earlier],
    ['not read', bytes.unread],
  ];
  const parts = named
    .filter(([name, value]) => value > 0 || name === 'sent' || name === 'rejected')
    .map(([name, value]) => `${n(value)} ${name}`);
  const sum = named.reduce((total, [, value]) => total + value, 0);
  return bytes.addsUp
    ? `bytes: ${n(bytes.source)} source = ${parts.join(' + ')}`
    : `bytes: ${n(bytes.source)} source ≠ ${parts.join(' + ')} = ${n(sum)}: ${n(Math.abs(bytes.source - sum))} bytes unaccounted for (a reader bug: please report it)`;
}

/**
 * The source's identity (the prefix of its event ids), the stream's creation time, and the checkpoint
 * to resume from, if one exists, belongs to this replay and still applies.
 */
async function resolveStart(
  options: ReplayToStreamOptions,
  source: ReturnType<typeof describeSource>,
  partitionKey: string,
): Promise<{
  identity: SourceIdentity;
  createdAt: string | undefined;
  resumed: CheckpointFile | undefined;
  startedOver: string | undefined;
}> {
  const identity = await readSourceIdentity(source, {
    ...(options.s3 ? { s3: options.s3 } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const createdAt =
    options.dryRun || !options.kinesis
      ? undefined
      : await streamCreatedAt(options.kinesis, options.streamName);
  const saved = options.checkpoint && !options.restart ? loadCheckpoint(options.checkpoint) : undefined;
  if (!saved) return { identity, createdAt, resumed: undefined, startedOver: undefined };
  checkResumable(saved, options.source, options.streamName, partitionKey);
  const stale = staleReason(saved, identity, createdAt);
  return stale
    ? { identity, createdAt, resumed: undefined, startedOver: stale }
    : { identity, createdAt, resumed: saved, startedOver: undefined };
}

function checkResumable(
  checkpoint: CheckpointFile,
  source: string,
  streamName: string,
  partitionKey: string,
): void {
  const mismatch =
    checkpoint.source !== source
      ? `source ${checkpoint.source}`
      : checkpoint.streamName !== streamName
        ? `stream ${checkpoint.streamName}`
        : checkpoint.partitionKey !== partitionKey
          ? `partition key ${checkpoint.partitionKey}`
          : undefined;
  if (mismatch) {
    throw new ProducerError(
      `the checkpoint belongs to another replay (${mismatch})`,
      'use another --checkpoint file, or pass --restart to start over',
    );
  }
}

function orderedReasons(
  byReason: Partial<Record<RejectReason, number>>,
): Partial<Record<RejectReason, number>> {
  const ordered: Partial<Record<RejectReason, number>> = {};
  for (const reason of REJECT_REASONS) if (byReason[reason]) ordered[reason] = byReason[reason];
  return ordered;
}

// ---------------------------------------------------------------------------------------------------
// The run behind `clickstream replay` (cli/commands/replay.ts): flags checked, clients from the target

export interface ReplayOptions {
  source?: string;
  stream?: string;
  partitionKey?: string;
  speed?: string;
  from?: string;
  to?: string;
  limit?: string;
  dryRun?: boolean;
  aggregate?: boolean;
  maxBatchBytes?: string;
  concurrency?: string;
  maxRetries?: string;
  rejects?: string;
  failedOut?: string;
  /** A path; false with --no-checkpoint; unset for the default path. */
  checkpoint?: string | boolean;
  restart?: boolean;
}

export async function replay(options: ReplayOptions, context: RunContext): Promise<ReplaySummary> {
  if (!options.source)
    throw new ProducerError('--source is required', 'e.g. --source s3://bucket/2019-Oct.csv or a local path');
  const source = describeSource(options.source);
  const speed = parsedFlag(() => parseSpeed(options.speed), '--speed');
  const fromMs = options.from !== undefined ? isoTimeFlag(options.from, '--from') : undefined;
  const toMs = options.to !== undefined ? isoTimeFlag(options.to, '--to') : undefined;
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs)
    throw new ProducerError('--to must be after --from');
  const partitionKey = (options.partitionKey ?? 'category_id') as PartitionKeyField;
  if (!PARTITION_KEY_FIELDS.includes(partitionKey)) {
    throw new ProducerError(
      `--partition-key ${partitionKey} is not supported`,
      `use one of: ${PARTITION_KEY_FIELDS.join(', ')}`,
    );
  }
  const dryRun = options.dryRun ?? false;
  const needsAws = !dryRun || source.s3 !== undefined;
  const target = needsAws ? await context.target() : undefined;
  const kinesis =
    target && !dryRun ? createKinesisClient(clientOptions(target, 'kinesis', { maxAttempts: 1 })) : undefined;
  const s3 = target ? createS3Client(clientOptions(target, 's3')) : undefined;
  const streamName = options.stream ?? target?.names.eventsStream ?? 'clickstream-events';

  // In AWS the rejects of an S3 source go next to the data, under rejects/ in the raw bucket.
  let rejects: string | RejectSink | undefined = options.rejects;
  if (!rejects && source.s3 && s3 && target) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    rejects = s3RejectSink({
      s3,
      bucket: target.names.rawBucket,
      key: `rejects/${source.stem}.${stamp}.rejects.csv`,
      spoolPath: join('.clickstream', `${source.stem}.${stamp}.rejects.csv`),
    });
  }

  // A file or S3 source always keeps a checkpoint (except dry runs, which send nothing to resume), so
  // running the same command again after a crash or Ctrl-C resumes where it stopped.
  const checkpoint =
    typeof options.checkpoint === 'string'
      ? options.checkpoint
      : options.checkpoint === false || dryRun
        ? undefined
        : defaultCheckpointPath(options.source, streamName, targetName(target));
  if (checkpoint)
    context.info(`checkpoint: ${checkpoint}${options.restart ? ' (--restart: starting over)' : ''}`);

  const bar = context.progress('replay', {
    unit: 'MB',
    fields: ['rate', 'sent', 'rejected', 'retries', 'at'],
  });
  let lastSent = 0;
  let lastAt = performance.now();
  let totalSet = false;
  try {
    const summary = await replayToStream({
      ...(kinesis ? { kinesis } : {}),
      ...(s3 ? { s3 } : {}),
      streamName,
      source: options.source,
      partitionKey,
      speed,
      ...(fromMs !== undefined ? { fromMs } : {}),
      ...(toMs !== undefined ? { toMs } : {}),
      ...(options.limit !== undefined ? { limit: integerFlag(options.limit, '--limit') } : {}),
      dryRun,
      aggregate: options.aggregate ?? true,
      ...(options.maxBatchBytes !== undefined
        ? { maxBatchBytes: integerFlag(options.maxBatchBytes, '--max-batch-bytes') }
        : {}),
      ...(options.concurrency !== undefined
        ? { concurrency: integerFlag(options.concurrency, '--concurrency') }
        : {}),
      ...(options.maxRetries !== undefined
        ? { maxRetries: integerFlag(options.maxRetries, '--max-retries', 0) }
        : {}),
      ...(rejects ? { rejects } : {}),
      ...(options.failedOut ? { failedOut: options.failedOut } : {}),
      ...(checkpoint ? { checkpoint } : {}),
      ...(options.restart ? { restart: true } : {}),
      onStart: (start) => context.info(describeStart(start)),
      signal: context.signal,
      onProgress: (progress) => {
        if (!totalSet && progress.sourceBytes) {
          bar.setTotal(Math.max(1, Math.round(progress.sourceBytes / 1e6)));
          totalSet = true;
        }
        const now = performance.now();
        const rate = Math.round(((progress.sent - lastSent) * 1000) / Math.max(1, now - lastAt));
        lastSent = progress.sent;
        lastAt = now;
        bar.update(Math.round(progress.sourceBytesRead / 1e6), {
          rate: `${rate}/s`,
          sent: progress.sent,
          rejected: progress.rejected,
          retries: progress.retried,
          at: progress.eventTimeMs !== undefined ? toIsoSeconds(progress.eventTimeMs) : '-',
        });
      },
    });
    bar.stop();
    if (summary.rejected.total > 0) context.info(`rejected rows: ${summary.rejectsFile}`);
    if (summary.failed > 0)
      context.warn(`${summary.failed} records failed after retries: ${summary.failedFile}`);
    if (summary.interrupted && summary.checkpoint)
      context.info(`interrupted; the same command resumes from checkpoint ${summary.checkpoint}`);
    return summary;
  } finally {
    bar.stop();
    kinesis?.destroy();
    s3?.destroy();
  }
}

/** Which AWS a checkpoint belongs to: `local`, or `aws:<region>`. */
function targetName(target: { mode: 'local' | 'aws'; region?: string } | undefined): string {
  if (!target || target.mode === 'local') return 'local';
  return `aws:${target.region ?? ''}`;
}

/** One line on where a run starts, for the terminal. */
export function describeStart(start: ReplayStart): string {
  if (start.startedOver) return `${start.startedOver}: replaying from the first row`;
  const from = start.resumedFrom;
  if (!from) return `replaying from the first row (event ids ${start.sourceTag}…)`;
  if (from.complete)
    return `the checkpoint says all ${from.read.toLocaleString('en-US')} rows were replayed; nothing to send (--restart sends them again, counted once downstream)`;
  const share = start.sourceBytes
    ? ` (${Math.floor((100 * from.byteOffset) / start.sourceBytes)}% of the source)`
    : '';
  return `resuming at row ${(from.read + 1).toLocaleString('en-US')}, line ${(from.line + 1).toLocaleString('en-US')}, byte ${from.byteOffset.toLocaleString('en-US')}${start.sourceBytes ? ` of ${start.sourceBytes.toLocaleString('en-US')}` : ''}${share}`;
}
