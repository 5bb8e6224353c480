/**
 * The local event source mapping behaves as AWS documents:
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesisWindowEvent } from '../../consumers/kinesis-event.ts';
import { putAllRecords } from '../../consumers/put-records.ts';
import {
  createMemoryOnFailureDestination,
  type LambdaRunnerOptions,
  startLambdaRunner,
} from '../../local/lambda-runner.ts';
import { createStream, pagingListShards, startKinesis } from '../support/consumers-emulators.ts';

let kinesis: KinesisClient;
let stopKinesis: () => Promise<void>;
let streamCount = 0;

beforeAll(async () => {
  ({ kinesis, stop: stopKinesis } = await startKinesis());
});
afterAll(async () => stopKinesis());

/** A one-shard stream holding records '0'..'n-1'. */
async function streamWith(n: number): Promise<string> {
  const name = `runner-${++streamCount}`;
  await createStream(kinesis, name, 1);
  const entries = Array.from({ length: n }, (_, i) => ({ partitionKey: 'k', data: Buffer.from(String(i)) }));
  await putAllRecords(kinesis, name, entries);
  return name;
}

const bodies = (event: KinesisWindowEvent<unknown>) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());

async function run(
  n: number,
  handler: LambdaRunnerOptions['handler'],
  options: Partial<LambdaRunnerOptions> = {},
) {
  const streamName = await streamWith(n);
  const onFailure = createMemoryOnFailureDestination();
  const runner = await startLambdaRunner({
    kinesis,
    streamName,
    handler,
    onFailure,
    pollIntervalMs: 5,
    retryDelayMs: 0,
    ...options,
  });
  await runner.drain();
  await runner.stop();
  return { stats: runner.stats(), onFailure };
}

