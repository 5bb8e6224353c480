/**
 * Where malformed stream records go. The aggregator writes them itself instead of failing the batch:
 * Lambda's on-failure destination only receives batch *metadata* (shard and sequence range, no record
 * data) and only after retries are exhausted
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html), so failing the
 * batch for a record that can never succeed would block the shard through every retry and still lose
 * the record's content. Keys are derived from the records, so a retried batch overwrites, not appends.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { MalformedReason } from '../core/window.ts';
import type { Logger } from './logger.ts';

/** Key prefix of the dead letters in the raw bucket; each consumer writes under `<prefix><consumer>/`. */
export const DEAD_LETTER_PREFIX = 'dead-letter/';

export interface MalformedRecord {
  reason: MalformedReason;
  detail: string;
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  approximateArrivalTimestamp: number;
  /** For an event inside a KPL aggregated record: its index there (the Kinesis sub-sequence number). */
  subSequenceNumber?: number;
  /** The record data exactly as received (base64); for an event inside an aggregate, that event's bytes. */
  data: string;
}

export interface DeadLetterSink {
  /** `key` is a relative path such as `window-aggregator/shardId-000000000000/<first>-<last>`. */
  write(key: string, records: readonly MalformedRecord[]): Promise<void>;
}

export function deadLetterKey(consumer: string, records: readonly MalformedRecord[]): string {
  const first = records[0];
  const last = records[records.length - 1];
  return `${consumer}/${first?.shardId ?? 'unknown'}/${first?.sequenceNumber ?? '0'}-${last?.sequenceNumber ?? '0'}`;
}

function toJsonl(records: readonly MalformedRecord[]): string {
  return `${records.map((record) => JSON.stringify(record)).join('\n')}\n`;
}

/** AWS: one JSONL object per batch under `s3://bucket/prefix…`. */
export function createS3DeadLetterSink(options: {
  s3: S3Client;
  bucket: string;
  prefix?: string;
}): DeadLetterSink {
  const prefix = options.prefix ?? DEAD_LETTER_PREFIX;
  return {
    async write(key, records) {
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: `${prefix}${key}.jsonl`,
          Body: toJsonl(records),
          ContentType: 'application/x-ndjson',
        }),
      );
    },
  };
}

/** Local runs: one JSONL file per batch under `directory`. */
export function createFileDeadLetterSink(directory: string): DeadLetterSink {
  return {
    async write(key, records) {
      const path = join(directory, `${key.replace(/[^A-Za-z0-9/_-]/g, '_')}.jsonl`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, toJsonl(records));
    },
  };
}

export interface MemoryDeadLetterSink extends DeadLetterSink {
  /** Every record written, once per key (a rewrite of a key replaces it, as S3 would). */
  records(): MalformedRecord[];
}

export function createMemoryDeadLetterSink(): MemoryDeadLetterSink {
  const byKey = new Map<string, readonly MalformedRecord[]>();
  return {
    async write(key, records) {
      byKey.set(key, [...records]);
    },
    records: () => [...byKey.values()].flat(),
  };
}

/** When no bucket is configured: the records go to the function's log, at error level. */
export function createLogDeadLetterSink(logger: Logger): DeadLetterSink {
  return {
    async write(key, records) {
      logger.error('malformed records', { deadLetterKey: key, records });
    },
  };
}
