/**
 * The local Firehose writes the layout the real delivery stream writes: Parquet under the EVENT date's
 * partition, Firehose-style object names, bad records under errors/ (counted, raw data kept), nothing
 * lost between the stream and the queryable lake.
 */
import { gunzipSync } from 'node:zlib';
import { CreateStreamCommand, PutRecordsCommand, waitUntilStreamExists } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalEngine } from '../../analytics/local-engine.ts';
import type { EventRecord } from '../../core/event.ts';
import { AggregateBuilder } from '../../core/kpl.ts';
import { startLocalFirehose } from '../../local/firehose.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { localConfig } from '../support/local-config.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: await localConfig({ eventsShards: '3' }),
  });
});
afterAll(async () => {
  await stack?.stop();
});

function event(i: number, day: number): EventRecord {
  return {
    event_time: `2019-10-0${day}T${String(i % 24).padStart(2, '0')}:00:${String(i % 60).padStart(2, '0')}Z`,
    event_type: i % 10 === 0 ? 'purchase' : 'view',
    product_id: String(1000 + i),
    category_id: String(2053013555631882655n + BigInt(i % 7)),
    category_code: i % 3 === 0 ? null : 'electronics.smartphone',
    brand: 'samsung',
    price: i / 4,
    user_id: String(500000000 + (i % 97)),
    user_session: `session-${i % 31}`,
    event_id: `test${day}x${i}`,
    replayed_at: new Date().toISOString(),
  };
}

async function put(stream: string, bodies: Array<string | Uint8Array>): Promise<void> {
  for (let i = 0; i < bodies.length; i += 500) {
    const result = await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: bodies
          .slice(i, i + 500)
          .map((body, j) => ({ PartitionKey: String(i + j), Data: Buffer.from(body) })),
      }),
    );
    expect(result.FailedRecordCount ?? 0).toBe(0);
  }
}

async function keys(prefix: string): Promise<Array<{ key: string; size: number }>> {
  const page = await stack.s3.send(
    new ListObjectsV2Command({ Bucket: stack.names.lakeBucket, Prefix: prefix, MaxKeys: 1000 }),
  );
  return (page.Contents ?? []).map((o) => ({ key: o.Key ?? '', size: o.Size ?? 0 }));
}

