import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCheckpoint } from '../../producer/checkpoint.ts';
import { describeStart, type ReplayStart, replayToStream } from '../../producer/replay.ts';
import {
  csv,
  readStream,
  STREAM,
  startKinesis,
  type TestKinesis,
  tempDir,
  validRows,
} from '../support/producer-support.ts';
import { spawnReplayChild } from '../support/replay-child-process.ts';

let kinesis: TestKinesis;
let dir: ReturnType<typeof tempDir>;
beforeAll(async () => {
  kinesis = await startKinesis(4);
  dir = tempDir();
});
afterAll(async () => {
  await kinesis.stop();
  dir.remove();
});

const ROWS = 30_000;

it('resumes a run killed with SIGKILL without losing a row, re-sent events under their first ids, within the reported bound', async () => {
  const source = join(dir.path, 'big.csv');
  writeFileSync(source, csv(validRows(ROWS)));
  const checkpoint = join(dir.path, 'replay.checkpoint.json');
  const rejects = join(dir.path, 'rejects.csv');
  const failedOut = join(dir.path, 'failed.jsonl');

  const { child, exited, output } = spawnReplayChild({
    endpoint: kinesis.endpoint,
    streamName: STREAM,
    source,
    checkpoint,
    rejects,
    failedOut,
  });
  // Kill once the checkpoint has moved past a few thousand rows: mid-run, with calls in flight.
  for (;;) {
    const state = existsSync(checkpoint) ? loadCheckpoint(checkpoint) : undefined;
    if (state && state.line > 5_000) break;
    if (child.exitCode !== null) throw new Error(`child ended before it could be killed: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  expect(output()).not.toContain('finished');
  const saved = loadCheckpoint(checkpoint);
  expect(saved?.complete).toBe(false);
  const before = (await readStream(kinesis.kinesis)).length;
  expect(before).toBeGreaterThan(0);
  expect(before).toBeLessThan(ROWS);

  let start: ReplayStart | undefined;
  const summary = await replayToStream({
    kinesis: kinesis.kinesis,
    streamName: STREAM,
    source,
    checkpoint,
    rejects,
    failedOut,
    onStart: (at) => {
      start = at;
    },
  });
  expect(summary.resumedFrom).toEqual({ line: saved?.line, byteOffset: saved?.byteOffset });
  expect(start && describeStart(start)).toMatch(
    new RegExp(`^resuming at row ${((saved?.read ?? 0) + 1).toLocaleString('en-US')}, line `),
  );
  expect(summary.possibleDuplicates).toBe(2_000);
  // This run read exactly the rows after the checkpoint.
  expect(summary.read).toBe(ROWS - (saved?.read ?? 0));
  expect(summary.read).toBe(summary.sent + summary.rejected.total + summary.failed);
  expect(loadCheckpoint(checkpoint)?.complete).toBe(true);

  const records = await readStream(kinesis.kinesis);
  const ids = records.map((r) => Number(r.body.product_id));
  const distinct = new Set(ids);
  expect(distinct.size).toBe(ROWS);
  const duplicates = ids.length - distinct.size;
  expect(duplicates).toBeLessThanOrEqual(summary.possibleDuplicates);
  // A re-sent row carries the event id it had the first time: one id per row, copies identical.
  const byEventId = new Map<string, Set<string>>();
  for (const { body } of records) {
    const { replayed_at: _sentAt, ...event } = body;
    const copies = byEventId.get(String(event.event_id)) ?? new Set<string>();
    copies.add(JSON.stringify(event));
    byEventId.set(String(event.event_id), copies);
  }
  expect(byEventId.size).toBe(ROWS);
  for (const copies of byEventId.values()) expect(copies.size).toBe(1);

  // A finished checkpoint resumes to nothing.
  const again = await replayToStream({
    kinesis: kinesis.kinesis,
    streamName: STREAM,
    source,
    checkpoint,
    rejects,
    failedOut,
  });
  expect(again).toMatchObject({ read: 0, sent: 0 });
});
