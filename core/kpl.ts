/**
 * The KPL aggregated record format (amazon-kinesis-producer, aggregation-format.md): many user records
 * in one Kinesis record, as the magic bytes F3 89 9A C2, a protobuf `AggregatedRecord`, and the MD5 of
 * that protobuf message.
 *
 *   message AggregatedRecord { repeated string partition_key_table = 1;
 *                              repeated string explicit_hash_key_table = 2;
 *                              repeated Record records = 3; }
 *   message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *                    required bytes data = 3; repeated Tag tags = 4; }
 *
 * Why aggregate: a shard takes 1,000 records/s but 1 MiB/s, and an event is ~250 bytes, so one event
 * per record leaves three quarters of a shard's bandwidth unused; the hot category shard needs it.
 * Firehose de-aggregates on its own; the Lambda consumers call `deaggregate`.
 *
 * Written here rather than taken from aws-kinesis-agg (the reference implementation, which the tests
 * check this code against in both directions): its encoder costs ~1.7 µs per event and its decoder
 * re-encodes every user record to base64, each more than the whole per-event budget of the producer's
 * CPU path and a large share of the aggregator's. This one writes into one exact-size buffer and decodes
 * to views of the input.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { createHash } from 'node:crypto';

export const KPL_MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
const CHECKSUM_BYTES = 16;
/** KPL's own default AggregationMaxSize: small enough to keep Lambda batches and pacing fine-grained. */
export const DEFAULT_AGGREGATE_BYTES = 51_200;

export class KplFormatError extends Error {
  override name = 'KplFormatError';
}

export interface UserRecord {
  partitionKey: string;
  explicitHashKey?: string;
  /** A view into the aggregate's bytes (decoded) or the caller's bytes (encoded). */
  data: Uint8Array;
}

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

/**
 * Collects user records into one aggregated record. `size` is the exact size `build()` will return,
 * so callers can cap an aggregate before adding to it.
 */
export class AggregateBuilder {
  private readonly keys = new Map<string, number>();
  private readonly keyBytes: Buffer[] = [];
  private readonly indexes: number[] = [];
  private readonly payloads: Uint8Array[] = [];
  private messageBytes = 0;

  get count(): number {
    return this.payloads.length;
  }

  /** Bytes of the aggregated record as built now. */
  get size(): number {
    return KPL_MAGIC.length + this.messageBytes + CHECKSUM_BYTES;
  }

  /** Bytes `add(partitionKey, data)` would add. */
  sizeOf(partitionKey: string, data: Uint8Array): number {
    let bytes = 0;
    let index = this.keys.get(partitionKey);
    if (index === undefined) {
      const keyLength = Buffer.byteLength(partitionKey, 'utf8');
      bytes += 1 + varintBytes(keyLength) + keyLength;
      index = this.keys.size;
    }
    const inner = 1 + varintBytes(index) + 1 + varintBytes(data.length) + data.length;
    return bytes + 1 + varintBytes(inner) + inner;
  }

  add(partitionKey: string, data: Uint8Array): void {
    this.messageBytes += this.sizeOf(partitionKey, data);
    let index = this.keys.get(partitionKey);
    if (index === undefined) {
      index = this.keys.size;
      this.keys.set(partitionKey, index);
      this.keyBytes.push(Buffer.from(partitionKey, 'utf8'));
    }
    this.indexes.push(index);
    this.payloads.push(data);
  }

  /** The aggregated record's bytes. The builder is left as it was (call `clear` to reuse it). */
  build(): Buffer {
    const out = Buffer.allocUnsafe(this.size);
    let at = 0;
    const byte = (value: number) => {
      out[at++] = value;
    };
    const varint = (value: number) => {
      while (value >= 0x80) {
        byte((value % 0x80) | 0x80);
        value = Math.floor(value / 0x80);
      }
      byte(value);
    };
    out.set(KPL_MAGIC, 0);
    at = KPL_MAGIC.length;
    for (const key of this.keyBytes) {
      byte(0x0a); // field 1, length-delimited
      varint(key.length);
      out.set(key, at);
      at += key.length;
    }
    for (let i = 0; i < this.payloads.length; i++) {
      const index = this.indexes[i] as number;
      const data = this.payloads[i] as Uint8Array;
      byte(0x1a); // field 3, length-delimited: one Record
      varint(1 + varintBytes(index) + 1 + varintBytes(data.length) + data.length);
      byte(0x08); // Record field 1, varint
      varint(index);
      byte(0x1a); // Record field 3, length-delimited
      varint(data.length);
      out.set(data, at);
      at += data.length;
    }
    const digest = createHash('md5').update(out.subarray(KPL_MAGIC.length, at)).digest();
    out.set(digest, at);
    return out;
  }

