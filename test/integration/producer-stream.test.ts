import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../adapters/clients.ts';
import { startKinesisChaosProxy } from '../../local/kinesis-chaos-proxy.ts';
import { ProducerError } from '../../producer/errors.ts';
import { replayToStream } from '../../producer/replay.ts';
import { ShardRateLimiter } from '../../producer/shards.ts';
import {
  createStream,
  csv,
  readStream,
  row,
  STREAM,
  startKinesis,
  startS3,
  T0,
  type TestKinesis,
  tempDir,
  validRows,
} from '../support/producer-support.ts';

let kinesis: TestKinesis;
let dir: ReturnType<typeof tempDir>;
let streamSeq = 0;
let stream = STREAM;

beforeAll(async () => {
  kinesis = await startKinesis(4);
});
afterAll(() => kinesis.stop());
beforeEach(async () => {
  dir = tempDir();
  // A fresh stream per test keeps their records apart.
  stream = `events-${++streamSeq}`;
  await createStream(kinesis.kinesis, stream, 4);
});
afterEach(() => dir.remove());

function writeCsv(name: string, rows: string[]): string {
  const file = join(dir.path, name);
  writeFileSync(file, csv(rows));
  return file;
}

const files = () => ({ rejects: join(dir.path, 'rejects.csv'), failedOut: join(dir.path, 'failed.jsonl') });

