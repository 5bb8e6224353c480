/**
 * What the producer tests share: a kinesalite (and s3rver) on loopback with ephemeral ports, a reader
 * of everything in a stream, and small Kaggle-shaped CSVs built in the test.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import kinesalite from 'kinesalite';
import S3rver from 's3rver';
import { createKinesisClient, createS3Client } from '../../adapters/clients.ts';
import { listShards, readToTip, shardIterator } from '../../adapters/kinesis-shards.ts';
import { CSV_HEADER_LINE, toKaggleTime } from '../../core/event.ts';
import { userRecordsOf } from '../../core/kpl.ts';

export const STREAM = 'clickstream-events';

export interface TestKinesis {
  endpoint: string;
  kinesis: KinesisClient;
  stop(): Promise<void>;
}

export async function startKinesis(shards = 4, streamName = STREAM): Promise<TestKinesis> {
  const server: Server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 100,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kinesis = createKinesisClient({ endpoint, maxAttempts: 1 });
  await createStream(kinesis, streamName, shards);
  return {
    endpoint,
    kinesis,
    stop: async () => {
      kinesis.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function createStream(
  kinesis: KinesisClient,
  StreamName: string,
  ShardCount: number,
): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName, ShardCount }));
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface StreamRecord {
  shardId: string;
  /** The event's own partition key (inside an aggregate too). */
  partitionKey: string;
  body: Record<string, unknown>;
  text: string;
  arrivalMs: number;
  /** Sequence number of the Kinesis record that carried it (shared by the events of one aggregate). */
  sequenceNumber: string;
}

/** Every event in the stream, per shard in sequence order, KPL aggregates de-aggregated. */
export async function readStream(kinesis: KinesisClient, StreamName = STREAM): Promise<StreamRecord[]> {
  const records: StreamRecord[] = [];
  for (const shard of await listShards(kinesis, StreamName)) {
    const iterator = await shardIterator(kinesis, StreamName, shard.ShardId ?? '', { type: 'TRIM_HORIZON' });
    for await (const page of readToTip(kinesis, iterator)) {
      for (const record of page) {
        for (const event of userRecordsOf(record.Data ?? new Uint8Array(), record.PartitionKey ?? '')) {
          const text = Buffer.from(event.data).toString('utf8');
          records.push({
            shardId: shard.ShardId ?? '',
            partitionKey: event.partitionKey,
            body: JSON.parse(text) as Record<string, unknown>,
            text,
            arrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? 0,
            sequenceNumber: record.SequenceNumber ?? '',
          });
        }
      }
    }
  }
  return records;
}

export interface TestS3 {
  endpoint: string;
  s3: S3Client;
  stop(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<TestS3> {
  const directory = mkdtempSync(join(tmpdir(), 'producer-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = createS3Client({ endpoint });
  for (const Bucket of buckets) await s3.send(new CreateBucketCommand({ Bucket }));
  return {
    endpoint,
    s3,
    stop: async () => {
      s3.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function tempDir(prefix = 'producer-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RowSpec {
  timeMs?: number;
  type?: string;
  productId?: string;
  categoryId?: string;
  categoryCode?: string;
  brand?: string;
  price?: string;
  userId?: string;
  session?: string;
}

export const T0 = Date.UTC(2019, 9, 1, 0, 0, 0);

/** A valid Kaggle row, with overrides. */
export function row(i: number, spec: RowSpec = {}): string {
  return [
    toKaggleTime(spec.timeMs ?? T0 + i * 1000),
    spec.type ?? (['view', 'cart', 'purchase'] as const)[i % 3],
    spec.productId ?? String(1000000 + i),
    spec.categoryId ?? `20530135${String(55631882655 + (i % 37)).padStart(11, '0')}`,
    spec.categoryCode ?? (i % 3 === 0 ? '' : 'electronics.smartphone'),
    spec.brand ?? (i % 5 === 0 ? '' : 'apple'),
    spec.price ?? `${(i % 1000) + 0.99}`,
    spec.userId ?? String(500000000 + (i % 211)),
    spec.session ?? `session-${i % 97}`,
  ].join(',');
}

export function csv(rows: string[], eol = '\n'): string {
  return `${[CSV_HEADER_LINE, ...rows].join(eol)}${eol}`;
}

export function validRows(count: number, spec: (i: number) => RowSpec = () => ({})): string[] {
  return Array.from({ length: count }, (_, i) => row(i, spec(i)));
}