describe('local Lambda runner (Kinesis event source mapping)', () => {
  it('delivers BatchSize batches of real-shaped records in order (with-kinesis.html)', async () => {
    const seen: KinesisWindowEvent<unknown>[] = [];
    await run(25, async (event) => void seen.push(event), { batchSize: 10 });
    expect(seen.map((e) => e.Records.length)).toEqual([10, 10, 5]);
    expect(seen.flatMap(bodies)).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
    const record = seen[0]!.Records[0]!;
    expect(record).toMatchObject({
      eventSource: 'aws:kinesis',
      eventName: 'aws:kinesis:record',
      eventVersion: '1.0',
      awsRegion: 'us-east-1',
    });
    expect(record.kinesis.kinesisSchemaVersion).toBe('1.0');
    expect(record.eventID).toBe(`shardId-000000000000:${record.kinesis.sequenceNumber}`);
    expect(record.eventSourceARN).toMatch(/^arn:aws:kinesis:.*:stream\/runner-/);
    expect(record.kinesis.approximateArrivalTimestamp).toBeGreaterThan(1_600_000_000);
    expect(record.kinesis.approximateArrivalTimestamp).toBeLessThan(10_000_000_000); // seconds, not ms
    expect(seen[0]!.window).toBeUndefined();
  });

  it('passes state between invocations and makes a final invoke with no records at the window end (services-kinesis-windows.html)', async () => {
    const seen: KinesisWindowEvent<{ sum?: number }>[] = [];
    const { stats } = await run(
      12,
      async (event: KinesisWindowEvent<{ sum?: number }>) => {
        seen.push(structuredClone(event));
        const sum = (event.state?.sum ?? 0) + bodies(event).reduce((acc, body) => acc + Number(body), 0);
        return { state: { sum }, batchItemFailures: [] };
      },
      { batchSize: 5, tumblingWindowSeconds: 900 },
    );
    const final = seen[seen.length - 1]!;
    expect(final.isFinalInvokeForWindow).toBe(true);
    expect(final.Records).toEqual([]);
    expect(final.state).toEqual({ sum: 66 });
    expect(seen[0]!.state).toEqual({});
    expect(seen.slice(0, -1).every((e) => e.isFinalInvokeForWindow === false)).toBe(true);
    expect(final.shardId).toBe('shardId-000000000000');
    const start = Date.parse(final.window!.start);
    expect(start % 900_000).toBe(0);
    expect(Date.parse(final.window!.end) - start).toBe(900_000);
    expect(stats.finalInvocations).toBe(1);
  });

  it('treats a tumbling-window response without state as a failed invocation (services-kinesis-windows.html)', async () => {
    // Only the record-carrying invokes omit state: a failing final invoke would pause the shard for good.
    const { stats, onFailure } = await run(
      3,
      async (event) => (event.isFinalInvokeForWindow ? { state: {} } : { batchItemFailures: [] }),
      {
        tumblingWindowSeconds: 900,
        maxRetryAttempts: 1,
      },
    );
    expect(stats.functionErrors).toBe(2);
    expect(onFailure.records).toHaveLength(1);
  });

  it('retries MaximumRetryAttempts times, then sends batch metadata to the on-failure destination and moves on (kinesis-on-failure-destination.html)', async () => {
    let calls = 0;
    const delivered: string[] = [];
    const { stats, onFailure } = await run(
      6,
      async (event) => {
        calls++;
        if (bodies(event).includes('0')) throw new Error('poison');
        delivered.push(...bodies(event));
      },
      { batchSize: 3, maxRetryAttempts: 2 },
    );
    expect(calls).toBe(4); // 1 + 2 retries of the first batch, then the second batch
    expect(delivered).toEqual(['3', '4', '5']);
    expect(onFailure.records).toHaveLength(1);
    const failure = onFailure.records[0]!;
    expect(failure.requestContext).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    });
    expect(failure.KinesisBatchInfo).toMatchObject({ shardId: 'shardId-000000000000', batchSize: 3 });
    expect(failure.KinesisBatchInfo.streamArn).toMatch(/stream\/runner-/);
    expect(failure.version).toBe('1.0');
    expect(stats.discardedRecords).toBe(3);
  });

  it('stops retrying a batch whose oldest record passed MaximumRecordAgeInSeconds, even with unlimited retries (kinesis-on-failure-destination.html)', async () => {
    let calls = 0;
    const delivered: string[] = [];
    const { stats, onFailure } = await run(
      4,
      async (event) => {
        calls++;
        if (bodies(event).includes('0')) throw new Error('poison');
        delivered.push(...bodies(event));
      },
      { batchSize: 2, maxRetryAttempts: -1, maxRecordAgeSeconds: 1, retryDelayMs: 50 },
    );
    expect(delivered).toEqual(['2', '3']);
    expect(onFailure.records.map((r) => [r.requestContext.condition, r.KinesisBatchInfo.batchSize])).toEqual([
      ['RecordAgeExceeded', 2],
    ]);
    expect(stats.discardedRecords).toBe(2);
    // Retried until the records were a second old: far more than the default retry quota, far fewer than forever.
    expect(calls).toBeGreaterThan(3);
  });

  it('bisects a failing batch without spending retries, isolating the bad record (kinesis-on-failure-destination.html)', async () => {
    const delivered: string[] = [];
    const { stats, onFailure } = await run(
      8,
      async (event) => {
        if (bodies(event).includes('5')) throw new Error('poison');
        delivered.push(...bodies(event));
      },
      { batchSize: 8, bisectBatchOnError: true, maxRetryAttempts: 0 },
    );
    expect(delivered.sort()).toEqual(['0', '1', '2', '3', '4', '6', '7']);
    expect(onFailure.records).toHaveLength(1);
    expect(onFailure.records[0]!.KinesisBatchInfo.batchSize).toBe(1);
    expect(stats.bisections).toBe(3); // 8 → 4 → 2 → 1
  });

  it('checkpoints before the lowest reported failure and retries from it (services-kinesis-batchfailurereporting.html)', async () => {
    const batches: string[][] = [];
    let failed = false;
    await run(
      6,
      async (event) => {
        batches.push(bodies(event));
        if (!failed) {
          failed = true;
          const [, , third, , fifth] = event.Records;
          return {
            batchItemFailures: [
              { itemIdentifier: fifth!.kinesis.sequenceNumber },
              { itemIdentifier: third!.kinesis.sequenceNumber },
            ],
          };
        }
        return { batchItemFailures: [] };
      },
      { batchSize: 6, reportBatchItemFailures: true },
    );
    expect(batches).toEqual([
      ['0', '1', '2', '3', '4', '5'],
      ['2', '3', '4', '5'],
    ]);
  });

  it.each([
    ['an empty itemIdentifier', ''],
    ['a null itemIdentifier', null],
  ])(
    'fails the whole batch on %s (services-kinesis-batchfailurereporting.html)',
    async (_name, identifier) => {
      const batches: string[][] = [];
      await run(
        4,
        async (event) => {
          batches.push(bodies(event));
          return {
            batchItemFailures: batches.length === 1 ? [{ itemIdentifier: identifier as string }] : [],
          };
        },
        { batchSize: 4, reportBatchItemFailures: true },
      );
      expect(batches).toEqual([
        ['0', '1', '2', '3'],
        ['0', '1', '2', '3'],
      ]);
    },
  );

  it('ignores batchItemFailures unless ReportBatchItemFailures is on (services-kinesis-batchfailurereporting.html)', async () => {
    let calls = 0;
    await run(
      4,
      async (event) => {
        calls++;
        return { batchItemFailures: [{ itemIdentifier: event.Records[0]!.kinesis.sequenceNumber }] };
      },
      { batchSize: 4 },
    );
    expect(calls).toBe(1);
  });

  it('lets a hook fail the n-th invocation, which is then retried with the same records', async () => {
    const batches: string[][] = [];
    const { stats } = await run(4, async (event) => void batches.push(bodies(event)), {
      batchSize: 2,
      hooks: {
        beforeInvoke(n) {
          if (n === 2) throw new Error('injected');
        },
      },
    });
    expect(batches).toEqual([
      ['0', '1'],
      ['2', '3'],
    ]);
    expect(stats.invocations).toBe(3);
    expect(stats.retries).toBe(1);
  });

  it('times out an invocation that runs past the function timeout', async () => {
    let calls = 0;
    const { stats } = await run(
      1,
      async () => {
        calls++;
        if (calls === 1) await new Promise((resolve) => setTimeout(resolve, 200));
      },
      { functionTimeoutMs: 50 },
    );
    expect(calls).toBe(2);
    expect(stats.functionErrors).toBe(1);
  });

  it('lets an invocation run past the deployed timeout, counts it, and keeps the longest time', async () => {
    let calls = 0;
    const { stats } = await run(
      3,
      async () => {
        calls++;
        if (calls === 2) await new Promise((resolve) => setTimeout(resolve, 300));
      },
      { batchSize: 1, deployedTimeoutMs: 150 },
    );
    // Not cut off, so not retried: the local emulators are slower than AWS's services.
    expect(calls).toBe(3);
    expect(stats.functionErrors).toBe(0);
    expect(stats.invocationsPastTimeout).toBe(1);
    expect(stats.longestInvocationMs).toBeGreaterThanOrEqual(290);
  });

  it('waits for the batching window to gather a batch (MaximumBatchingWindowInSeconds)', async () => {
    const streamName = `runner-${++streamCount}`;
    await createStream(kinesis, streamName, 1);
    const sizes: number[] = [];
    const runner = await startLambdaRunner({
      kinesis,
      streamName,
      handler: async (event) => void sizes.push(event.Records.length),
      batchSize: 100,
      maxBatchingWindowMs: 400,
      pollIntervalMs: 5,
    });
    for (let i = 0; i < 3; i++) {
      await putAllRecords(kinesis, streamName, [{ partitionKey: 'k', data: Buffer.from(String(i)) }]);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await runner.idle();
    await runner.stop();
    expect(sizes).toEqual([3]);
  });

  it('gives up a drain that makes no progress, saying which shard waits for what', async () => {
    // The final invocation of a tumbling window is retried until it succeeds (services-kinesis-windows.html),
    // so a handler that can never flush (its table is gone, its emulator was killed) would hold the drain
    // for ever; the runner must say so instead.
    const streamName = await streamWith(3);
    const runner = await startLambdaRunner({
      kinesis,
      streamName,
      functionName: 'stuck-aggregator',
      handler: async (event) => {
        if (event.isFinalInvokeForWindow) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
        return { state: {} };
      },
      tumblingWindowSeconds: 60,
      pollIntervalMs: 5,
      retryDelayMs: 5,
      stallTimeoutMs: 300,
    });
    try {
      await expect(runner.drain()).rejects.toThrow(
        /stuck-aggregator made no progress for [\d.]+ s while draining runner-\d+: shardId-000000000000 \(a window open, last error: Error: connect ECONNREFUSED 127\.0\.0\.1:9\)/,
      );
      expect(runner.stats().recordsProcessed).toBe(3);
    } finally {
      await runner.stop();
    }
  });

  it('counts invocations that succeed as progress, however long the whole drain takes', async () => {
    // Five invocations of 500 ms drain in 2.5 s, past the 1.5 s stall limit; each leaves a second of
    // slack for a loaded machine (a 100 ms margin failed in CI beside other test runs).
    const { stats } = await run(
      5,
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
      },
      { batchSize: 1, stallTimeoutMs: 1500 },
    );
    expect(stats.recordsProcessed).toBe(5);
    expect(stats.invocations).toBe(5);
  });

  it("counts the function's own work as progress while one long invocation runs, and only then", async () => {
    // One invocation of 4 s, past the 1.5 s stall limit, making a call every 100 ms: a final flush
    // merging a large window on a loaded machine. Counted as work, it is no stall; not counted, it is.
    let calls = 0;
    const longFlush = async () => {
      for (let i = 0; i < 40; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        calls++;
      }
    };
    const { stats } = await run(1, longFlush, { stallTimeoutMs: 1500, workDone: () => calls });
    expect(stats.recordsProcessed).toBe(1);
    expect(calls).toBe(40);
    const uncounted = await startLambdaRunner({
      kinesis,
      streamName: await streamWith(1),
      functionName: 'long-flush',
      handler: longFlush,
      pollIntervalMs: 5,
      stallTimeoutMs: 1500,
    });
    try {
      await expect(uncounted.drain()).rejects.toThrow(
        /long-flush made no progress for [\d.]+ s while draining runner-\d+: shardId-000000000000 \(.*an invocation running/,
      );
    } finally {
      await uncounted.stop();
    }
  });

  it('reads on after its last record when an iterator expires (API_GetShardIterator.html: 5 minutes)', async () => {
    const streamName = await streamWith(25);
    // Pages of 10 records; the second GetRecords call finds its iterator expired, as a shard whose
    // buffer stayed full for 5 minutes would.
    let getRecordsCalls = 0;
    const iteratorRequests: Array<{ type?: string; after?: string }> = [];
    const send = async (command: unknown): Promise<unknown> => {
      if (command instanceof GetShardIteratorCommand)
        iteratorRequests.push({
          ...(command.input.ShardIteratorType ? { type: command.input.ShardIteratorType } : {}),
          ...(command.input.StartingSequenceNumber ? { after: command.input.StartingSequenceNumber } : {}),
        });
      if (!(command instanceof GetRecordsCommand)) return kinesis.send(command as never);
      if (++getRecordsCalls === 2) {
        const expired = new Error('Iterator expired');
        expired.name = 'ExpiredIteratorException';
        throw expired;
      }
      return kinesis.send(new GetRecordsCommand({ ...command.input, Limit: 10 }));
    };
    const seen: KinesisWindowEvent<unknown>[] = [];
    const runner = await startLambdaRunner({
      kinesis: new Proxy(kinesis, {
        get: (target, key) => (key === 'send' ? send : Reflect.get(target, key)),
      }),
      streamName,
      handler: async (event) => void seen.push(event),
      batchSize: 100,
      pollIntervalMs: 5,
      retryDelayMs: 0,
    });
    await runner.drain();
    await runner.stop();
    // Every record once, in order: nothing skipped, nothing read twice.
    expect(seen.flatMap(bodies)).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
    const tenth = seen.flatMap((e) => e.Records)[9]?.kinesis.sequenceNumber;
    expect(iteratorRequests).toEqual([
      { type: 'TRIM_HORIZON' },
      { type: 'AFTER_SEQUENCE_NUMBER', after: tenth },
    ]);
  });

  it('polls every shard of a stream whose ListShards answer comes in pages (with-kinesis.html)', async () => {
    const streamName = `runner-${++streamCount}`;
    await createStream(kinesis, streamName, 3);
    // Explicit hash keys put one record at the start of each shard's third of the hash-key range.
    const third = 2n ** 128n / 3n;
    const Records = [0n, 1n, 2n].map((i) => ({
      PartitionKey: `k${i}`,
      ExplicitHashKey: String(i * third + 1n),
      Data: Buffer.from(String(i)),
    }));
    const put = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records }));
    expect(new Set(put.Records?.map((record) => record.ShardId))).toHaveProperty('size', 3);
    const seen: string[] = [];
    const runner = await startLambdaRunner({
      kinesis: pagingListShards(kinesis, 1),
      streamName,
      handler: async (event) => void seen.push(...bodies(event)),
      pollIntervalMs: 5,
      retryDelayMs: 0,
    });
    await runner.drain();
    await runner.stop();
    expect(Object.keys(runner.stats().shards)).toHaveLength(3);
    expect(seen.sort()).toEqual(['0', '1', '2']);
  });
});
