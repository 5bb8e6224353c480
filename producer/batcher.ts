/**
 * Events → Kinesis records → PutRecords batches, one open batch per shard.
 *
 * Batching per shard (as the KPL does) lets the sender keep one call in flight per shard, which keeps
 * the order of each partition key, and lets a throttled shard wait without holding up the others.
 */
import type { ClickEvent } from '../core/event.ts';

/** Kinesis PutRecords limits (AWS): per call 500 records and 10 MiB; per record 1 MiB incl. partition key. */
export const KINESIS_LIMITS = {
  maxRecordsPerCall: 500,
  maxBytesPerCall: 10 * 1024 * 1024,
  /** Half the call limit: a 10 MiB call on a shard that takes 1 MiB/s is throttled before it lands. */
  defaultBytesPerCall: 5 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
} as const;

export const PARTITION_KEY_FIELDS = ['category_id', 'user_id', 'product_id'] as const;
export type PartitionKeyField = (typeof PARTITION_KEY_FIELDS)[number];

/** Something that is told when its records are settled (acknowledged, or written to the failed file). */
export interface Settlement {
  settle(count: number): void;
}

export interface OutgoingRecord {
  data: Uint8Array;
  partitionKey: string;
  /** Source line, for the failed-records file. */
  line: number;
  owner: Settlement;
}

export interface Batch {
  shard: number;
  records: OutgoingRecord[];
  /** Data plus partition keys, as AWS counts them against the per-call limit. */
  bytes: number;
}

export interface BatchLimits {
  maxRecords?: number;
  maxBytes?: number;
}

export class BatchLimitError extends Error {
  override name = 'BatchLimitError';
}

export function validateBatchLimits(limits: BatchLimits): Required<BatchLimits> {
  const maxRecords = limits.maxRecords ?? KINESIS_LIMITS.maxRecordsPerCall;
  const maxBytes = limits.maxBytes ?? KINESIS_LIMITS.defaultBytesPerCall;
  if (!Number.isInteger(maxRecords) || maxRecords < 1 || maxRecords > KINESIS_LIMITS.maxRecordsPerCall) {
    throw new BatchLimitError(
      `records per call must be 1..${KINESIS_LIMITS.maxRecordsPerCall}, got ${maxRecords}`,
    );
  }
  if (
    !Number.isInteger(maxBytes) ||
    maxBytes < KINESIS_LIMITS.maxRecordBytes ||
    maxBytes > KINESIS_LIMITS.maxBytesPerCall
  ) {
    throw new BatchLimitError(
      `bytes per call must be ${KINESIS_LIMITS.maxRecordBytes}..${KINESIS_LIMITS.maxBytesPerCall} (1 MiB..10 MiB), got ${maxBytes}`,
    );
  }
  return { maxRecords, maxBytes };
}

/** Accumulates records into one open batch per shard and hands out batches that are full. */
export class ShardBatcher {
  private readonly open: Batch[];
  private readonly limits: Required<BatchLimits>;
  private bufferedCount = 0;

  constructor(shardCount: number, limits: BatchLimits = {}) {
    this.limits = validateBatchLimits(limits);
    this.open = Array.from({ length: shardCount }, (_, shard) => ({ shard, records: [], bytes: 0 }));
  }

  /**
   * Adds a record (at most maxRecordBytes, checked by the encoder). Returns the shard's batch when the
   * record did not fit in it: that batch is complete and the record starts the next one.
   */
  add(shard: number, record: OutgoingRecord): Batch | undefined {
    const open = this.open[shard];
    if (!open) throw new RangeError(`no shard ${shard}`);
    const size = record.data.length + record.partitionKey.length;
    let full: Batch | undefined;
    if (open.records.length >= this.limits.maxRecords || open.bytes + size > this.limits.maxBytes) {
      full = { shard, records: open.records, bytes: open.bytes };
      this.bufferedCount -= open.records.length;
      open.records = [];
      open.bytes = 0;
    }
    open.records.push(record);
    open.bytes += size;
    this.bufferedCount++;
    return full;
  }

  /** Takes every non-empty open batch (end of input, before pacing waits, before a checkpoint). */
  flushAll(): Batch[] {
    const batches: Batch[] = [];
    for (const open of this.open) {
      if (open.records.length === 0) continue;
      batches.push({ shard: open.shard, records: open.records, bytes: open.bytes });
      open.records = [];
      open.bytes = 0;
    }
    this.bufferedCount = 0;
    return batches;
  }

  get buffered(): number {
    return this.bufferedCount;
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON must escape exactly these control characters.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function jsonString(value: string | null): string {
  if (value === null) return 'null';
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * The record body (EventRecord) as JSON, byte for byte what JSON.stringify({...event, replayed_at})
 * gives. Written by hand because the spread plus JSON.stringify cost 3 µs a row, more than the whole
 * budget the replay CPU path has on top of csv-parse; ids, times and types are validated by parseRow
 * and need no escaping.
 */
export function eventRecordJson(event: ClickEvent, replayedAt: string): string {
  return `{"event_time":"${event.event_time}","event_type":"${event.event_type}","product_id":"${event.product_id}","category_id":"${event.category_id}","category_code":${jsonString(event.category_code)},"brand":${jsonString(event.brand)},"price":${event.price},"user_id":"${event.user_id}","user_session":${jsonString(event.user_session)},"replayed_at":"${replayedAt}"}`;
}

const SLAB_BYTES = 256 * 1024;

/**
 * Encodes records into shared slabs: one allocation per 256 KiB instead of one Buffer per record. A
 * slab lives as long as any record in it is in flight, so memory stays bounded by the send window.
 */
export class RecordEncoder {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private offset = 0;

  /** UTF-8 bytes of `text`, or undefined when they exceed `maxBytes`. */
  encode(text: string, maxBytes: number): Uint8Array | undefined {
    // UTF-16 code units never take more than 3 UTF-8 bytes each.
    const worst = text.length * 3;
    let bytes: Uint8Array;
    if (worst > SLAB_BYTES / 4) {
      bytes = Buffer.from(text, 'utf8');
    } else {
      if (this.offset + worst > SLAB_BYTES) {
        this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
        this.offset = 0;
      }
      const written = this.slab.write(text, this.offset, 'utf8');
      bytes = this.slab.subarray(this.offset, this.offset + written);
      this.offset += written;
    }
    return bytes.length > maxBytes ? undefined : bytes;
  }
}
