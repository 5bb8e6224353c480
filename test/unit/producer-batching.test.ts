import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClickEvent } from '../../core/event.ts';
import { AggregateBuilder, deaggregate } from '../../core/kpl.ts';
import {
  type Batch,
  BatchLimitError,
  type EventBody,
  type EventEntry,
  eventRecordJson,
  KINESIS_LIMITS,
  maxEventBytes,
  type OutgoingRecord,
  RecordEncoder,
  ShardBatcher,
} from '../../producer/batcher.ts';
import { ProgressTracker } from '../../producer/checkpoint.ts';
import { Pacer, parseSpeed } from '../../producer/pacer.ts';
import { ShardMap, ShardRateLimiter } from '../../producer/shards.ts';

const owner = { settle: () => undefined };
const entry = (partitionKey = 'k', line = 0): EventEntry => ({ partitionKey, line, owner });
const body = (json: string): EventBody => ({ json, bytes: Buffer.byteLength(json) });
/** An event whose body is `bytes` long. */
const add = (batcher: ShardBatcher, shard: number, bytes: number, partitionKey = 'k') =>
  batcher.add(shard, entry(partitionKey), body('x'.repeat(bytes)));

describe('ShardBatcher', () => {
  it('closes a batch at 500 records', () => {
    const batcher = new ShardBatcher(1);
    const full: Batch[] = [];
    for (let i = 0; i < 1_201; i++) {
      const batch = add(batcher, 0, 10);
      if (batch) full.push(batch);
    }
    expect(full.map((b) => b.records.length)).toEqual([500, 500]);
    expect(batcher.flushAll().map((b) => b.records.length)).toEqual([201]);
  });

  it('closes a batch before the byte cap, counting partition keys', () => {
    const maxBytes = 1024 * 1024;
    const batcher = new ShardBatcher(1, { maxBytes });
    // 100 KiB of data + a 4-byte key: 10 fit in 1 MiB (10 × 102,404 = 1,024,040 ≤ 1,048,576), the 11th does not.
    const full: Batch[] = [];
    for (let i = 0; i < 11; i++) {
      const batch = add(batcher, 0, 100 * 1024, 'abcd');
      if (batch) full.push(batch);
    }
    expect(full).toHaveLength(1);
    expect(full[0]?.records).toHaveLength(10);
    expect(full[0]?.bytes).toBe(10 * (100 * 1024 + 4));
    expect(full[0]?.bytes).toBeLessThanOrEqual(maxBytes);
  });

  it('keeps one open batch per shard, in arrival order', () => {
    const batcher = new ShardBatcher(3, { maxRecords: 2 });
    const a = entry('a');
    const b = entry('b');
    const c = entry('c');
    expect(batcher.add(1, a, body('1'))).toBeUndefined();
    expect(batcher.add(2, b, body('2'))).toBeUndefined();
    expect(batcher.add(1, c, body('3'))).toBeUndefined();
    const full = batcher.add(1, entry('d'), body('4'));
    expect(full?.shard).toBe(1);
    expect(full?.records.map((r) => r.events)).toEqual([[a], [c]]);
    expect(batcher.buffered).toBe(2);
    expect(batcher.flushAll().map((batch) => [batch.shard, batch.records.length])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it("packs a shard's events into KPL aggregates under the cap, addressed to the shard, in order", () => {
    const batcher = new ShardBatcher(2, { maxRecords: 3 }, { shardHashKeys: ['0', '17'], maxBytes: 1_000 });
    const events = Array.from({ length: 40 }, (_, i) => entry(`key-${i % 3}`, i + 1));
    const json = (line: number) => `{"n":${line}}`.padEnd(90, ' ');
    const full: Batch[] = [];
    for (const event of events) {
      const batch = batcher.add(event.line % 2, event, body(json(event.line)));
      if (batch) full.push(batch);
    }
    const batches = [...full, ...batcher.flushAll()];
    for (const shard of [0, 1]) {
      const records = batches.filter((b) => b.shard === shard).flatMap((b) => b.records);
      for (const r of records) {
        expect(r.data.length).toBeLessThanOrEqual(1_000);
        expect(r.explicitHashKey).toBe(['0', '17'][shard]);
        // What a consumer de-aggregates is exactly the events the record answers for.
        expect(deaggregate(r.data).map((u) => [u.partitionKey, Buffer.from(u.data).toString()])).toEqual(
          r.events.map((e) => [e.partitionKey, json(e.line)]),
        );
      }
      expect(records.flatMap((r) => r.events.map((e) => e.line))).toEqual(
        events.filter((e) => e.line % 2 === shard).map((e) => e.line),
      );
      // 20 events of ~100 bytes a shard, 9 to a 1,000-byte aggregate.
      expect(records.map((r) => r.events.length)).toEqual([9, 9, 2]);
    }
    expect(batches.every((b) => b.records.length <= 3)).toBe(true);
    expect(batches.reduce((n, b) => n + b.events, 0)).toBe(40);
    expect(batcher.buffered).toBe(0);
  });

  it('reuses the memory of a recycled aggregate, and never of one still out', () => {
    const batcher = new ShardBatcher(1, { maxRecords: 1 }, { shardHashKeys: ['0'], maxBytes: 1_000 });
    const records: OutgoingRecord[] = [];
    const send = (n: number) => {
      const batch = batcher.add(0, entry('k', n), body(`{"n":${n}}`.padEnd(300, ' ')));
      if (batch) records.push(...batch.records);
    };
    const numbers = (record: OutgoingRecord | undefined) =>
      deaggregate(record?.data ?? new Uint8Array()).map((u) => JSON.parse(Buffer.from(u.data).toString()).n);
    // Three events an aggregate, one aggregate a call: the 7th event seals the second aggregate,
    // which hands out the first.
    for (let n = 1; n <= 7; n++) send(n);
    const first = records[0] as OutgoingRecord;
    batcher.recycle(first);
    // The third aggregate (7-9) took its memory with event 7, before the recycling; the fourth takes it
    // with event 10, from the recycled first.
    for (let n = 8; n <= 12; n++) send(n);
    records.push(...batcher.flushAll().flatMap((b) => b.records));
    const [, second, third, fourth] = records;
    expect(fourth?.data.buffer).toBe(first.data.buffer);
    for (const other of [second, third]) expect(other?.data.buffer).not.toBe(first.data.buffer);
    expect([second, third, fourth].map(numbers)).toEqual([
      [4, 5, 6],
      [7, 8, 9],
      [10, 11, 12],
    ]);
  });

  it('refuses limits Kinesis does not allow', () => {
    expect(() => new ShardBatcher(1, { maxRecords: 501 })).toThrow(BatchLimitError);
    expect(() => new ShardBatcher(1, { maxBytes: 10 * 1024 * 1024 + 1 })).toThrow(BatchLimitError);
    expect(() => new ShardBatcher(1, { maxBytes: 10 * 1024 * 1024 })).not.toThrow();
  });
});

describe('event size limit', () => {
  it('keeps a record of one event within 1 MiB with its partition key, aggregated or not', () => {
    const key = '2053013555631882655';
    const plain = maxEventBytes(key, false);
    expect(plain + key.length).toBe(KINESIS_LIMITS.maxRecordBytes);
    // An aggregate of the largest event allowed is still a valid record.
    const largest = maxEventBytes(key, true);
    const builder = new AggregateBuilder();
    builder.add(key, 'é'.repeat(Math.floor(largest / 2)));
    const size = builder.size;
    expect(size + key.length).toBeLessThanOrEqual(KINESIS_LIMITS.maxRecordBytes);
    expect(builder.build().length).toBe(size);
  });
});

describe('RecordEncoder', () => {
  it('gives every record its own bytes though they share slabs', () => {
    const encoder = new RecordEncoder();
    const texts = Array.from({ length: 5_000 }, (_, i) => `{"n":${i},"s":"${'é'.repeat(i % 50)}"}`);
    const encoded = texts.map((text) => encoder.encode(text));
    expect(encoded.map((bytes) => Buffer.from(bytes).toString('utf8'))).toEqual(texts);
  });
});

describe('eventRecordJson', () => {
  const text = fc.string({ unit: 'binary', maxLength: 30 });
  const nullable = fc.option(text, { nil: null });
  const digits = fc.stringMatching(/^[0-9]{1,19}$/);
  const event = fc.record({
    event_time: fc.constant('2019-10-01T00:00:00Z'),
    event_type: fc.constantFrom('view', 'cart', 'remove_from_cart', 'purchase'),
    product_id: digits,
    category_id: digits,
    category_code: nullable,
    brand: nullable,
    price: fc.double({ min: 0, max: 1e7, noNaN: true }),
    user_id: digits,
    user_session: nullable,
  }) as fc.Arbitrary<ClickEvent>;

  it('is byte for byte JSON.stringify of the EventRecord', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(eventRecordJson(e, 'AbC-_x9z1k', '2024-01-01T00:00:00.000Z')).toBe(
          JSON.stringify({ ...e, event_id: 'AbC-_x9z1k', replayed_at: '2024-01-01T00:00:00.000Z' }),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('Pacer', () => {
  it('divides the gaps from the first event by the speed', () => {
    let now = 1_000;
    const pacer = new Pacer(60, () => now);
    const t0 = Date.UTC(2019, 9, 1);
    expect(pacer.delayFor(t0)).toBe(0);
    expect(pacer.delayFor(t0 + 60_000)).toBe(1_000);
    now += 400;
    expect(pacer.delayFor(t0 + 60_000)).toBe(600);
    now += 5_000;
    // Behind schedule: no wait, and no drift for later events either.
    expect(pacer.delayFor(t0 + 120_000)).toBe(0);
    expect(pacer.delayFor(t0 + 600_000)).toBe(10_000 - 5_400);
  });

  it('never waits at max speed, and refuses nonsense', () => {
    expect(new Pacer('max').delayFor(0)).toBe(0);
    expect(parseSpeed('max')).toBe('max');
    expect(parseSpeed('2.5')).toBe(2.5);
    expect(() => parseSpeed('0')).toThrow();
    expect(() => parseSpeed('fast')).toThrow();
  });
});

describe('ShardRateLimiter', () => {
  it('runs unlimited until throttled, then halves the rate the shard was taking and climbs back additively', () => {
    let now = 0;
    const limiter = new ShardRateLimiter({ now: () => now, increasePerSecond: 50, decreaseIntervalMs: 100 });
    for (let i = 0; i < 10; i++) {
      expect(limiter.reserve(2, 400)).toBe(0);
      now += 100;
    }
    expect(limiter.limitOf(2)).toBeUndefined();
    // 4,000 records in 1 s on shard 2, then Kinesis throttles it.
    limiter.throttled(2);
    const slowed = limiter.limitOf(2) as number;
    expect(slowed).toBeGreaterThan(1_000);
    expect(slowed).toBeLessThanOrEqual(2_000);
    // A second signal from the same call does not halve again; a later one does.
    limiter.throttled(2);
    expect(limiter.limitOf(2)).toBe(slowed);
    now += 150;
    limiter.throttled(2);
    expect(limiter.limitOf(2)).toBe(slowed / 2);
    // Other shards are untouched.
    expect(limiter.limitOf(0)).toBeUndefined();
    expect(limiter.reserve(0, 500)).toBe(0);
    // The slowed shard now has to wait for tokens...
    expect(limiter.reserve(2, 500)).toBeGreaterThan(0);
    // ...and success raises its rate step by step.
    limiter.succeeded(2);
    expect(limiter.limitOf(2)).toBe(slowed / 2 + 50);
    expect(limiter.throttlesOf(2)).toBe(3);
  });

  it('never slows below the floor', () => {
    let now = 0;
    const limiter = new ShardRateLimiter({ now: () => now, floorPerSecond: 20 });
    for (let i = 0; i < 30; i++) {
      limiter.throttled(0);
      now += 1_000;
    }
    expect(limiter.limitOf(0)).toBe(20);
  });
});

describe('ShardMap', () => {
  it('routes a key by the md5 of the key into the hash-key ranges', () => {
    const step = 2n ** 128n / 4n;
    const map = new ShardMap(
      [3, 1, 0, 2].map((i) => ({ shardId: `shardId-${i}`, startingHashKey: step * BigInt(i) })),
    );
    expect(map.count).toBe(4);
    // md5('a') = 0cc175b9...: first quarter; md5('b') = 92eb5ffe...: third quarter.
    expect(map.shards[map.shardOf('a')]?.shardId).toBe('shardId-0');
    expect(map.shards[map.shardOf('b')]?.shardId).toBe('shardId-2');
  });
});

describe('ProgressTracker', () => {
  it('moves the accounted position only over spans whose records are all settled, in order', () => {
    const tracker = new ProgressTracker({ line: 1, byteOffset: 10, read: 0 });
    const first = tracker.open();
    tracker.add(first);
    tracker.add(first);
    tracker.seal(first, { line: 3, byteOffset: 30, read: 2 });
    const second = tracker.open();
    tracker.add(second);
    tracker.seal(second, { line: 4, byteOffset: 40, read: 3 });
    second.settle(1);
    expect(tracker.accounted.line).toBe(1);
    first.settle(1);
    expect(tracker.accounted.line).toBe(1);
    first.settle(1);
    expect(tracker.accounted).toEqual({ line: 4, byteOffset: 40, read: 3 });
    expect(tracker.readPastSaved).toBe(3);
    tracker.markSaved(tracker.accounted);
    expect(tracker.readPastSaved).toBe(0);
  });
});
