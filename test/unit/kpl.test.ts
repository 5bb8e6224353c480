/**
 * Our KPL aggregate codec against aws-kinesis-agg, AWS's reference implementation: what we build it
 * reads back exactly, and what it builds we read back exactly, so the Lambda deaggregation modules,
 * the KCL and Firehose (which de-aggregates on its own) all read what the producer writes.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AggregateBuilder,
  DEFAULT_AGGREGATE_BYTES,
  deaggregate,
  isAggregated,
  KPL_MAGIC,
  KplFormatError,
} from '../../core/kpl.ts';

interface ReferenceUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  data: string;
}
interface ReferenceAggregator {
  addUserRecord(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): void;
  build(): { partitionKey: string; data: Buffer };
}
const require = createRequire(import.meta.url);
const reference = require('aws-kinesis-agg') as {
  deaggregateSync(
    record: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    done: (error: Error | null | undefined, records?: ReferenceUserRecord[]) => void,
  ): void;
};
const { RecordAggregator } = require('aws-kinesis-agg/lib/kpl-agg.js') as {
  RecordAggregator: new () => ReferenceAggregator;
};

function referenceDeaggregate(data: Uint8Array): ReferenceUserRecord[] {
  let result: ReferenceUserRecord[] | undefined;
  reference.deaggregateSync(
    { data: Buffer.from(data).toString('base64'), partitionKey: 'pk', sequenceNumber: '1' },
    true,
    (error, records) => {
      if (error) throw error;
      result = records;
    },
  );
  return result ?? [];
}

const userRecords = fc.array(
  fc.record({
    partitionKey: fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }),
    data: fc.uint8Array({ maxLength: 600 }),
  }),
  { minLength: 1, maxLength: 60 },
);

describe('KPL aggregated records', () => {
  it('builds what the reference deaggregator reads back record for record, with the exact size it promised', () => {
    fc.assert(
      fc.property(userRecords, (records) => {
        const builder = new AggregateBuilder();
        let promised = builder.size;
        for (const { partitionKey, data } of records) {
          promised += builder.sizeOf(partitionKey, data.length);
          builder.add(partitionKey, data);
        }
        const built = builder.build();
        expect(built.length).toBe(promised);
        expect(isAggregated(built)).toBe(true);
        const read = referenceDeaggregate(built);
        expect(read.map((r) => [r.partitionKey, Buffer.from(r.data, 'base64').toString('hex')])).toEqual(
          records.map((r) => [r.partitionKey, Buffer.from(r.data).toString('hex')]),
        );
      }),
      { numRuns: 200, seed: 20_261_127 },
    );
  });

  it('reads what the reference aggregator builds, explicit hash keys included', () => {
    fc.assert(
      fc.property(userRecords, fc.boolean(), (records, withHashKeys) => {
        const aggregator = new RecordAggregator();
        for (const [i, { partitionKey, data }] of records.entries()) {
          aggregator.addUserRecord({
            partitionKey,
            data: Buffer.from(data),
            ...(withHashKeys ? { explicitHashKey: String(i % 3) } : {}),
          });
        }
        const read = deaggregate(aggregator.build().data);
        expect(
          read.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString('hex')]),
        ).toEqual(
          records.map((r, i) => [
            r.partitionKey,
            withHashKeys ? String(i % 3) : undefined,
            Buffer.from(r.data).toString('hex'),
          ]),
        );
      }),
      { numRuns: 200, seed: 20_261_128 },
    );
  });

  it('keeps a full aggregate of real-sized events under the KPL default size, and starts afresh after build', () => {
    const builder = new AggregateBuilder();
    const event = 'x'.repeat(260);
    while (builder.size + builder.sizeOf('2053013555631882655', 260) <= DEFAULT_AGGREGATE_BYTES)
      builder.add('2053013555631882655', event);
    // 20 bytes of magic and checksum, 21 for the key, 268 per event (tag, length, index, data).
    expect(builder.count).toBe(190);
    const first = builder.build();
    expect(first.length).toBeLessThanOrEqual(DEFAULT_AGGREGATE_BYTES);
    expect([builder.count, builder.size]).toEqual([0, 20]);
    // The next aggregate has memory of its own: the first stays intact while it fills.
    builder.add('other', 'y'.repeat(1_000));
    builder.add('other', 'é');
    const second = builder.build();
    expect(deaggregate(first)).toHaveLength(190);
    expect(deaggregate(first).every((u) => Buffer.from(u.data).toString() === event)).toBe(true);
    expect(deaggregate(second).map((u) => [u.partitionKey, Buffer.from(u.data).toString()])).toEqual([
      ['other', 'y'.repeat(1_000)],
      ['other', 'é'],
    ]);
  });

  it('grows past its reserved memory for a record larger than the cap', () => {
    const builder = new AggregateBuilder(1_000);
    builder.add('a', 'x'.repeat(10));
    builder.add('b', 'z'.repeat(5_000));
    const built = builder.build();
    expect(deaggregate(built).map((u) => [u.partitionKey, u.data.length])).toEqual([
      ['a', 10],
      ['b', 5_000],
    ]);
  });

  it('refuses a corrupted aggregate with a typed error, never a wrong record', () => {
    const builder = new AggregateBuilder();
    builder.add('k', Buffer.from('{"a":1}'));
    builder.add('k', Buffer.from('{"a":2}'));
    const good = builder.build();
    expect(deaggregate(good).map((r) => Buffer.from(r.data).toString())).toEqual(['{"a":1}', '{"a":2}']);
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const bad = Buffer.from(good);
        bad[at] = (bad[at] as number) ^ flip;
        if (at < KPL_MAGIC.length) expect(() => deaggregate(bad)).toThrow(/no magic number/);
        else expect(() => deaggregate(bad)).toThrow(KplFormatError);
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(() => deaggregate(good.subarray(0, good.length - 1))).toThrow(KplFormatError);
    expect(isAggregated(Buffer.from('{"event_time":"2019-10-01T00:00:00Z"}'))).toBe(false);
  });
});