describe('local Firehose', () => {
  it('writes each event under its event date, KPL aggregates de-aggregated, loses none, and sends bad records to errors/', async () => {
    const perDay = { 1: 1500, 2: 300, 3: 7 } as const;
    const good = Object.entries(perDay).flatMap(([day, n]) =>
      Array.from({ length: n }, (_, i) => JSON.stringify(event(i, Number(day)))),
    );
    const bad = [
      'not json at all',
      JSON.stringify({ ...event(1, 1), event_time: 'yesterday' }),
      JSON.stringify({ ...event(2, 1), price: 'cheap' }),
    ];
    const firehose = await startLocalFirehose({
      kinesis: stack.kinesis,
      s3: stack.s3,
      streamName: stack.names.eventsStream,
      bucket: stack.names.lakeBucket,
      table: 'events',
      bufferBytes: 64 * 1024,
      bufferMs: 60_000,
      pollMs: 20,
    });
    // Part of the events arrive KPL-aggregated, as the producer sends them; Firehose de-aggregates them.
    const aggregate = new AggregateBuilder();
    for (const body of good.slice(900, 1_150)) aggregate.add('2053013555631882655', Buffer.from(body));
    const aggregated = aggregate.build();
    const corrupt = Buffer.from(aggregated);
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
    await put(stack.names.eventsStream, [
      ...good.slice(0, 900),
      ...bad,
      aggregated,
      ...good.slice(1_150),
      corrupt,
    ]);
    // flush() reads every shard to its tip first, so nothing put before it is left behind.
    await firehose.flush();
    await firehose.stop();
    expect(firehose.stats()).toMatchObject({
      received: good.length + bad.length + 1,
      records: good.length,
      errors: 4,
    });

    const lake = await keys('events/');
    const name =
      /^events\/dt=(\d{4}-\d{2}-\d{2})\/clickstream-events-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.parquet$/;
    for (const { key } of lake) expect(key).toMatch(name);
    // Event dates, not the arrival date (today).
    expect([...new Set(lake.map(({ key }) => name.exec(key)?.[1]))].sort()).toEqual([
      '2019-10-01',
      '2019-10-02',
      '2019-10-03',
    ]);
    // 1500 records of ~330 bytes exceed the 64 KiB buffer several times.
    expect(lake.filter(({ key }) => key.includes('dt=2019-10-01/')).length).toBeGreaterThan(3);

    const errorKeys = await keys('errors/');
    const types = errorKeys.map(
      ({ key }) =>
        /^errors\/events\/([a-z-]+)\/\d{4}\/\d{2}\/\d{2}\/clickstream-events-1-.*\.gz$/.exec(key)?.[1],
    );
    expect([...new Set(types)].sort()).toEqual(['format-conversion-failed', 'partitioning-failed']);
    const lines: Array<{ rawData: string; errorCode: string }> = [];
    for (const { key } of errorKeys) {
      const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.names.lakeBucket, Key: key }));
      const text = gunzipSync(await (object.Body?.transformToByteArray() ?? new Uint8Array())).toString(
        'utf8',
      );
      lines.push(
        ...text
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      );
    }
    // The broken aggregate is kept whole: none of its events can be read.
    const deaggregationFailed = lines.filter((l) => l.errorCode === 'Kinesis.DeaggregationFailed');
    expect(deaggregationFailed.map((l) => Buffer.from(l.rawData, 'base64').equals(corrupt))).toEqual([true]);
    expect(
      lines
        .filter((l) => l.errorCode !== 'Kinesis.DeaggregationFailed')
        .map((l) => Buffer.from(l.rawData, 'base64').toString('utf8'))
        .sort(),
    ).toEqual([...bad].sort());

    const engine = await openLocalEngine({ s3: stack.s3, names: stack.names });
    try {
      const result = await engine.query(
        'SELECT dt, count(*) AS n, sum(price) AS total FROM events GROUP BY dt ORDER BY dt',
      );
      expect(result.rows.map((r) => [r.dt, r.n])).toEqual([
        ['2019-10-01', 1500],
        ['2019-10-02', 300],
        ['2019-10-03', 7],
      ]);
      const sumOf = (n: number) => Array.from({ length: n }, (_, i) => i / 4).reduce((a, b) => a + b, 0);
      expect(result.rows[1]?.total).toBeCloseTo(sumOf(300), 6);
    } finally {
      await engine.close();
    }
  });

  it('stops reading while its writes are behind, then catches up without losing a record', async () => {
    const streamName = 'clickstream-firehose-backpressure';
    await stack.kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
    await waitUntilStreamExists({ client: stack.kinesis, maxWaitTime: 30 }, { StreamName: streamName });
    // S3 that holds every PutObject until released: the writes fall behind the reads.
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowS3 = { send: (command: never) => released.then(() => stack.s3.send(command)) } as S3Client;
    // 400 records of ~330 bytes, in one PutRecords call: the reader's first page holds them all, and
    // they fill eight 16 KiB buffers, more than the writes may have queued before the reader waits.
    const first = Array.from({ length: 400 }, (_, i) => JSON.stringify(event(i, 4)));
    const second = Array.from({ length: 400 }, (_, i) => JSON.stringify(event(400 + i, 4)));
    await put(streamName, first);
    const firehose = await startLocalFirehose({
      kinesis: stack.kinesis,
      s3: slowS3,
      streamName,
      bucket: stack.names.lakeBucket,
      table: 'events',
      prefix: 'backpressure/dt=!{partitionKeyFromQuery:dt}/',
      bufferBytes: 16 * 1024,
      bufferMs: 60_000,
      pollMs: 20,
    });
    while (firehose.stats().received < first.length) await new Promise((resolve) => setTimeout(resolve, 20));
    // What is put now stays in the stream while the writes are behind.
    await put(streamName, second);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(firehose.stats()).toMatchObject({ received: first.length, records: 0, objects: 0 });

    release();
    await firehose.flush();
    await firehose.stop();
    expect(firehose.stats()).toMatchObject({ received: 800, records: 800, errors: 0 });
    // Every buffer became an object of its own, many more than were ever queued at once.
    expect((await keys('backpressure/')).length).toBe(firehose.stats().objects);
    expect(firehose.stats().objects).toBeGreaterThan(8);
  });

  it('writes a partial buffer once its time is up, without flush()', async () => {
    const firehose = await startLocalFirehose({
      kinesis: stack.kinesis,
      s3: stack.s3,
      streamName: stack.names.userActivityStream,
      bucket: stack.names.lakeBucket,
      table: 'user_activity',
      bufferMs: 100,
      pollMs: 20,
    });
    const partial = {
      user_id: '1',
      window_start: '2019-11-02T10:00:00Z',
      window_seconds: 60,
      contribution_id: 'c1',
      view_ids: ['e1'],
      cart_ids: [],
      remove_from_cart_ids: [],
      purchases: [],
      sessions: ['s'],
      products: ['p'],
      first_event_time: '2019-11-02T10:00:05Z',
      last_event_time: '2019-11-02T10:00:05Z',
    };
    await put(stack.names.userActivityStream, [JSON.stringify(partial)]);
    while (firehose.stats().objects === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await firehose.stop();
    expect(firehose.stats()).toMatchObject({ records: 1, objects: 1, errors: 0 });
    expect((await keys('user_activity/')).map(({ key }) => key.split('/')[1])).toEqual(['dt=2019-11-02']);
  });
});
