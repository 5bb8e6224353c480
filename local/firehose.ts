/**
 * Local stand-in for a Firehose delivery stream with a Kinesis source: reads every shard of a stream
 * from TRIM_HORIZON, buffers by size or time per partition, and writes the lake layout of core/lake.ts
 * (Parquet, dt = event date) to local S3, so the local engine queries what Athena would in AWS.
 * Records Firehose could not partition or convert go to the error prefix as JSON lines, counted.
 *
 * It reads as Firehose does: one GetRecords call a second per shard ("Firehose calls the Kinesis Data
 * Streams GetRecords operation once per second for each shard", and each call "counts against the
 * overall throttling limit for the shard"; https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html),
 * at once again only while calls come back full. A throttled call is waited out and made again from
 * the same iterator: Firehose falls behind (its ThrottledGetRecords metric climbs, data freshness
 * grows; https://docs.aws.amazon.com/firehose/latest/dev/troubleshooting.html) and loses nothing.
 *
 * The parts, in local/firehose/: shard-readers.ts (the reads), partitions.ts (buffers per partition and
 * the error prefix), lake-writes.ts (the S3 objects, one at a time), parquet-writer.ts (the Parquet files).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { listShards } from '../adapters/kinesis-shards.ts';
import { LAKE_FILE_EXTENSION, LAKE_LAYOUTS, LOCAL_BUFFERING } from '../core/lake.ts';
import type { LakeTableName } from '../core/tables.ts';
import { createLakeWrites } from './firehose/lake-writes.ts';
import { openParquetWriter } from './firehose/parquet-writer.ts';
import { createPartitionBuffers } from './firehose/partitions.ts';
import { startShardReaders } from './firehose/shard-readers.ts';

export { LocalFirehoseError } from './firehose/lake-writes.ts';
export { openParquetWriter, type ParquetWriter } from './firehose/parquet-writer.ts';

export interface LocalFirehoseOptions {
  kinesis: KinesisClient;
  s3: S3Client;
  streamName: string;
  bucket: string;
  table: LakeTableName;
  /** Flush a partition's buffer at this size (default 1 MiB). */
  bufferBytes?: number;
  /** Flush a partition's buffer this long after its first record (default 5 s). */
  bufferMs?: number;
  /**
   * Least time between the starts of two GetRecords calls on a shard, unless the last one came back
   * full (default 1000 ms, as Firehose; a shard serves 5 calls/s to all its readers together).
   */
  pollMs?: number;
  /** Name in the object keys, as Firehose uses its delivery stream's name (default: the stream name). */
  deliveryStreamName?: string;
  /**
   * The delivery's S3 layout as its template gives it (default: the table's layout in core/lake.ts):
   * data and error prefixes, the field the `{key: .field[0:10]}` partition query reads, the extension.
   */
  prefix?: string;
  errorOutputPrefix?: string;
  partitionField?: string;
  fileExtension?: string;
  /** Where its temp files go (default the system's temp directory); the local stack's own, in a pipeline. */
  tempDirectory?: string;
}

export interface LocalFirehoseStats {
  /** Records read from the stream, each event of a KPL aggregated record counted (Firehose de-aggregates them). */
  received: number;
  /** Records written to the lake. */
  records: number;
  /** Objects written (lake and error prefix). */
  objects: number;
  /** Records written to the error prefix. */
  errors: number;
  /** Bytes of the objects written. */
  bytes: number;
  /** GetRecords calls Kinesis throttled (each waited out and made again; nothing lost). */
  readThrottles: number;
}

export interface LocalFirehose {
  stats(): LocalFirehoseStats;
  /** Reads every shard up to its current tip, then writes everything buffered. */
  flush(): Promise<void>;
  /** Stops reading, then flushes. */
  stop(): Promise<void>;
}

/**
 * Buffers taken out and waiting for their write before the readers pause: the writes (DuckDB's
 * Parquet, then S3) are slower than the reads, and without a bound the rows waiting grew with the
 * stream (214,000 rows, most of the consumers' process's heap, 760,000 events into a 1M demo).
 */
const MAX_QUEUED_WRITES = 4;

export async function startLocalFirehose(options: LocalFirehoseOptions): Promise<LocalFirehose> {
  const layout = {
    ...LAKE_LAYOUTS[options.table],
    ...(options.prefix ? { prefixTemplate: options.prefix } : {}),
    ...(options.errorOutputPrefix ? { errorPrefixTemplate: options.errorOutputPrefix } : {}),
    ...(options.partitionField ? { partitionField: options.partitionField } : {}),
  };
  const bufferMs = options.bufferMs ?? LOCAL_BUFFERING.ms;
  const stats: LocalFirehoseStats = {
    received: 0,
    records: 0,
    objects: 0,
    errors: 0,
    bytes: 0,
    readThrottles: 0,
  };
  const writer = await openParquetWriter(options.tempDirectory);
  const writes = createLakeWrites({
    s3: options.s3,
    bucket: options.bucket,
    streamName: options.streamName,
    deliveryStreamName: options.deliveryStreamName ?? options.streamName,
    layout,
    fileExtension: options.fileExtension ?? LAKE_FILE_EXTENSION,
    writer,
    stats,
  });

  const partitions = createPartitionBuffers({
    layout,
    bufferBytes: options.bufferBytes ?? LOCAL_BUFFERING.bytes,
    stats,
    onFull: (key) => void writeOut(key),
  });
  /** Takes the partition's buffer out now (records arriving meanwhile start a new one) and queues its write. */
  const writeOut = (key: string) => writes.enqueue(partitions.take(key));

  const shardIds = (await listShards(options.kinesis, options.streamName)).map((s) => s.ShardId as string);
  const readers = startShardReaders({
    kinesis: options.kinesis,
    streamName: options.streamName,
    shardIds,
    pollMs: options.pollMs ?? 1_000,
    accept: (record) => partitions.accept(record),
    ready: () => writes.caughtUp(MAX_QUEUED_WRITES),
    throttled: () => {
      stats.readThrottles++;
    },
    fail: (error) => writes.fail(error),
  });

  const timer = setInterval(
    () => {
      for (const key of partitions.dueKeys(Date.now(), bufferMs)) void writeOut(key);
    },
    Math.max(20, Math.min(bufferMs, 250)),
  );
  timer.unref();

  async function writeAll(): Promise<void> {
    for (const key of partitions.keys()) void writeOut(key);
    await writes.settle();
  }

  return {
    stats: () => ({ ...stats }),
    flush: async () => {
      await readers.readToTip();
      await writeAll();
    },
    stop: async () => {
      const readersDone = readers.stop();
      clearInterval(timer);
      await readersDone;
      try {
        await writeAll();
      } finally {
        await writer.close();
      }
    },
  };
}
