/**
 * Verify's truth in partitions of users: a big source is folded a partition at a time from rows parked
 * on disk, and must come out exactly as the whole file folded at once, so that verify's memory is
 * bounded without its answer changing.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPartitionSpill } from '../../analytics/partition-spill.ts';
import { computeSourceTruth, partitionsFor, type SourceTruth } from '../../analytics/source-truth.ts';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { createSyntheticGenerator } from '../../core/synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'clickstream-verify-partitions-'));
const csvPath = join(dir, 'events.csv');
writeFileSync(
  csvPath,
  [...createSyntheticGenerator({ events: 6_000, bots: 2, seed: 5, rate: 4 }).chunks()].join(''),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function everyPartition(truth: SourceTruth) {
  const windows = new Map<string, UserWindowTotal>();
  const visitors = new Map<string, number>();
  const usersIn: Array<Set<string>> = [];
  for (let index = 0; index < truth.partitions; index++) {
    const partition = await truth.partition(index);
    const users = new Set<string>();
    for (const [key, total] of partition.windows) {
      expect(windows.has(key)).toBe(false);
      windows.set(key, total);
      users.add(total.user_id);
      expect(truth.partitionOf(total.user_id)).toBe(index);
    }
    for (const [day, count] of partition.visitorsPerDay) visitors.set(day, (visitors.get(day) ?? 0) + count);
    usersIn.push(users);
  }
  return { windows, visitors, usersIn };
}

describe('the source truth in partitions of users', () => {
  it('holds exactly the windows, visitors and counts of the whole file folded at once', async () => {
    const whole = await computeSourceTruth({ source: csvPath });
    const split = await computeSourceTruth({ source: csvPath, bytesPerPartition: 100_000 });
    try {
      expect(whole.partitions).toBe(1);
      expect(whole.spilledBytes).toBe(0);
      // 6,000 rows of about 130 bytes: eight partitions of 100 kB.
      expect(split.partitions).toBe(8);
      expect(split.spilledBytes).toBeGreaterThan(0);
      const {
        partition: _w,
        partitionOf: _wp,
        dispose: _wd,
        partitions: _wn,
        spilledBytes: _ws,
        ...wholeCounts
      } = whole;
      const {
        partition: _s,
        partitionOf: _sp,
        dispose: _sd,
        partitions: _sn,
        spilledBytes: _ss,
        ...splitCounts
      } = split;
      expect(splitCounts).toEqual(wholeCounts);
      expect(wholeCounts.accepted).toBe(6_000);

      const all = await whole.partition(0);
      const parts = await everyPartition(split);
      expect(parts.windows.size).toBe(all.windows.size);
      for (const [key, total] of all.windows) expect(parts.windows.get(key)).toEqual(total);
      expect(parts.visitors).toEqual(all.visitorsPerDay);
      // Every partition has users of its own: the hash spreads them.
      expect(parts.usersIn.every((users) => users.size > 0)).toBe(true);
    } finally {
      split.dispose();
      whole.dispose();
    }
  });

  it('samples the same users split or whole', async () => {
    const whole = await computeSourceTruth({ source: csvPath, sampleShare: 0.3 });
    const split = await computeSourceTruth({ source: csvPath, sampleShare: 0.3, bytesPerPartition: 200_000 });
    try {
      const all = await whole.partition(0);
      const parts = await everyPartition(split);
      expect(all.windows.size).toBeGreaterThan(0);
      expect([...parts.windows.keys()].sort()).toEqual([...all.windows.keys()].sort());
      // Visitors count every user, sampled or not.
      expect(parts.visitors).toEqual(
        (await (await computeSourceTruth({ source: csvPath })).partition(0)).visitorsPerDay,
      );
    } finally {
      split.dispose();
    }
  });

  it('sizes partitions from the stored bytes, a gzip source as about four times its size', () => {
    expect(partitionsFor(undefined, false, 1_000)).toBe(1);
    expect(partitionsFor(0, false, 1_000)).toBe(1);
    expect(partitionsFor(1_000, false, 1_000)).toBe(1);
    expect(partitionsFor(1_001, false, 1_000)).toBe(2);
    expect(partitionsFor(1_000, true, 1_000)).toBe(4);
  });
});

describe('the partition spill', () => {
  it('gives each partition its lines back in order, across buffer flushes, and removes its files', async () => {
    const spill = createPartitionSpill(3, 'verify-spill-test');
    // 30,000 lines of about 120 bytes: 3.6 MB, well past a partition's 256 KiB buffer.
    const expected: string[][] = [[], [], []];
    for (let i = 0; i < 30_000; i++) {
      const line = JSON.stringify([i, 'é'.repeat(i % 7), 'x'.repeat(100)]);
      const partition = (i * 7) % 3;
      spill.add(partition, line);
      expected[partition]?.push(line);
    }
    expect(existsSync(spill.directory)).toBe(true);
    for (let partition = 0; partition < 3; partition++) {
      const lines: string[] = [];
      for await (const line of spill.lines(partition)) lines.push(line);
      expect(lines).toEqual(expected[partition]);
    }
    expect(spill.bytesWritten()).toBeGreaterThan(3_000_000);
    spill.dispose();
    expect(existsSync(spill.directory)).toBe(false);
    spill.dispose();
  });

  it('has no lines for a partition nothing was added to', async () => {
    const spill = createPartitionSpill(2, 'verify-spill-test');
    try {
      spill.add(1, 'only');
      const lines: string[] = [];
      for await (const line of spill.lines(0)) lines.push(line);
      expect(lines).toEqual([]);
    } finally {
      spill.dispose();
    }
  });
});
