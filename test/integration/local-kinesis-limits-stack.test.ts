/**
 * The shard limits in the embedded stack, end to end: a replay of more than a second's write budget
 * into a one-shard events stream is throttled and resent by the producer, and the shard's two readers
 * (a function run by the local Lambda runner, and the local Firehose) share its read budget and wait
 * out what is throttled. Every event still arrives exactly once at each, and the stack reports what
 * its limits refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createKinesisClient } from '../../adapters/clients.ts';
import type { KinesisStreamRecord } from '../../consumers/kinesis-event.ts';
import { userRecordsOf } from '../../core/kpl.ts';
import { createSyntheticGenerator } from '../../core/synthetic.ts';
import { startLocalFirehose } from '../../local/firehose.ts';
import { createMemoryOnFailureDestination, startLambdaRunner } from '../../local/lambda-runner.ts';
import { startLocalStack } from '../../local/stack.ts';
import { replayToStream } from '../../producer/replay.ts';
import { localConfig } from '../support/local-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'clickstream-kinesis-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ~320 bytes an event: 12,000 events are ~3.7 MB, more than three seconds of one shard's 1 MiB/s.
const EVENTS = 12_000;

it('a replay over a one-shard stream’s write budget is throttled, resent and read by both readers of the shard, every event exactly once', async () => {
  const source = join(dir, 'events.csv');
  writeFileSync(
    source,
    [...createSyntheticGenerator({ events: EVENTS, bots: 0, seed: 5 }).chunks()].join(''),
  );
  const stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: await localConfig({ eventsShards: '1', userActivityShards: '1' }),
  });
  const producer = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  const readers = createKinesisClient({ endpoint: stack.endpoints.kinesis });
  const seen = new Map<string, number>();
  const onFailure = createMemoryOnFailureDestination();
  const count = (record: KinesisStreamRecord) => {
    const data = Buffer.from(record.kinesis.data, 'base64');
    for (const event of userRecordsOf(data, record.kinesis.partitionKey)) {
      const id = (JSON.parse(Buffer.from(event.data).toString('utf8')) as { event_id: string }).event_id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  };
  const runner = await startLambdaRunner({
    kinesis: readers,
    streamName: stack.names.eventsStream,
    handler: async (event) => {
      for (const record of event.Records) count(record);
      return {};
    },
    batchSize: 100,
    onFailure,
  });
  const lake = await startLocalFirehose({
    kinesis: readers,
    s3: stack.s3,
    streamName: stack.names.eventsStream,
    bucket: stack.names.lakeBucket,
    table: 'events',
    tempDirectory: stack.tempDirectory,
  });
  try {
    const replay = await replayToStream({
      kinesis: producer,
      streamName: stack.names.eventsStream,
      source,
      // The whole source in one call: its first MiB is all the shard takes, whatever the pace.
      window: EVENTS * 2,
      maxBatchBytes: 5 * 1024 * 1024,
      rejects: join(dir, 'rejects.csv'),
      failedOut: join(dir, 'failed.jsonl'),
    });
    expect(replay).toMatchObject({ read: EVENTS, sent: EVENTS, failed: 0 });
    expect(replay.throttled).toBeGreaterThan(0);
    await runner.drain();
    await lake.flush();

    expect(seen.size).toBe(EVENTS);
    expect([...seen.values()].every((times) => times === 1)).toBe(true);
    expect(onFailure.records).toEqual([]);
    expect(lake.stats()).toMatchObject({ received: EVENTS, records: EVENTS, errors: 0 });

    // What the shard refused, each refusal resent by the producer until it landed.
    const throttles = await stack.kinesisThrottles();
    expect(throttles?.[stack.names.eventsStream]?.writes).toBeGreaterThan(0);
    expect(replay.retried).toBeGreaterThan(0);
  } finally {
    await runner.stop();
    await lake.stop();
    producer.destroy();
    readers.destroy();
    await stack.stop();
  }
});
