/**
 * Events → Kinesis records → PutRecords batches, one open batch per shard.
 *
 * Batching per shard (as the KPL does) lets the sender keep one call in flight per shard, which keeps
 * the order of each partition key, and lets a throttled shard wait without holding up the others.
 * With aggregation on (the default), the events bound for a shard are first packed into KPL aggregated
 * records (core/kpl.ts) of up to 50 KiB: a shard takes 1,000 records/s but 1 MiB/s, so one ~250-byte
 * event per record would leave most of a shard's bandwidth unused, the hot category shard's included.
 * Each aggregate carries its shard's starting hash key as ExplicitHashKey, so it lands on the shard
 * its events' own partition keys hash to, and de-aggregating consumers find every event where a
 * non-aggregated put would have put it.
 */

import type { ClickEvent } from '../core/event.ts';
import { AggregateBuilder, DEFAULT_AGGREGATE_BYTES } from '../core/kpl.ts';

/** Kinesis PutRecords limits (AWS): per call 500 records and 10 MiB; per record 1 MiB incl. partition key. */
export const KINESIS_LIMITS = {
  maxRecordsPerCall: 500,
  maxBytesPerCall: 10 * 1024 * 1024,
  /**
   * One second of a shard: every call goes to one shard (batches are per shard), which takes 1 MiB/s,
   * so a larger call is throttled in part before it lands. With one-event records the 500-record cap
   * comes first; with 50 KiB aggregates this is what bounds a call (about 20 of them).
   */
  defaultBytesPerCall: 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
} as const;

/**
 * The largest event body that still makes a valid Kinesis record (1 MiB with its partition key). In an
 * aggregate it also carries magic and checksum (20 bytes), its key table entry (tag, length, key) and
 * the record framing (tags, lengths, index): an aggregate of one such event must still fit.
 */
export function maxEventBytes(partitionKey: string, aggregated: boolean): number {
  const keyBytes = Buffer.byteLength(partitionKey, 'utf8');
  return KINESIS_LIMITS.maxRecordBytes - keyBytes - (aggregated ? 64 + keyBytes : 0);
}

export const PARTITION_KEY_FIELDS = ['category_id', 'user_id', 'product_id'] as const;
export type PartitionKeyField = (typeof PARTITION_KEY_FIELDS)[number];

/** Something that is told when its records are settled (acknowledged, or written to the failed file). */
export interface Settlement {
  settle(count: number): void;
}

/** One event on its way to Kinesis (its body is in the record that carries it). */
export interface EventEntry {
  partitionKey: string;
  /** Source line, for the failed-records file. */
  line: number;
  /** Bytes of its row in the source, for the replay's byte accounting. */
  sourceBytes?: number;
  owner: Settlement;
}

/** One Kinesis record: a single event, or a KPL aggregate of events bound for the same shard. */
export interface OutgoingRecord {
  /** The event's JSON body, or the aggregate (core/kpl.ts) of the events' bodies in order. */
  data: Uint8Array;
  partitionKey: string;
  /** Set on aggregates: the starting hash key of the shard their events belong to. */
  explicitHashKey?: string;
  /** The events inside, in order. */
  events: readonly EventEntry[];
}

export interface Batch {
  shard: number;
  records: OutgoingRecord[];
  /** Data plus partition keys, as AWS counts them against the per-call limit. */
  bytes: number;
  /** Events in all the records. */
  events: number;
}

export interface BatchLimits {
  maxRecords?: number;
  maxBytes?: number;
}

/** Packing events into KPL aggregates: the cap per aggregate, and each shard's starting hash key. */
export interface AggregationOptions {
  /** Hash keys by shard index (ShardMap order), sent as ExplicitHashKey. */
  shardHashKeys: readonly string[];
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

/**
 * Recycles the memory of sent aggregates. Each is a buffer of its own, and a few hundred a second
 * become garbage outside the JS heap, which V8 collects only once tens of MB have piled up: recycling
 * them keeps the producer's memory flat (docs/performance.md: under 200 MB whatever the input size).
 */
class AggregatePool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bytes: number,
    private readonly maxFree = 256,
  ) {}

  readonly take = (bytes: number): Buffer =>
    (bytes <= this.bytes ? this.free.pop() : undefined) ??
    Buffer.allocUnsafeSlow(Math.max(bytes, this.bytes));

  /** Takes back the memory of an aggregate nothing refers to any more. */
  give(data: Uint8Array): void {
    if (data.byteOffset !== 0 || data.buffer.byteLength !== this.bytes || this.free.length >= this.maxFree)
      return;
    this.free.push(Buffer.from(data.buffer, 0, this.bytes));
  }
}

interface OpenAggregate {
  builder: AggregateBuilder;
  events: EventEntry[];
}

/** Event bodies, encoded by the batcher: straight into an aggregate, or one record each. */
export interface EventBody {
  json: string;
  /** Its UTF-8 length (the caller measured it to check the size limit). */
  bytes: number;
}

/** Accumulates events into one open batch per shard (through an open aggregate each, if aggregating). */
export class ShardBatcher {
  private readonly open: Batch[];
  private readonly limits: Required<BatchLimits>;
  private readonly aggregates: OpenAggregate[] | undefined;
  private readonly hashKeys: readonly string[];
  private readonly maxAggregateBytes: number;
  private readonly encoder = new RecordEncoder();
  private readonly pool: AggregatePool | undefined;
  private bufferedCount = 0;