  clear(): void {
    this.keys.clear();
    this.keyBytes.length = 0;
    this.indexes.length = 0;
    this.payloads.length = 0;
    this.messageBytes = 0;
  }
}

export function isAggregated(data: Uint8Array): boolean {
  return (
    data.length >= KPL_MAGIC.length + CHECKSUM_BYTES &&
    data[0] === KPL_MAGIC[0] &&
    data[1] === KPL_MAGIC[1] &&
    data[2] === KPL_MAGIC[2] &&
    data[3] === KPL_MAGIC[3]
  );
}

/** Reads protobuf fields of one message in [start, end) of `bytes`. */
class FieldReader {
  at: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.at = start;
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.at >= this.end) throw new KplFormatError('truncated varint');
      const byte = this.bytes[this.at++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw new KplFormatError('varint out of range');
        return value;
      }
      scale *= 0x80;
    }
    throw new KplFormatError('varint longer than 10 bytes');
  }

  /** [start, end) of a length-delimited field's bytes, skipped over. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.at;
    if (length > this.end - start) throw new KplFormatError('field runs past the end of its message');
    this.at += length;
    return [start, start + length];
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 2) this.span();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 5) this.advance(4);
    else throw new KplFormatError(`unsupported wire type ${wireType}`);
  }

  private advance(bytes: number): void {
    if (bytes > this.end - this.at) throw new KplFormatError('truncated field');
    this.at += bytes;
  }
}

/**
 * The user records of an aggregated record, in order, with their data as views into `data`. Throws
 * KplFormatError when the bytes are not a well-formed aggregate or the checksum does not match.
 */
export function deaggregate(data: Uint8Array): UserRecord[] {
  if (!isAggregated(data)) throw new KplFormatError('not a KPL aggregated record (no magic number)');
  const end = data.length - CHECKSUM_BYTES;
  const digest = createHash('md5').update(data.subarray(KPL_MAGIC.length, end)).digest();
  if (!digest.equals(data.subarray(end))) throw new KplFormatError('checksum mismatch');
  const text = (from: number, to: number) =>
    Buffer.from(data.buffer, data.byteOffset + from, to - from).toString('utf8');
  const keys: string[] = [];
  const hashKeys: string[] = [];
  const records: Array<{ keyIndex: number; hashKeyIndex: number | undefined; start: number; end: number }> =
    [];
  const message = new FieldReader(data, KPL_MAGIC.length, end);
  while (!message.done) {
    const tag = message.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (wireType === 2 && field === 1) keys.push(text(...message.span()));
    else if (wireType === 2 && field === 2) hashKeys.push(text(...message.span()));
    else if (wireType === 2 && field === 3) {
      const [recordStart, recordEnd] = message.span();
      const record = new FieldReader(data, recordStart, recordEnd);
      let keyIndex: number | undefined;
      let hashKeyIndex: number | undefined;
      let payload: [number, number] | undefined;
      while (!record.done) {
        const recordTag = record.varint();
        const recordField = Math.floor(recordTag / 8);
        const recordWireType = recordTag % 8;
        if (recordWireType === 0 && recordField === 1) keyIndex = record.varint();
        else if (recordWireType === 0 && recordField === 2) hashKeyIndex = record.varint();
        else if (recordWireType === 2 && recordField === 3) payload = record.span();
        else record.skip(recordWireType);
      }
      if (keyIndex === undefined || payload === undefined)
        throw new KplFormatError(`user record ${records.length} lacks its partition key index or data`);
      records.push({ keyIndex, hashKeyIndex, start: payload[0], end: payload[1] });
    } else message.skip(wireType);
  }
  return records.map((record, i) => {
    const partitionKey = keys[record.keyIndex];
    if (partitionKey === undefined)
      throw new KplFormatError(`user record ${i} points past the partition key table`);
    const explicitHashKey = record.hashKeyIndex === undefined ? undefined : hashKeys[record.hashKeyIndex];
    if (record.hashKeyIndex !== undefined && explicitHashKey === undefined)
      throw new KplFormatError(`user record ${i} points past the explicit hash key table`);
    return {
      partitionKey,
      ...(explicitHashKey !== undefined ? { explicitHashKey } : {}),
      data: data.subarray(record.start, record.end),
    };
  });
}
