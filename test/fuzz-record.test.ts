/**
 * Bad stream records never crash the aggregator: random base64, JSON of any shape, missing fields and
 * wrong types each come out as a valid event or a malformed record counted by reason and sent to the
 * dead-letter sink, and the valid records beside them are all folded.
 */

import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryDeadLetterSink } from '../consumers/dead-letter.ts';
import { recordText } from '../consumers/kinesis-event.ts';
import { createAggregatorProcessor } from '../consumers/window-aggregator/processor.ts';
import { MALFORMED_REASONS, readEventRecord, type WindowState } from '../core/window.ts';
import { kinesisRecord, makeEvent, windowEvent } from './consumers-factories.ts';

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
  );

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
        const records = entries.map((e) =>
          e.kind === 'valid'
            ? kinesisRecord(makeEvent({ product_id: String(e.product) }))
            : kinesisRecord(null, { raw: e.raw }),
        );
        const expectedValid = records.filter((r) => readEventRecord(recordText(r)).ok).length;
        expect(expectedValid).toBeGreaterThanOrEqual(entries.filter((e) => e.kind === 'valid').length);
        const response = await processor.process(windowEvent(records, {}));
        const state = response.state as WindowState;
        const folded = Object.values(state.entries).reduce(
          (sum, entry) => sum + entry.n.reduce((a, b) => a + b, 0),
          0,
        );
        expect(folded).toBe(expectedValid);
        const summary = processor.summary();
        expect(summary.accepted).toBe(expectedValid);
        expect(summary.malformed).toBe(records.length - expectedValid);
        expect(
          deadLetter
            .records()
            .map((r) => r.sequenceNumber)
            .sort(),
        ).toEqual(
          records
            .filter((r) => !readEventRecord(recordText(r)).ok)
            .map((r) => r.kinesis.sequenceNumber)
            .sort(),
        );
        expect(response.batchItemFailures).toEqual([]);
      }),
      { ...RUNS, numRuns: 100 },
    );
  });
});
