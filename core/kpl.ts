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
 * CPU path and a large share of the aggregator's. This one encodes each event once, straight into the
 * aggregate's memory, and decodes to views of the input.
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
 * Builds one aggregated record at a time, writing each user record into the record's memory as it is
 * added (strings are encoded straight into it), so an event's bytes are written once. Records come
 * before the partition key table, which `build` appends: protobuf readers take fields in any order.
 */
export class AggregateBuilder {
  private buffer: Buffer | undefined;
  /** Where the next user record goes. */
  private at = KPL_MAGIC.length;
  private readonly keys = new Map<string, number>();
  private readonly keyBytes: Buffer[] = [];
  private keyTableBytes = 0;
  private records = 0;

  /**
   * `capacity`: memory reserved per aggregate; a larger record still fits (the memory grows).
   * `allocate`: where that memory comes from, e.g. a pool of buffers the caller recycles once an
   * aggregate is sent (default: a new buffer each time).
   */
  constructor(
    private readonly capacity = DEFAULT_AGGREGATE_BYTES,
    private readonly allocate: (bytes: number) => Buffer = Buffer.allocUnsafeSlow,
  ) {}

  get count(): number {
    return this.records;
  }

  /** Bytes of the aggregated record `build()` would return now. */
  get size(): number {
    return this.at + this.keyTableBytes + CHECKSUM_BYTES;
  }

  /** Bytes adding a record with this key and `dataBytes` of data would add. */
  sizeOf(partitionKey: string, dataBytes: number): number {
    let index = this.keys.get(partitionKey);
    let keyBytes = 0;
    if (index === undefined) {
      index = this.keys.size;
      const keyLength = Buffer.byteLength(partitionKey, 'utf8');
      keyBytes = 1 + varintBytes(keyLength) + keyLength;
    }
    const inner = 1 + varintBytes(index) + 1 + varintBytes(dataBytes) + dataBytes;
    return keyBytes + 1 + varintBytes(inner) + inner;
  }

  /** Appends a user record: bytes, or a string and its UTF-8 length. */
  add(partitionKey: string, data: Uint8Array | string, dataBytes = byteLengthOf(data)): void {
    let index = this.keys.get(partitionKey);
    if (index === undefined) {
      index = this.keys.size;
      const key = Buffer.from(partitionKey, 'utf8');
      this.keys.set(partitionKey, index);
      this.keyBytes.push(key);
      this.keyTableBytes += 1 + varintBytes(key.length) + key.length;
    }
    const inner = 1 + varintBytes(index) + 1 + varintBytes(dataBytes) + dataBytes;
    const buffer = this.reserve(1 + varintBytes(inner) + inner + this.keyTableBytes + CHECKSUM_BYTES);
    let at = this.at;
    buffer[at++] = 0x1a; // field 3, length-delimited: one Record
    at = writeVarint(buffer, at, inner);
    buffer[at++] = 0x08; // Record field 1, varint
    at = writeVarint(buffer, at, index);
    buffer[at++] = 0x1a; // Record field 3, length-delimited
    at = writeVarint(buffer, at, dataBytes);
    if (typeof data === 'string') {
      const written = buffer.write(data, at, 'utf8');
      if (written !== dataBytes) throw new KplFormatError(`data is ${written} bytes, not ${dataBytes}`);
    } else buffer.set(data, at);
    this.at = at + dataBytes;
    this.records++;
  }

  /** The aggregated record's bytes; the builder starts a new, empty one (the bytes are the caller's). */
  build(): Buffer {
    const buffer = this.reserve(this.keyTableBytes + CHECKSUM_BYTES);
    let at = this.at;
    for (const key of this.keyBytes) {
      buffer[at++] = 0x0a; // field 1, length-delimited: a partition key
      at = writeVarint(buffer, at, key.length);
      buffer.set(key, at);
      at += key.length;
    }
    buffer.set(createHash('md5').update(buffer.subarray(KPL_MAGIC.length, at)).digest(), at);
    const built = buffer.subarray(0, at + CHECKSUM_BYTES);
    this.buffer = undefined;
    this.at = KPL_MAGIC.length;
    this.keys.clear();
    this.keyBytes.length = 0;
    this.keyTableBytes = 0;
    this.records = 0;
    return built;
  }

  /** The record's memory, with room for `bytes` more after the records written so far. */
  private reserve(bytes: number): Buffer {
    const needed = this.at + bytes;
    let buffer = this.buffer;
    if (buffer && buffer.length >= needed) return buffer;
    const grown = this.allocate(Math.max(this.capacity, needed));
    if (buffer) buffer.copy(grown, 0, 0, this.at);
    else grown.set(KPL_MAGIC, 0);
    this.buffer = grown;
    buffer = grown;
    return buffer;
  }
}

function byteLengthOf(data: Uint8Array | string): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[at++] = value;
  return at;
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

/**
 * The events a Kinesis record carries: the user records of a KPL aggregate, or the record itself (with
 * its own partition key). Throws KplFormatError for a broken aggregate.
 */
export function userRecordsOf(data: Uint8Array, partitionKey: string): UserRecord[] {
  return isAggregated(data) ? deaggregate(data) : [{ partitionKey, data }];
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
