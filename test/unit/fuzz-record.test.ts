/**
 * Bad stream records never crash the aggregator: random base64, JSON of any shape, missing fields and
 * wrong types each come out as a valid event or a malformed record counted by reason and sent to the
 * dead-letter sink, and the valid records beside them are all folded. The same holds for events inside
 * KPL aggregated records, and for aggregates whose framing or checksum is broken.
 */

import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryDeadLetterSink } from '../../consumers/dead-letter.ts';
import { createAggregatorProcessor } from '../../consumers/window-aggregator/processor.ts';
import { AggregateBuilder } from '../../core/kpl.ts';
import { MALFORMED_REASONS, readEventRecord, type WindowState } from '../../core/window.ts';
import { kinesisRecord, makeEvent, windowEvent } from '../support/consumers-factories.ts';

const RUNS = { numRuns: 150, seed: 20_240_601 };

function expectReadable(text: string) {
  const result = readEventRecord(text);
  if (!result.ok) expect(MALFORMED_REASONS).toContain(result.reason);
  else expect(Number.isFinite(result.eventMs)).toBe(true);
  return result;
}

/** A record that is almost valid: one field removed or given a value of another type. */
const mutatedRecord = fc
  .record({
    field: fc.constantFrom(
      'event_time',
      'event_type',
      'price',
      'user_id',
      'product_id',
      'category_id',
      'user_session',
    ),
    remove: fc.boolean(),
    value: fc.oneof(
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.string(),
      fc.array(fc.integer()),
      fc.object(),
    ),
  })
  .map(({ field, remove, value }) => {
    const record: Record<string, unknown> = { ...makeEvent() };
    if (remove) delete record[field];
    else record[field] = value;
    return record;
  });

describe('readEventRecord', () => {
  it('turns any text into an event or a malformed reason', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => void expectReadable(text)),
      RUNS,
    );
  });

  it('turns any JSON value into an event or a malformed reason', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => void expectReadable(JSON.stringify(value) ?? '')),
      RUNS,
    );
  });

  it('accepts a mutated record only when the mutation left every field valid', () => {
    fc.assert(
      fc.property(mutatedRecord, (record) => {
        const result = expectReadable(JSON.stringify(record));
        const valid = makeEvent();
        const stillValid =
          typeof record.event_time === 'string' &&
          /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(record.event_time) &&
          !Number.isNaN(Date.parse(record.event_time)) &&
          ['view', 'cart', 'remove_from_cart', 'purchase'].includes(record.event_type as string) &&
          typeof record.price === 'number' &&
          Number.isFinite(record.price) &&
          record.price >= 0 &&
          (['user_id', 'product_id', 'category_id'] as const).every(
            (f) => typeof record[f] === 'string' && record[f] !== '' && (record[f] as string).length <= 256,
          ) &&
          (record.user_session === null ||
            (typeof record.user_session === 'string' &&
              record.user_session !== '' &&
              record.user_session.length <= 256));
        expect(result.ok).toBe(stillValid);
        if (result.ok) expect(result.event.user_id).toBe(record.user_id ?? valid.user_id);
      }),
      RUNS,
    );
  });
});

