/**
 * Consumer benchmarks (not tests). `npx tsx test/bench/consumers.ts` prints both figures.
 * The handler benchmark uses in-memory stand-in clients (every UpdateItem and PutRecords succeeds at
 * once), so it measures the handler's own CPU path: decode, validate, fold, flush bookkeeping.
 */

import { performance } from 'node:perf_hooks';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createMemoryDeadLetterSink } from '../../consumers/dead-letter.ts';
import { createAggregatorProcessor } from '../../consumers/window-aggregator/processor.ts';
import type { EventRecord } from '../../core/event.ts';
import { emptyWindowState, foldEvent, takePartials } from '../../core/window.ts';
import { kinesisRecord, windowEvent } from '../support/consumers-factories.ts';

function syntheticEvent(n: number): EventRecord {
  return {
    event_time: `2019-10-01T00:${String(Math.floor(n / 50_000) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}Z`,
    event_type: n % 20 === 0 ? 'cart' : n % 97 === 0 ? 'purchase' : 'view',
    product_id: String(1_000_000 + (n % 3_000)),
    category_id: '2053013555631882655',
    category_code: null,
    brand: null,
    price: 12.34,
    user_id: String(500_000_000 + (n % 2_000)),
    user_session: `session-${n % 4_000}`,
    event_id: `Xk3_a9Qz${n.toString(36)}`,
    replayed_at: '2024-01-01T00:00:00Z',
  };
}

/** Events per second through the pure fold (already-decoded events, named by their event ids as the aggregator does). */
export function benchFold(events = 2_000_000): { events: number; seconds: number; eventsPerSecond: number } {
  const input = Array.from({ length: 100_000 }, (_, i) => syntheticEvent(i));
  const times = input.map((event) => Date.parse(event.event_time));
  const state = emptyWindowState(60);
  const start = performance.now();
  for (let i = 0; i < events; i++) {
    const k = i % input.length;
    const event = input[k] as EventRecord;
    if (foldEvent(state, event, times[k] as number, String(i), undefined, event.event_id))
      takePartials(state, 'bench');
  }
  const seconds = (performance.now() - start) / 1000;
  return { events, seconds, eventsPerSecond: Math.round(events / seconds) };
}

/** Records per second through the aggregator handler on 10k-record batches, in-memory clients. */
export async function benchAggregatorHandler(
  batches = 20,
): Promise<{ records: number; seconds: number; recordsPerSecond: number }> {
  const dynamo = { send: async () => ({ Attributes: {} }) } as unknown as DynamoDBDocumentClient;
  const kinesis = { send: async () => ({ FailedRecordCount: 0, Records: [] }) } as unknown as KinesisClient;
  const processor = createAggregatorProcessor({
    dynamo,
    kinesis,
    tableName: 't',
    streamName: 's',
    deadLetter: createMemoryDeadLetterSink(),
  });
  const prepared = Array.from({ length: batches }, (_, b) =>
    Array.from({ length: 10_000 }, (_, i) => kinesisRecord(syntheticEvent(b * 10_000 + i))),
  );
  let state: unknown = {};
  const start = performance.now();
  for (const records of prepared) {
    const response = await processor.process(windowEvent(records, JSON.parse(JSON.stringify(state))));
    state = response.state;
  }
  const seconds = (performance.now() - start) / 1000;
  const records = batches * 10_000;
  return { records, seconds, recordsPerSecond: Math.round(records / seconds) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('fold', benchFold());
  console.log('aggregator handler', await benchAggregatorHandler());
}