describe('replay into Kinesis', () => {
  it('puts every event exactly once, typed, keeps order within a partition key, and counts exactly', async () => {
    const file = writeCsv('a.csv', [...validRows(2_400), row(9, { type: 'oops' })]);
    const summary = await replayToStream({
      kinesis: kinesis.kinesis,
      streamName: stream,
      source: file,
      ...files(),
    });
    expect(summary).toMatchObject({ read: 2_401, sent: 2_400, failed: 0, retried: 0, shards: 4 });
    expect(summary.rejected).toEqual({ total: 1, byReason: { unknown_event_type: 1 } });

    const records = await readStream(kinesis.kinesis, stream);
    expect(records).toHaveLength(2_400);
    const first = records.find((r) => r.body.product_id === '1000000');
    expect(first?.partitionKey).toBe('2053013555631882655');
    expect(first?.body).toMatchObject({
      event_time: '2019-10-01T00:00:00Z',
      event_type: 'view',
      category_id: '2053013555631882655',
      category_code: null,
      brand: null,
      price: 0.99,
      user_id: '500000000',
      user_session: 'session-0',
    });
    expect(typeof first?.body.replayed_at).toBe('string');
    // Order within each partition key is the file's order.
    const byKey = new Map<string, number[]>();
    for (const record of records) {
      const list = byKey.get(record.partitionKey) ?? [];
      list.push(Number(record.body.product_id));
      byKey.set(record.partitionKey, list);
    }
    for (const sequence of byKey.values()) expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
  });

  it('partitions by user_id when asked', async () => {
    const file = writeCsv('u.csv', validRows(50));
    await replayToStream({
      kinesis: kinesis.kinesis,
      streamName: stream,
      source: file,
      partitionKey: 'user_id',
      ...files(),
    });
    const records = await readStream(kinesis.kinesis, stream);
    expect(records.every((r) => r.partitionKey === r.body.user_id)).toBe(true);
  });

  it('fails with a one-line cause and a hint when the stream does not exist', async () => {
    const file = writeCsv('x.csv', validRows(3));
    const error = await replayToStream({
      kinesis: kinesis.kinesis,
      streamName: 'no-such-stream',
      source: file,
      ...files(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProducerError);
    expect((error as ProducerError).message).toBe('Kinesis stream no-such-stream not found');
    expect((error as ProducerError).hint).toBeTruthy();
  });

  it('paces at --speed 60: events 60 s apart in event time arrive about 1 s apart', async () => {
    const rows = validRows(3, (i) => ({ timeMs: T0 + i * 60_000 }));
    const file = writeCsv('paced.csv', rows);
    const started = Date.now();
    const summary = await replayToStream({
      kinesis: kinesis.kinesis,
      streamName: stream,
      source: file,
      speed: 60,
      ...files(),
    });
    expect(summary.sent).toBe(3);
    const sentAt = (await readStream(kinesis.kinesis, stream))
      .map((r) => Date.parse(r.body.replayed_at as string))
      .sort((a, b) => a - b);
    expect(sentAt[0]! - started).toBeLessThan(500);
    expect(sentAt[1]! - sentAt[0]!).toBeGreaterThanOrEqual(900);
    expect(sentAt[1]! - sentAt[0]!).toBeLessThan(1_300);
    expect(sentAt[2]! - sentAt[0]!).toBeGreaterThanOrEqual(1_900);
    expect(sentAt[2]! - sentAt[0]!).toBeLessThan(2_300);
  });
});

describe('failures', () => {
  const fast = { backoff: { baseMs: 1, maxMs: 5 } };

  it('resends failed KPL aggregates whole, each event counted once: every event lands exactly once', async () => {
    const proxy = await startKinesisChaosProxy({
      upstream: kinesis.endpoint,
      seed: 11,
      entryFailureRate: 0.5,
      failEveryNthCall: 3,
    });
    const client = createKinesisClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const file = writeCsv('aggregated.csv', validRows(3_000));
      // One aggregate a call: ~17 aggregates make enough calls for every 3rd to fail. An aggregate fails
      // a send with p = 1 − (2/3)(1/2) ≈ 0.67; 60 resends leave it failing with p ≈ 10⁻¹¹.
      const summary = await replayToStream({
        kinesis: client,
        streamName: stream,
        source: file,
        maxBatchRecords: 1,
        limiter: new ShardRateLimiter({ floorPerSecond: 2_000 }),
        maxRetries: 60,
        ...fast,
        ...files(),
      });
      expect(summary).toMatchObject({ read: 3_000, sent: 3_000, failed: 0, aggregated: true });
      expect(proxy.counters.failedEntries).toBeGreaterThan(0);
      expect(proxy.counters.failedCalls).toBeGreaterThan(0);
      // Every entry the proxy let through is one aggregate that landed.
      expect(proxy.counters.entries - proxy.counters.failedEntries).toBe(summary.records);
      // A resend counts the events of the aggregate: at least one per failed entry.
      expect(summary.retried).toBeGreaterThanOrEqual(proxy.counters.failedEntries);
      const records = await readStream(kinesis.kinesis, stream);
      const ids = records.map((r) => r.body.product_id as string);
      expect(ids).toHaveLength(3_000);
      expect(new Set(ids).size).toBe(3_000);
      expect(new Set(records.map((r) => r.sequenceNumber)).size).toBe(summary.records);
    } finally {
      client.destroy();
      await proxy.stop();
    }
  });

  it('resends only the failed entries of partial failures and 5xx calls: every event lands exactly once', async () => {
    const proxy = await startKinesisChaosProxy({
      upstream: kinesis.endpoint,
      seed: 7,
      entryFailureRate: 0.3,
      failEveryNthCall: 5,
    });
    const client = createKinesisClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const file = writeCsv('chaos.csv', validRows(3_000));
      // The proxy throttles a share of entries whatever the rate, so the limiter would sink to its
      // floor; a high floor keeps the test short while its state still shows the slow-down.
      const limiter = new ShardRateLimiter({ floorPerSecond: 2_000 });
      // A send fails here with p ≈ 1 − 0.8 × 0.7 = 0.44 (every 5th call, 30% of entries); with the default
      // 10 resends some of 3,000 records run out (0.44^11 × 3,000 ≈ 0.4 per run). 30 resends make that
      // ≈ 10⁻⁷: retries suffice.
      const summary = await replayToStream({
        kinesis: client,
        streamName: stream,
        source: file,
        // One record per event, so the proxy fails hundreds of entries of the 3,000.
        aggregate: false,
        limiter,
        maxRetries: 30,
        ...fast,
        ...files(),
      });
      expect(proxy.counters.failedEntries).toBeGreaterThan(500);
      expect(proxy.counters.failedCalls).toBeGreaterThan(0);
      expect(summary).toMatchObject({ read: 3_000, sent: 3_000, failed: 0 });
      // Every resend is one failed entry or one entry of a failed call.
      expect(summary.retried).toBeGreaterThanOrEqual(proxy.counters.failedEntries);
      const records = await readStream(kinesis.kinesis, stream);
      const ids = records.map((r) => r.body.product_id as string);
      expect(ids).toHaveLength(3_000);
      expect(new Set(ids).size).toBe(3_000);
      // Throttling slowed the shards it hit.
      const slowed = [0, 1, 2, 3].filter((shard) => limiter.limitOf(shard) !== undefined);
      expect(slowed.length).toBeGreaterThan(0);
      expect(existsSync(join(dir.path, 'failed.jsonl'))).toBe(false);
    } finally {
      client.destroy();
      await proxy.stop();
    }
  });

  it('writes what still fails after --max-retries to the failed-records file and counts it exactly', async () => {
    const proxy = await startKinesisChaosProxy({
      upstream: kinesis.endpoint,
      seed: 3,
      entryFailureRate: 1,
      shardIds: ['shardId-000000000001'],
    });
    const client = createKinesisClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const file = writeCsv('hot.csv', validRows(400));
      const summary = await replayToStream({
        kinesis: client,
        streamName: stream,
        source: file,
        maxRetries: 2,
        ...fast,
        ...files(),
      });
      const records = await readStream(kinesis.kinesis, stream);
      const failedLines = readFileSync(join(dir.path, 'failed.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(summary.failed).toBeGreaterThan(0);
      expect(summary.failed).toBe(failedLines.length);
      expect(summary.sent).toBe(records.length);
      expect(summary.read).toBe(400);
      expect(summary.sent + summary.failed).toBe(400);
      expect(summary.retried).toBe(2 * summary.failed);
      expect(records.every((r) => r.shardId !== 'shardId-000000000001')).toBe(true);
      const first = failedLines[0];
      expect(first.errorCode).toBe('ProvisionedThroughputExceededException');
      expect(first.errorMessage).toMatch(/^Rate exceeded for shard shardId-000000000001 in stream /);
      expect(first.record.product_id).toBe(String(1_000_000 + first.line - 2));
      // Together, the stream and the failed file hold every event exactly once.
      const all = [...records.map((r) => r.body.product_id), ...failedLines.map((l) => l.record.product_id)];
      expect(new Set(all).size).toBe(400);
      // And so do the byte counts: each failed row's bytes under failed, the rest under sent.
      const rows = validRows(400);
      const bytesOfRows = (lines: readonly number[]) =>
        lines.reduce((sum, line) => sum + Buffer.byteLength(rows[line - 2] as string) + 1, 0);
      const failedBytes = bytesOfRows(failedLines.map((l) => l.line as number));
      expect(summary.bytes).toEqual({
        source: Buffer.byteLength(csv(rows)),
        header: Buffer.byteLength(csv([])),
        sent: bytesOfRows(rows.map((_, i) => i + 2)) - failedBytes,
        rejected: 0,
        failed: failedBytes,
        skipped: 0,
        blank: 0,
        earlier: 0,
        unread: 0,
        addsUp: true,
      });
    } finally {
      client.destroy();
      await proxy.stop();
    }
  });
});

describe('sources', () => {
  it('streams a gzip object out of S3 and puts rejects under rejects/ in the bucket', async () => {
    const s3 = await startS3(['raw']);
    try {
      const body = gzipSync(csv([...validRows(700), row(1, { userId: '' })]));
      await s3.s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'data/2019-Oct.csv.gz', Body: body }));
      const { s3RejectSink } = await import('../../producer/rejects.ts');
      const summary = await replayToStream({
        kinesis: kinesis.kinesis,
        s3: s3.s3,
        streamName: stream,
        source: 's3://raw/data/2019-Oct.csv.gz',
        rejects: s3RejectSink({
          s3: s3.s3,
          bucket: 'raw',
          key: 'rejects/2019-Oct.rejects.csv',
          spoolPath: join(dir.path, 'spool.csv'),
        }),
        failedOut: join(dir.path, 'failed.jsonl'),
      });
      expect(summary).toMatchObject({
        read: 701,
        sent: 700,
        rejected: { total: 1, byReason: { empty_user_id: 1 } },
      });
      expect(summary.rejectsFile).toBe('s3://raw/rejects/2019-Oct.rejects.csv');
      expect(await readStream(kinesis.kinesis, stream)).toHaveLength(700);
      const object = await s3.s3.send(
        new GetObjectCommand({ Bucket: 'raw', Key: 'rejects/2019-Oct.rejects.csv' }),
      );
      const rejects = parse(await object.Body!.transformToString(), { columns: true }) as Array<{
        line: string;
        reason: string;
      }>;
      expect(rejects).toEqual([expect.objectContaining({ line: '702', reason: 'empty_user_id' })]);

      const missing = await replayToStream({
        kinesis: kinesis.kinesis,
        s3: s3.s3,
        streamName: stream,
        source: 's3://raw/nope.csv',
        ...files(),
      }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ProducerError);
      expect((missing as ProducerError).message).toBe('object not found: s3://raw/nope.csv');
    } finally {
      await s3.stop();
    }
  });

  const kaggle = resolve(
    import.meta.dirname,
    '..',
    '..',
    '..',
    'shared',
    'data',
    'kaggle-2019-oct-nov-heads.csv',
  );
  it.skipIf(!existsSync(kaggle))('replays the real Kaggle sample with every row accounted for', async () => {
    const summary = await replayToStream({
      kinesis: kinesis.kinesis,
      streamName: stream,
      source: kaggle,
      ...files(),
    });
    expect(summary.read).toBe(18_117);
    expect(summary.sent + summary.rejected.total).toBe(18_117);
    expect(summary.failed).toBe(0);
    const fileCounts: Record<string, number> = {};
    for (const fields of parse(readFileSync(kaggle), {
      from_line: 2,
      record_delimiter: ['\r\n', '\n'],
    }) as string[][]) {
      const type = fields[1] as string;
      fileCounts[type] = (fileCounts[type] ?? 0) + 1;
    }
    const streamCounts: Record<string, number> = {};
    const records = await readStream(kinesis.kinesis, stream);
    for (const record of records) {
      const type = record.body.event_type as string;
      streamCounts[type] = (streamCounts[type] ?? 0) + 1;
    }
    expect(records).toHaveLength(summary.sent);
    expect(summary.rejected.total).toBe(0);
    expect(streamCounts).toEqual(fileCounts);
    // 19-digit category ids survive exactly.
    expect(records.some((r) => r.body.category_id === '2053013555631882655')).toBe(true);
  });
});