describe('window aggregator on mixed batches', () => {
  // A batch that does not end a window only folds: nothing reaches DynamoDB or Kinesis, so no clients are needed.
  const unused = new Proxy(
    {},
    {
      get: () => {
        throw new Error('no AWS call expected');
      },
    },
  );
  const entry = fc.oneof(
    fc.record({ kind: fc.constant('valid' as const), product: fc.integer({ min: 1, max: 10 ** 9 }) }),
    fc.record({ kind: fc.constant('base64' as const), raw: fc.base64String({ maxLength: 200 }) }),
    fc.record({
      kind: fc.constant('bytes' as const),
      raw: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
    }),
    fc.record({
      kind: fc.constant('json' as const),
      raw: fc
        .jsonValue({ maxDepth: 2 })
        .map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64')),
    }),
    fc.record({
      kind: fc.constant('mutated' as const),
      raw: mutatedRecord.map((r) => Buffer.from(JSON.stringify(r)).toString('base64')),
    }),
    fc.record({
      kind: fc.constant('aggregate' as const),
      events: fc.array(
        fc.oneof(
          fc
            .integer({ min: 1, max: 10 ** 9 })
            .map((p) => JSON.stringify(makeEvent({ product_id: String(p) }))),
          mutatedRecord.map((r) => JSON.stringify(r)),
          fc.string({ maxLength: 50 }),
        ),
        { minLength: 1, maxLength: 8 },
      ),
      // Flip one byte past the magic number: the checksum (or the framing) no longer holds.
      corruptAt: fc.option(fc.nat(), { nil: undefined }),
    }),
  );

  /** The texts of the events in a record as a consumer must read them; none for a broken aggregate. */
  function eventsOf(e: typeof entry extends fc.Arbitrary<infer T> ? T : never): string[] | 'broken' {
    if (e.kind === 'aggregate') return e.corruptAt === undefined ? e.events : 'broken';
    if (e.kind === 'valid') return [JSON.stringify(makeEvent({ product_id: String(e.product) }))];
    return [Buffer.from(e.raw, 'base64').toString('utf8')];
  }

  function recordOf(e: typeof entry extends fc.Arbitrary<infer T> ? T : never) {
    if (e.kind === 'valid') return kinesisRecord(makeEvent({ product_id: String(e.product) }));
    if (e.kind !== 'aggregate') return kinesisRecord(null, { raw: e.raw });
    const builder = new AggregateBuilder();
    for (const text of e.events) builder.add('pk', Buffer.from(text));
    const bytes = builder.build();
    if (e.corruptAt !== undefined) {
      const at = 4 + (e.corruptAt % (bytes.length - 4));
      bytes[at] = (bytes[at] as number) ^ 0x5a;
    }
    return kinesisRecord(null, { raw: bytes.toString('base64') });
  }

  it('folds every valid record once and counts every other one as malformed, in the dead-letter sink', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 40 }), async (entries) => {
        const deadLetter = createMemoryDeadLetterSink();
        const processor = createAggregatorProcessor({
          dynamo: unused as DynamoDBDocumentClient,
          kinesis: unused as KinesisClient,
          tableName: 't',
          streamName: 's',
          deadLetter,
        });
        const records = entries.map(recordOf);
        const texts = entries.map(eventsOf);
        const valid = (text: string) => readEventRecord(text).ok;
        const expectedValid = texts.reduce((n, t) => n + (t === 'broken' ? 0 : t.filter(valid).length), 0);
        const expectedMalformed = texts.reduce(
          (n, t) => n + (t === 'broken' ? 1 : t.filter((text) => !valid(text)).length),
          0,
        );
        expect(expectedValid).toBeGreaterThanOrEqual(entries.filter((e) => e.kind === 'valid').length);
        const response = await processor.process(windowEvent(records, {}));
        const state = response.state as WindowState;
        const folded = Object.values(state.entries).reduce(
          (sum, entry) => sum + entry.e.reduce((a, ids) => a + ids.length, 0),
          0,
        );
        expect(folded).toBe(expectedValid);
        const summary = processor.summary();
        expect(summary.accepted).toBe(expectedValid);
        expect(summary.malformed).toBe(expectedMalformed);
        expect(summary.events).toBe(expectedValid + expectedMalformed);
        // Each malformed event names its record (and its place in an aggregate); a broken aggregate is one entry.
        expect(
          deadLetter
            .records()
            .map((r) => `${r.sequenceNumber}/${r.subSequenceNumber ?? '-'}/${r.reason}`)
            .sort(),
        ).toEqual(
          entries
            .flatMap((e, i) => {
              const sequenceNumber = records[i]?.kinesis.sequenceNumber;
              const t = texts[i] as string[] | 'broken';
              if (t === 'broken') return [`${sequenceNumber}/-/bad_aggregate`];
              return t.flatMap((text, j) => {
                const read = readEventRecord(text);
                return read.ok
                  ? []
                  : [`${sequenceNumber}/${e.kind === 'aggregate' ? j : '-'}/${read.reason}`];
              });
            })
            .sort(),
        );
        expect(response.batchItemFailures).toEqual([]);
      }),
      { ...RUNS, numRuns: 100 },
    );
  });
});
