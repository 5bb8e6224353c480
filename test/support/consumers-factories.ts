/** Record factories for the consumer tests (not a test file itself). */
import type { KinesisStreamRecord } from 'aws-lambda';
import type { KinesisWindowEvent } from '../../consumers/kinesis-event.ts';
import type { EventRecord, EventType } from '../../core/event.ts';

let nextEventId = 0;

/** A producer record; each call names a new event (a fresh event_id) unless `event_id` is given. */
export function makeEvent(overrides: Partial<EventRecord> = {}): EventRecord {
  nextEventId++;
  return {
    event_time: '2019-10-01T00:00:05Z',
    event_type: 'view',
    product_id: '1004856',
    category_id: '2053013555631882655',
    category_code: 'electronics.smartphone',
    brand: 'samsung',
    price: 130.76,
    user_id: '512345678',
    user_session: 'c6f1a1c2-0000-4000-8000-000000000001',
    event_id: `test${nextEventId.toString(36)}`,
    replayed_at: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function eventsOfType(type: EventType, count: number, base: Partial<EventRecord> = {}): EventRecord[] {
  return Array.from({ length: count }, (_, i) =>
    makeEvent({ ...base, event_type: type, product_id: String(1000 + i) }),
  );
}

let sequence = 10n ** 20n;

export function kinesisRecord(
  body: unknown,
  options: { shardId?: string; raw?: string } = {},
): KinesisStreamRecord {
  sequence += 1n;
  const shardId = options.shardId ?? 'shardId-000000000000';
  const sequenceNumber = sequence.toString();
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'pk',
      sequenceNumber,
      data: options.raw ?? Buffer.from(JSON.stringify(body)).toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000.123,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/test',
  };
}

export function windowEvent(
  records: KinesisStreamRecord[],
  state: unknown,
  flags: { final?: boolean; shardId?: string } = {},
): KinesisWindowEvent<unknown> {
  return {
    Records: records,
    window: { start: '2023-11-14T22:13:00Z', end: '2023-11-14T22:14:00Z' },
    state: state as Record<string, unknown>,
    shardId: flags.shardId ?? 'shardId-000000000000',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/test',
    isFinalInvokeForWindow: flags.final ?? false,
    isWindowTerminatedEarly: false,
  };
}
