/**
 * Firehose's buffers, one per partition: each record read is de-aggregated (KPL), parsed, given its
 * `dt` partition and conformed to the table, or sent to the error prefix's buffer with the error code
 * Firehose reports for it. A buffer that reaches the size limit is handed on at once.
 */
import type { _Record } from '@aws-sdk/client-kinesis';
import { type UserRecord, userRecordsOf } from '../../core/kpl.ts';
import {
  type FirehoseErrorRecord,
  type FirehoseErrorType,
  type LakeLayout,
  partitionOf,
  partitionPrefix,
} from '../../core/lake.ts';
import { conformRow, type LakeValue, RowConformError } from '../../core/tables.ts';

export interface PartitionBuffer {
  kind: 'lake' | FirehoseErrorType;
  prefix: string;
  rows: Array<Record<string, LakeValue>>;
  errors: FirehoseErrorRecord[];
  bytes: number;
  firstAt: number;
}

export interface PartitionBuffers {
  /** Buffers what a Kinesis record holds; counts each event of it as received. */
  accept(record: _Record): void;
  /** Takes the buffer out of the map now, so records arriving meanwhile start a new one. */
  take(key: string): PartitionBuffer | undefined;
  /** Every partition with a buffer, in the order they were opened. */
  keys(): string[];
  /** The partitions whose first record came `bufferMs` or longer before `now`. */
  dueKeys(now: number, bufferMs: number): string[];
}

export function createPartitionBuffers(settings: {
  layout: LakeLayout;
  bufferBytes: number;
  stats: { received: number };
  /** A buffer reached `bufferBytes`: the caller takes and writes it. */
  onFull(key: string): void;
}): PartitionBuffers {
  const { layout, stats } = settings;
  const buffers = new Map<string, PartitionBuffer>();

  function accept(record: _Record): void {
    const data = Buffer.from(record.Data ?? new Uint8Array());
    const arrival = record.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
    // Firehose de-aggregates KPL records from a Kinesis source before anything else sees them.
    let events: UserRecord[];
    try {
      events = userRecordsOf(data, record.PartitionKey ?? '');
    } catch (error) {
      stats.received++;
      const message = error instanceof Error ? error.message : String(error);
      reject(data, arrival, 'partitioning-failed', 'Kinesis.DeaggregationFailed', message);
      return;
    }
    for (const event of events)
      acceptOne(Buffer.from(event.data.buffer, event.data.byteOffset, event.data.length), arrival);
  }

  function acceptOne(data: Buffer, arrival: number): void {
    stats.received++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      reject(
        data,
        arrival,
        'partitioning-failed',
        'DynamicPartitioning.MetadataExtractionFailed',
        'not JSON',
      );
      return;
    }
    const dt = partitionOf(layout, parsed);
    if (dt === undefined) {
      reject(
        data,
        arrival,
        'partitioning-failed',
        'DynamicPartitioning.MetadataExtractionFailed',
        `no date in ${layout.partitionField}`,
      );
      return;
    }
    let row: Record<string, LakeValue>;
    try {
      row = conformRow(layout.table, parsed);
    } catch (error) {
      if (!(error instanceof RowConformError)) throw error;
      reject(data, arrival, 'format-conversion-failed', 'DataFormatConversion.InvalidSchema', error.message);
      return;
    }
    const key = `lake/${dt}`;
    const buffer = bufferFor(key, 'lake', partitionPrefix(layout, dt));
    buffer.rows.push(row);
    add(key, buffer, data.length);
  }

  function reject(
    data: Buffer,
    arrival: number,
    type: FirehoseErrorType,
    errorCode: string,
    message: string,
  ): void {
    const key = `error/${type}`;
    const buffer = bufferFor(key, type, '');
    buffer.errors.push({
      attemptsMade: 1,
      arrivalTimestamp: arrival,
      errorCode,
      errorMessage: message,
      rawData: data.toString('base64'),
    });
    add(key, buffer, data.length);
  }

  function bufferFor(key: string, kind: PartitionBuffer['kind'], prefix: string): PartitionBuffer {
    let buffer = buffers.get(key);
    if (!buffer) {
      buffer = { kind, prefix, rows: [], errors: [], bytes: 0, firstAt: Date.now() };
      buffers.set(key, buffer);
    }
    return buffer;
  }

  function add(key: string, buffer: PartitionBuffer, bytes: number): void {
    buffer.bytes += bytes;
    if (buffer.bytes >= settings.bufferBytes) settings.onFull(key);
  }

  return {
    accept,
    take(key) {
      const buffer = buffers.get(key);
      buffers.delete(key);
      return buffer;
    },
    keys: () => [...buffers.keys()],
    dueKeys: (now, bufferMs) =>
      [...buffers].filter(([, buffer]) => now - buffer.firstAt >= bufferMs).map(([key]) => key),
  };
}
