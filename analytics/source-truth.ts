/**
 * Verify's ground truth, computed from the source CSV alone: rows, rejects and events by type over the
 * whole file, and each (user, window) total as the aggregator's fold makes it with one window and no
 * shards. The truth side reads the CSV with a reader of its own (source-lines.ts), never the
 * producer's; the producer's reader reads the same file beside it, only to count what it would see.
 *
 * Its memory is bounded: a file bigger than SOURCE_BYTES_PER_PARTITION has its users split by hash into
 * partitions, its accepted rows parked on disk, a file per partition (partition-spill.ts), and each
 * partition folded on its own when asked. Per-user facts (window totals, visitors a day) add up across
 * partitions, since a user's rows are all in one.
 */
import { hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_WINDOW_SECONDS, type UserWindowTotal } from '../core/aggregate.ts';
import { ClickstreamError } from '../core/errors.ts';
import { type ClickEvent, EVENT_TYPES, type EventType, parseRow } from '../core/event.ts';
import {
  emptyWindowState,
  foldEvent,
  mergePartials,
  takePartials,
  toUserWindowTotal,
} from '../core/window.ts';
import { type RowChunk, readRowChunks } from '../producer/rows.ts';
import { describeSource, openSource } from '../producer/source.ts';
import { createPartitionSpill } from './partition-spill.ts';
import { readSourceLines, SourceFormatError } from './source-lines.ts';

/**
 * Source bytes a partition of users covers. Folded whole, a million generated rows (133 MB) peaked at
 * 1,162 MB of RSS; in 32 MiB partitions at 902 MB, as V8 let each partition's garbage pile up before
 * collecting it; in 8 MiB partitions at 386 MB, for 33% more time (41.6 s against 31.3 s). Measured
 * with the fold alone, one run each (docs/performance.md).
 */
export const SOURCE_BYTES_PER_PARTITION = 8 * 1024 * 1024;
/** A gzip source's stored size understates its CSV: Kaggle's compresses about 4:1. */
const GZIP_RATIO = 4;

/** The producer's reader, as verify runs it over the source (injected in tests). */
export type ProducerReader = (input: Readable) => AsyncIterable<RowChunk>;

/** One partition of users: their (user, window) totals and their visits per day. */
export interface PartitionTruth {
  /** (user, window) → merged total, for the sampled users (see windowKey). */
  windows: Map<string, UserWindowTotal>;
  /** Day → distinct users, of every user in the partition (sampled or not). */
  visitorsPerDay: Map<string, number>;
}

/** The facts verify compares against, computed from the source CSV alone. */
export interface SourceTruth {
  /** Rows in the file by verify's own reader: every line after the header that is not empty. */
  rows: number;
  accepted: number;
  rejected: number;
  byType: Record<EventType, number>;
  /** The same file as the producer's reader and row rules see it. */
  producer: { rows: number; rejected: number };
  /** How many partitions the users are split into: 1 unless the file is big. */
  partitions: number;
  /** Which partition a user's windows are in. */
  partitionOf(userId: string): number;
  /** One partition's truth, folded when asked (from disk when there is more than one). */
  partition(index: number): Promise<PartitionTruth>;
  /** Bytes the partitions parked on disk (0 with one partition). */
  spilledBytes: number;
  /** Removes what was parked on disk. Safe to call twice; a no-op with one partition. */
  dispose(): void;
}

/** How verify and the tests key a (user, window). */
export const windowKey = (userId: string, windowStart: string) => `${userId}|${windowStart}`;

/**
 * 32 bits of a user id's md5, the `word`th (0 or 1). One-shot `hash`, as contribution ids are made:
 * createHash's object setup took 2.3 s for a million ids, against 0.45 s.
 */
function userHashWord(userId: string, word: 0 | 1): number {
  return Number.parseInt(hash('md5', userId, 'hex').slice(word * 8, word * 8 + 8), 16);
}

/** Keeps a deterministic share of users (by hash) so --sample bounds verify's work on huge files. */
export function userSampler(sampleShare: number): (userId: string) => boolean {
  if (sampleShare >= 1) return () => true;
  const cutoff = Math.floor(sampleShare * 0xffffffff);
  return (userId) => userHashWord(userId, 0) <= cutoff;
}

/** A user's partition among `partitions`, from other bits of the hash than the sampler's. */
export function userPartitioner(partitions: number): (userId: string) => number {
  if (partitions <= 1) return () => 0;
  return (userId) => userHashWord(userId, 1) % partitions;
}

/** Partitions for a source of `storedBytes` (undefined when unknown: one). */
export function partitionsFor(
  storedBytes: number | undefined,
  gzip: boolean,
  bytesPerPartition: number,
): number {
  if (storedBytes === undefined) return 1;
  return Math.max(1, Math.ceil((storedBytes * (gzip ? GZIP_RATIO : 1)) / bytesPerPartition));
}

