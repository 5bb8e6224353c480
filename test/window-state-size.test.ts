/**
 * AWS: tumbling-window state ≤ 1 MB per shard
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html). A 1M-event window fed
 * through the aggregator in-process, the state serialized between invocations as Lambda does.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { expect, it } from 'vitest';
import { createMemoryDeadLetterSink } from '../consumers/dead-letter.ts';
import { createAggregatorProcessor } from '../consumers/window-aggregator/processor.ts';
import { LAMBDA_STATE_LIMIT_BYTES } from '../core/window.ts';
import { kinesisRecord, windowEvent } from './consumers-factories.ts';

/** In-memory stand-ins: every UpdateItem succeeds, every PutRecords entry is accepted. */
export function nullClients() {
  const calls = { updates: 0, puts: 0 };
  const dynamo = { send: async () => (calls.updates++, { Attributes: {} }) } as unknown as DynamoDBDocumentClient;
  const kinesis = { send: async () => (calls.puts++, { FailedRecordCount: 0, Records: [] }) } as unknown as KinesisClient;
  return { dynamo, kinesis, calls };
}

it('keeps the serialized state under 1 MB through a 1M-event window, and accounts for every event', async () => {
  const { dynamo, kinesis } = nullClients();
  const processor = createAggregatorProcessor({ dynamo, kinesis, tableName: 't', streamName: 's', deadLetter: createMemoryDeadLetterSink() });
  let stateJson = '{}';
  let maxStateBytes = 0;
  const batchSize = 10_000;
  for (let batch = 0; batch < 100; batch++) {
    const records = Array.from({ length: batchSize }, (_, i) => {
      const n = batch * batchSize + i;
      return kinesisRecord({
        event_time: `2019-10-01T00:${String(Math.floor(n / 20_000) % 60).padStart(2, '0')}:00Z`,
        event_type: n % 10 === 0 ? 'cart' : 'view',
        product_id: String(1_000_000 + (n % 50_000)),
        category_id: '2053013555631882655',
        category_code: null,
        brand: null,
        price: 1.5,
        user_id: String(500_000_000 + (n % 5_000)),
        user_session: `session-${n}`,
        replayed_at: '2024-01-01T00:00:00Z',
      });
    });
    const response = await processor.process(windowEvent(records, JSON.parse(stateJson), { final: false }));
    stateJson = JSON.stringify(response.state);
    maxStateBytes = Math.max(maxStateBytes, Buffer.byteLength(stateJson));
  }
  await processor.process(windowEvent([], JSON.parse(stateJson), { final: true }));
  const summary = processor.summary();
  expect(maxStateBytes).toBeLessThanOrEqual(LAMBDA_STATE_LIMIT_BYTES);
  expect(maxStateBytes).toBeGreaterThan(400 * 1024); // it did grow to the flush point (the estimate runs high)
  expect(summary.accepted).toBe(1_000_000);
  expect(summary.malformed).toBe(0);
}, 120_000);
