/**
 * Verify's ground truth does not trust the producer's reader. The silent loss it must catch: a reader
 * that, at a quote left open in row 101 of 2,000, read every later line into that one row, so replay
 * sent 100 events, rejected 1 and exited 0, and verify, reading the file with that same reader,
 * passed. Here the pipeline holds what that replay sent and verify runs with that reader injected; then
 * the rest is replayed and verify, with the producer's real reader, passes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import { openLocalEngine } from '../../analytics/local-engine.ts';
import { computeSourceTruth, type ProducerReader } from '../../analytics/source-truth.ts';
import { runChecks, type VerifyCheck } from '../../analytics/verify.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { replayToStream } from '../../producer/replay.ts';
import { type RowChunk, readRowChunks } from '../../producer/rows.ts';
import { csv, row, tempDir, validRows } from '../support/producer-support.ts';

const dir = tempDir('verify-independent-');
const rows = validRows(2_000);
rows[100] = row(100, { brand: '"acme' });
const source = join(dir.path, 'events.csv');
writeFileSync(source, csv(rows));

/** The old reader's behaviour: everything from the unclosed quote to the end of the file is one row. */
const swallowingReader: ProducerReader = async function* (input) {
  for await (const chunk of readRowChunks(input)) {
    const first = [...(chunk.rejected?.keys() ?? [])][0];
    if (first === undefined) {
      yield chunk;
      continue;
    }
    const cut = (list: number[]) => list.slice(0, first + 1);
    yield {
      ...chunk,
      rows: chunk.rows.slice(0, first + 1),
      lines: cut(chunk.lines),
      starts: cut(chunk.starts),
      ends: cut(chunk.ends),
    } as RowChunk;
    return;
  }
};

let stack: LocalStack;
let pipeline: LocalPipeline;
let dynamo: ReturnType<typeof createDynamoClient>;
let kinesis: ReturnType<typeof createKinesisClient>;

async function replayRows(name: string, lines: string[]) {
  const file = join(dir.path, name);
  writeFileSync(file, csv(lines));
  const summary = await replayToStream({
    kinesis,
    streamName: stack.names.eventsStream,
    source: file,
    rejects: join(dir.path, `${name}.rejects.csv`),
    failedOut: join(dir.path, `${name}.failed.jsonl`),
  });
  await pipeline.drain();
  return summary;
}

async function verifyWith(producerReader?: ProducerReader): Promise<VerifyCheck[]> {
  return (await verifyIn({ ...(producerReader ? { producerReader } : {}) })).checks;
}

/** Verify with its truth split into user partitions of `bytesPerPartition` source bytes (default: whole). */
async function verifyIn(
  options: { producerReader?: ProducerReader; bytesPerPartition?: number },
  stopAfter?: { partitions: number; compared: number[] },
) {
  const truth = await computeSourceTruth({
    source,
    // The event-time window the aggregator folds by, as the template's environment sets it.
    windowSeconds: pipeline.windowSeconds,
    ...options,
  });
  // Ctrl-C, as verify's command gets it: its signal aborts once `stopAfter.partitions` were compared.
  const abort = new AbortController();
  // The local engine reads the lake as it is when opened.
  const engine = await openLocalEngine({ s3: stack.s3, names: stack.names });
  try {
    const checks = await runChecks({
      truth,
      dynamo,
      userActivityTable: stack.names.userActivityTable,
      alertDedupeTable: stack.names.alertDedupeTable,
      engine,
      signal: abort.signal,
      onPartitionCompared: (done) => {
        stopAfter?.compared.push(done);
        if (done === stopAfter?.partitions) abort.abort(new Error('interrupted'));
      },
    });
    return { checks, partitions: truth.partitions, spilledBytes: truth.spilledBytes };
  } finally {
    truth.dispose();
    await engine.close();
  }
}

const figures = (checks: VerifyCheck[]) =>
  Object.fromEntries(checks.map((c) => [c.name, [c.ok ? 'pass' : 'FAIL', c.expected, c.actual]]));

/** The file is about 250 KB: 64 KiB a partition splits its users four or five ways. */
async function expectSameInPartitions(whole: ReturnType<typeof figures>, producerReader?: ProducerReader) {
  const split = await verifyIn({
    bytesPerPartition: 64 * 1024,
    ...(producerReader ? { producerReader } : {}),
  });
  expect(split.partitions).toBeGreaterThanOrEqual(4);
  expect(split.spilledBytes).toBeGreaterThan(0);
  expect(figures(split.checks)).toEqual(whole);
}

beforeAll(async () => {
  stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink' });
  pipeline = await startLocalPipeline(stack, { workDir: join(dir.path, 'work') });
  kinesis = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
}, 60_000);

afterAll(async () => {
  kinesis?.destroy();
  dynamo?.destroy();
  await pipeline?.stop();
  await stack?.stop();
  dir.remove();
});

describe("verify against a reader that swallows rows (injected as the producer's)", () => {
  it('fails on the row count and the row accounting, and on every count the lost rows are missing from', async () => {
    // What the swallowing producer sent: the 100 rows before the unclosed quote.
    const sent = await replayRows('silent.csv', rows.slice(0, 100));
    expect(sent).toMatchObject({ read: 100, sent: 100 });

    const checks = figures(await verifyWith(swallowingReader));
    expect(checks["source rows (verify's reader = the producer's)"]).toEqual(['FAIL', 2_000, 101]);
    expect(checks['source rows = counted + rejected']).toEqual(['FAIL', 2_000, 100 + 1]);
    const views = rows.filter((line, i) => i !== 100 && line.includes(',view,')).length;
    const sentViews = rows.slice(0, 100).filter((line) => line.includes(',view,')).length;
    expect(checks['DynamoDB view events']).toEqual(['FAIL', views, sentViews]);
    expect(checks['lake events']).toEqual(['FAIL', 1_999, 100]);
    // Split into user partitions, parked on disk and compared one at a time, it finds the same.
    await expectSameInPartitions(checks, swallowingReader);
  }, 120_000);

  it("passes once the pipeline holds every row but the bad one, read with the producer's reader", async () => {
    const rest = await replayRows('rest.csv', rows.slice(100));
    expect(rest).toMatchObject({ read: 1_900, sent: 1_899, rejected: { total: 1 } });

    const checks = await verifyWith();
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(figures(checks)["source rows (verify's reader = the producer's)"]).toEqual(['pass', 2_000, 2_000]);
    expect(figures(checks)['source rows = counted + rejected']).toEqual(['pass', 2_000, 1_999 + 1]);
    await expectSameInPartitions(figures(checks));

    // Interrupted after the first partition, it stops there instead of comparing the rest.
    const compared: number[] = [];
    await expect(verifyIn({ bytesPerPartition: 64 * 1024 }, { partitions: 1, compared })).rejects.toThrow(
      'interrupted',
    );
    expect(compared).toEqual([1]);
  }, 120_000);
});