export async function computeSourceTruth(options: {
  source: string;
  s3?: S3Client;
  windowSeconds?: number;
  sampleShare?: number;
  signal?: AbortSignal;
  /** Default: the producer's own (readRowChunks). */
  producerReader?: ProducerReader;
  /** Default SOURCE_BYTES_PER_PARTITION; tests make it small to split small files. */
  bytesPerPartition?: number;
  /** Told the source bytes read so far (compressed for gzip) and their total when known, per batch. */
  onSourceRead?: (bytesRead: number, totalBytes: number | undefined) => void;
}): Promise<SourceTruth> {
  const ref = describeSource(options.source);
  const open = () =>
    openSource(ref, {
      ...(options.s3 ? { s3: options.s3 } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  // Two reads of the same file, side by side: each reader gets a stream of its own.
  const [truth, producer] = await Promise.all([
    open().then((opened) =>
      foldSource(opened.stream, {
        ...options,
        onBatch: () => options.onSourceRead?.(opened.storedBytesRead(), opened.storedBytes),
        partitions: partitionsFor(
          opened.storedBytes,
          ref.gzip,
          options.bytesPerPartition ?? SOURCE_BYTES_PER_PARTITION,
        ),
      }),
    ),
    open().then((opened) => countProducerRows(opened.stream, options.producerReader ?? readRowChunks)),
  ]);
  return { ...truth, producer };
}

/** What the producer would make of each row: its reader's rejects plus the row rules. */
async function countProducerRows(input: Readable, reader: ProducerReader): Promise<SourceTruth['producer']> {
  let rows = 0;
  let rejected = 0;
  for await (const chunk of reader(input)) {
    for (let i = 0; i < chunk.rows.length; i++) {
      rows++;
      const bytes = (chunk.ends[i] as number) - (chunk.starts[i] as number);
      if (chunk.rejected?.has(i) || !parseRow(chunk.rows[i] as string[], bytes).ok) rejected++;
    }
  }
  return { rows, rejected };
}

/**
 * The per-user side of the truth for one partition of users: each event folded as the aggregator
 * folds it, never flushed early (the truth is one contribution per (user, window)), and the users seen
 * each day. `eventId` names the event in the fold's id sets: any id distinct within the partition.
 */
function createPartitionFold(windowSeconds: number, sampled: (userId: string) => boolean) {
  const state = emptyWindowState(windowSeconds);
  const visitors = new Map<string, Set<string>>();
  return {
    add(event: ClickEvent, eventMs: number, eventId: string): void {
      const day = event.event_time.slice(0, 10);
      let users = visitors.get(day);
      if (!users) {
        users = new Set();
        visitors.set(day, users);
      }
      users.add(event.user_id);
      if (sampled(event.user_id)) foldEvent(state, event, eventMs, eventId, Number.POSITIVE_INFINITY);
    },
    finish(): PartitionTruth {
      // One partial per (user, window): each is a window's total on its own. Taken off the list one at
      // a time, so the id lists of the windows done are freed while the rest convert (merging them all
      // at once held every event id twice: 1.8 GB of RSS for a million events).
      const windows = new Map<string, UserWindowTotal>();
      const partials = takePartials(state, 'source');
      for (let partial = partials.pop(); partial !== undefined; partial = partials.pop()) {
        for (const merged of mergePartials([partial]).values()) {
          const total = toUserWindowTotal(merged);
          windows.set(windowKey(total.user_id, total.window_start), total);
        }
      }
      return { windows, visitorsPerDay: new Map([...visitors].map(([day, users]) => [day, users.size])) };
    },
  };
}

async function foldSource(
  input: Readable,
  options: { windowSeconds?: number; sampleShare?: number; partitions: number; onBatch?: () => void },
): Promise<Omit<SourceTruth, 'producer'>> {
  const windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const sampled = userSampler(options.sampleShare ?? 1);
  const { partitions } = options;
  const partitionOf = userPartitioner(partitions);
  // One partition is folded as it is read; more park each accepted row's fields in their user's file.
  const fold = partitions === 1 ? createPartitionFold(windowSeconds, sampled) : undefined;
  const spill = partitions > 1 ? createPartitionSpill(partitions, 'verify-source') : undefined;
  const byType = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
  let rows = 0;
  let accepted = 0;
  let rejected = 0;
  try {
    for await (const batch of readSourceLines(input)) {
      for (const row of batch) {
        rows++;
        const result = row.fields ? parseRow(row.fields, row.bytes) : undefined;
        if (!result?.ok) {
          rejected++;
          continue;
        }
        accepted++;
        byType[result.event.event_type]++;
        if (fold) fold.add(result.event, result.eventMs, String(accepted));
        else spill?.add(partitionOf(result.event.user_id), JSON.stringify(row.fields));
      }
      options.onBatch?.();
    }
  } catch (error) {
    spill?.dispose();
    if (error instanceof SourceFormatError)
      throw new ClickstreamError(error.message, 'verify --source takes the Kaggle CSV that was replayed');
    throw error;
  }
  const folded = fold?.finish();
  spill?.flush();
  return {
    rows,
    accepted,
    rejected,
    byType,
    partitions,
    partitionOf,
    spilledBytes: spill?.bytesWritten() ?? 0,
    async partition(index) {
      if (folded) return folded;
      if (!spill || index < 0 || index >= partitions) throw new RangeError(`no partition ${index}`);
      const partitionFold = createPartitionFold(windowSeconds, sampled);
      let position = 0;
      for await (const line of spill.lines(index)) {
        // Accepted once already: the same rules accept it again.
        const result = parseRow(JSON.parse(line) as string[]);
        if (!result.ok) throw new Error(`verify: a parked row no longer parses (${result.reason})`);
        position++;
        partitionFold.add(result.event, result.eventMs, String(position));
      }
      return partitionFold.finish();
    },
    dispose: () => spill?.dispose(),
  };
}

/**
 * Every (user, window) total of a source small enough to hold whole, all partitions merged: for callers
 * that want the windows themselves (the AWS smoke run, tests), not verify's comparison.
 */
export async function sourceWindows(options: {
  source: string;
  s3?: S3Client;
  windowSeconds?: number;
}): Promise<Map<string, UserWindowTotal>> {
  const truth = await computeSourceTruth(options);
  try {
    const windows = new Map<string, UserWindowTotal>();
    for (let index = 0; index < truth.partitions; index++)
      for (const [key, total] of (await truth.partition(index)).windows) windows.set(key, total);
    return windows;
  } finally {
    truth.dispose();
  }
}
