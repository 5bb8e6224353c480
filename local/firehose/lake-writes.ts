/**
 * Writing the buffers to S3, one object at a time: a partition's rows as one Parquet object under its
 * `dt=` prefix, or the rejected records as gzipped JSON lines under the error prefix. Writes run one at
 * a time: they share one DuckDB connection, and order keeps the stats exact.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorPrefix, type LakeLayout, objectKey } from '../../core/lake.ts';
import type { ParquetWriter } from './parquet-writer.ts';
import type { PartitionBuffer } from './partitions.ts';

export class LocalFirehoseError extends Error {
  override name = 'LocalFirehoseError';
}

export interface LakeWrites {
  /** Queues the write of a buffer taken out of the partitions; resolves when the queue reaches it. */
  enqueue(buffer: PartitionBuffer | undefined): Promise<void>;
  /**
   * Resolves once at most `writes` buffers wait to be written: the readers wait on it before each read,
   * so that reading never runs more than a few buffers ahead of writing and the rows waiting stay
   * bounded however large the stream (Firehose, too, reads at the pace it delivers).
   */
  caughtUp(writes: number): Promise<void>;
  /** Waits for every queued write; throws the delivery's first failure, if any. */
  settle(): Promise<void>;
  /** Records a failure met elsewhere in the delivery (a shard reader's), for settle() to report. */
  fail(error: unknown): void;
}

export function createLakeWrites(settings: {
  s3: S3Client;
  bucket: string;
  streamName: string;
  deliveryStreamName: string;
  layout: LakeLayout;
  fileExtension: string;
  writer: ParquetWriter;
  stats: { records: number; objects: number; errors: number; bytes: number };
}): LakeWrites {
  const { s3, bucket, layout, stats } = settings;
  let failure: unknown;
  let writing: Promise<void> = Promise.resolve();
  let queued = 0;
  const waiters: Array<{ writes: number; resolve: () => void }> = [];
  function written(): void {
    queued--;
    for (const waiter of waiters.filter((w) => queued <= w.writes)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  async function write(buffer: PartitionBuffer): Promise<void> {
    const now = Date.now();
    let key: string;
    let body: Uint8Array;
    if (buffer.kind === 'lake') {
      key = objectKey(buffer.prefix, settings.deliveryStreamName, now, randomUUID(), settings.fileExtension);
      body = await settings.writer.write(layout.table, buffer.rows);
    } else {
      key = objectKey(
        errorPrefix(layout, buffer.kind, now),
        settings.deliveryStreamName,
        now,
        randomUUID(),
        '.gz',
      );
      body = gzipSync(buffer.errors.map((e) => `${JSON.stringify(e)}\n`).join(''));
    }
    await putWithRetry(key, body);
    stats.objects++;
    stats.bytes += body.length;
    if (buffer.kind === 'lake') stats.records += buffer.rows.length;
    else stats.errors += buffer.errors.length;
  }

  async function putWithRetry(key: string, body: Uint8Array): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        return;
      } catch (error) {
        // Firehose retries S3 delivery; locally a few attempts cover a busy emulator.
        if (attempt >= 4)
          throw new LocalFirehoseError(`could not write s3://${bucket}/${key}`, { cause: error });
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  return {
    enqueue(buffer) {
      if (!buffer) return writing;
      queued++;
      writing = writing
        .then(() => write(buffer))
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(written);
      return writing;
    },
    caughtUp(writes) {
      if (queued <= writes) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ writes, resolve }));
    },
    async settle() {
      await writing;
      if (failure)
        throw new LocalFirehoseError(`local Firehose for ${settings.streamName} failed`, { cause: failure });
    },
    fail(error) {
      failure ??= error;
    },
  };
}
