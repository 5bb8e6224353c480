/**
 * Per-shard Kinesis throughput as AWS enforces it: decided on a clock the test moves, so every
 * decision is exact.
 */
import { describe, expect, it } from 'vitest';
import { createShardThroughput, KINESIS_SHARD_LIMITS } from '../../local/limits/kinesis-throughput.ts';

function clocked() {
  let ms = 0;
  return { now: () => ms, advance: (by: number) => void (ms += by) };
}

describe('writes to a shard', () => {
  it('admit 1,000 records a second, then refuse until the second has refilled the budget', () => {
    const clock = clocked();
    const limits = createShardThroughput({ now: clock.now });
    const admitted = Array.from({ length: 1_200 }, () => limits.admitWrite('events/shard-0', 100));
    expect(admitted.filter(Boolean)).toHaveLength(1_000);
    expect(admitted.indexOf(false)).toBe(1_000);
    clock.advance(100); // a tenth of a second: 100 records
    expect(
      Array.from({ length: 150 }, () => limits.admitWrite('events/shard-0', 100)).filter(Boolean),
    ).toHaveLength(100);
    expect(limits.throttles().writes).toEqual({ 'events/shard-0': 250 });
  });

  it('admit 1 MiB a second of data and partition keys, whichever budget runs out first', () => {
    const clock = clocked();
    const limits = createShardThroughput({ now: clock.now });
    const record = 100 * 1024; // 10 of these fill 1,000 KiB, the 11th passes 1 MiB
    const admitted = Array.from({ length: 12 }, () => limits.admitWrite('events/shard-0', record));
    expect(admitted.filter(Boolean)).toHaveLength(10);
    // A refused large record did not use up the record budget: small records still fit the bytes left.
    expect(limits.admitWrite('events/shard-0', 24 * 1024)).toBe(true);
    expect(limits.admitWrite('events/shard-0', 1)).toBe(false);
  });

  it('keep each shard its own budget', () => {
    const limits = createShardThroughput({ now: clocked().now });
    for (let i = 0; i < KINESIS_SHARD_LIMITS.writeRecordsPerSecond; i++)
      limits.admitWrite('events/shard-0', 10);
    expect(limits.admitWrite('events/shard-0', 10)).toBe(false);
    expect(limits.admitWrite('events/shard-1', 10)).toBe(true);
    expect(limits.admitWrite('activity/shard-0', 10)).toBe(true);
  });

  it('never hold more than one second of unused budget', () => {
    const clock = clocked();
    const limits = createShardThroughput({ now: clock.now });
    clock.advance(60_000); // a quiet minute does not allow a minute's burst
    const admitted = Array.from({ length: 2_000 }, () => limits.admitWrite('events/shard-0', 10));
    expect(admitted.filter(Boolean)).toHaveLength(1_000);
  });
});

describe('reads from a shard', () => {
  it('admit 5 GetRecords calls a second, shared by every reader', () => {
    const clock = clocked();
    const limits = createShardThroughput({ now: clock.now });
    const calls = Array.from({ length: 7 }, () => limits.admitRead('events/shard-0'));
    expect(calls).toEqual([true, true, true, true, true, false, false]);
    clock.advance(200);
    expect(limits.admitRead('events/shard-0')).toBe(true);
    expect(limits.admitRead('events/shard-0')).toBe(false);
    expect(limits.throttles().reads).toEqual({ 'events/shard-0': 3 });
  });

  it('refuse calls after a read larger than the second allows, until the debt is paid', () => {
    const clock = clocked();
    const limits = createShardThroughput({ now: clock.now });
    expect(limits.admitRead('events/shard-0')).toBe(true);
    limits.chargeRead('events/shard-0', 10_000_000); // a 10 MB GetRecords: 5 s of the 2 MB/s budget
    clock.advance(3_900);
    expect(limits.admitRead('events/shard-0')).toBe(false);
    clock.advance(200); // 4.1 s: 8.2 MB of the 8 MB debt repaid
    expect(limits.admitRead('events/shard-0')).toBe(true);
  });
});