  constructor(shardCount: number, limits: BatchLimits = {}, aggregation?: AggregationOptions) {
    this.limits = validateBatchLimits(limits);
    this.open = Array.from({ length: shardCount }, (_, shard) => emptyBatch(shard));
    this.hashKeys = aggregation?.shardHashKeys ?? [];
    this.maxAggregateBytes = Math.min(
      aggregation?.maxBytes ?? DEFAULT_AGGREGATE_BYTES,
      KINESIS_LIMITS.maxRecordBytes,
    );
    if (aggregation && this.hashKeys.length !== shardCount)
      throw new RangeError(`${this.hashKeys.length} hash keys for ${shardCount} shards`);
    const pool = aggregation ? new AggregatePool(this.maxAggregateBytes) : undefined;
    this.pool = pool;
    this.aggregates = pool
      ? Array.from({ length: shardCount }, () => ({
          builder: new AggregateBuilder(pool.bytes, pool.take),
          events: [],
        }))
      : undefined;
  }

  /**
   * Adds an event (its body at most maxEventBytes, checked by the caller). Returns the shard's batch
   * when it is complete: the newest record starts the next one.
   */
  add(shard: number, event: EventEntry, body: EventBody): Batch | undefined {
    this.bufferedCount++;
    const aggregate = this.aggregates?.[shard];
    if (!aggregate) {
      const data = this.encoder.encode(body.json);
      return this.addRecord(shard, { data, partitionKey: event.partitionKey, events: [event] });
    }
    const { builder } = aggregate;
    let full: Batch | undefined;
    if (
      builder.count > 0 &&
      builder.size + builder.sizeOf(event.partitionKey, body.bytes) > this.maxAggregateBytes
    ) {
      full = this.addRecord(shard, this.seal(shard, aggregate));
    }
    builder.add(event.partitionKey, body.json, body.bytes);
    aggregate.events.push(event);
    return full;
  }

  /** Takes every non-empty batch, open aggregates sealed (end of input, before pacing waits, before a checkpoint). */
  flushAll(): Batch[] {
    const batches: Batch[] = [];
    for (const batch of this.open) {
      const aggregate = this.aggregates?.[batch.shard];
      if (aggregate && aggregate.events.length > 0) {
        const full = this.addRecord(batch.shard, this.seal(batch.shard, aggregate));
        if (full) batches.push(full);
      }
      if (batch.records.length === 0) continue;
      batches.push({ ...batch });
      Object.assign(batch, emptyBatch(batch.shard));
    }
    this.bufferedCount = 0;
    return batches;
  }

  /**
   * Call once a record is settled (sent, or written to the failed-records file) and nothing reads its
   * data any more: an aggregate's memory goes back to the pool for the next one.
   */
  recycle(record: OutgoingRecord): void {
    if (record.explicitHashKey !== undefined) this.pool?.give(record.data);
  }

  /** Events added and not yet handed out in a batch. */
  get buffered(): number {
    return this.bufferedCount;
  }

  private seal(shard: number, aggregate: OpenAggregate): OutgoingRecord {
    const events = aggregate.events;
    const record: OutgoingRecord = {
      data: aggregate.builder.build(),
      // Kinesis routes by the explicit hash key; the partition key only has to be a valid one.
      partitionKey: (events[0] as EventEntry).partitionKey,
      explicitHashKey: this.hashKeys[shard] as string,
      events,
    };
    aggregate.events = [];
    return record;
  }

  private addRecord(shard: number, record: OutgoingRecord): Batch | undefined {
    const open = this.open[shard];
    if (!open) throw new RangeError(`no shard ${shard}`);
    const size = record.data.length + record.partitionKey.length;
    let full: Batch | undefined;
    if (open.records.length >= this.limits.maxRecords || open.bytes + size > this.limits.maxBytes) {
      full = { ...open };
      this.bufferedCount -= open.events;
      Object.assign(open, emptyBatch(shard));
    }
    open.records.push(record);
    open.bytes += size;
    open.events += record.events.length;
    return full;
  }
}

function emptyBatch(shard: number): Batch {
  return { shard, records: [], bytes: 0, events: 0 };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON must escape exactly these control characters.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function jsonString(value: string | null): string {
  if (value === null) return 'null';
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * The record body (EventRecord) as JSON, byte for byte what JSON.stringify({...event, event_id,
 * replayed_at}) gives. Written by hand because the spread plus JSON.stringify cost 3 µs a row, more
 * than the whole budget the replay CPU path has on top of csv-parse; ids, times and types are
 * validated by parseRow (event ids are built from [0-9A-Za-z_-]) and need no escaping.
 */
export function eventRecordJson(event: ClickEvent, eventId: string, replayedAt: string): string {
  return `{"event_time":"${event.event_time}","event_type":"${event.event_type}","product_id":"${event.product_id}","category_id":"${event.category_id}","category_code":${jsonString(event.category_code)},"brand":${jsonString(event.brand)},"price":${event.price},"user_id":"${event.user_id}","user_session":${jsonString(event.user_session)},"event_id":"${eventId}","replayed_at":"${replayedAt}"}`;
}

const SLAB_BYTES = 256 * 1024;

/**
 * Encodes one-event records into shared slabs: one allocation per 256 KiB instead of one Buffer per
 * record. A slab lives as long as any record in it is in flight, so memory stays bounded by the send
 * window.
 */
export class RecordEncoder {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private offset = 0;

  /** UTF-8 bytes of `text`. */
  encode(text: string): Uint8Array {
    // UTF-16 code units never take more than 3 UTF-8 bytes each.
    const worst = text.length * 3;
    if (worst > SLAB_BYTES / 4) return Buffer.from(text, 'utf8');
    if (this.offset + worst > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.offset = 0;
    }
    const written = this.slab.write(text, this.offset, 'utf8');
    const bytes = this.slab.subarray(this.offset, this.offset + written);
    this.offset += written;
    return bytes;
  }
}
