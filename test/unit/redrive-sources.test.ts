/**
 * What `clickstream redrive` reads, on its own: the failed-records and dead-letter formats, a dead letter
 * read again with today's code, the on-failure record of a parked batch and the range arithmetic
 * (sequence numbers are decimals past 2^64, retention is by arrival time).
 */
import { describe, expect, it } from 'vitest';
import type { MalformedRecord } from '../../consumers/dead-letter.ts';
import { AggregateBuilder } from '../../core/kpl.ts';
import {
  type FailureRange,
  parseDeadLetters,
  parseFailedRecords,
  parseFailureRecord,
  positionInRange,
  RedriveError,
  rangeCompleteness,
  reparseDeadLetter,
  retentionOf,
  streamNameOfArn,
} from '../../producer/redrive-sources.ts';
import { makeEvent } from '../support/consumers-factories.ts';

const event = (overrides: Parameters<typeof makeEvent>[0] = {}) => JSON.stringify(makeEvent(overrides));

describe('failed-records files', () => {
  it('keep each event body and partition key exactly, blank lines aside', () => {
    const body = event({ event_id: 'Xk3_a9Qz2s1' });
    const text = `{"line":9,"partitionKey":"2053013555631882655","errorCode":"InternalFailure","errorMessage":"x","record":${body}}\n\n`;
    const [entry, ...rest] = parseFailedRecords(text, 'a.failed.jsonl');
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({ line: 9, partitionKey: '2053013555631882655', json: body });
    expect(entry?.event.event_id).toBe('Xk3_a9Qz2s1');
  });

  it('refuse a file that is not one, naming the line, before anything is sent', () => {
    const good = `{"line":1,"partitionKey":"c","record":${event()}}`;
    const cases: Array<[string, RegExp]> = [
      ['event_time,event_type\n', /f:1 is not JSON/],
      [`${good}\n{"line":2,"record":${event()}}`, /f:2 is not a failed-records entry \(no partitionKey\)/],
      [`${good}\n{"line":2,"partitionKey":"c"}`, /f:2 is not a failed-records entry \(no record\)/],
      [`{"partitionKey":"c","record":{"event_type":"view"}}`, /f:1: the record is not an event/],
      [`{"partitionKey":"","record":${event()}}`, /partitionKey must be 1-256 bytes/],
    ];
    for (const [text, message] of cases) {
      const thrown = (() => {
        try {
          parseFailedRecords(text, 'f');
        } catch (error) {
          return error;
        }
      })();
      expect(thrown, text).toBeInstanceOf(RedriveError);
      expect((thrown as RedriveError).message).toMatch(message);
      expect((thrown as RedriveError).hint).toMatch(/nothing was sent/);
    }
  });
});

const letter = (data: Uint8Array | string, overrides: Partial<MalformedRecord> = {}): MalformedRecord => ({
  reason: 'bad_field',
  detail: 'price is not a non-negative number',
  shardId: 'shardId-000000000001',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
  partitionKey: '2053013555631882655',
  approximateArrivalTimestamp: 1_700_000_000,
  data: Buffer.from(data).toString('base64'),
  ...overrides,
});

describe('dead letters', () => {
  it('are read line by line, and a line that is not one is an error', () => {
    const text = `${JSON.stringify(letter(event()))}\n${JSON.stringify(letter('x'))}\n`;
    expect(parseDeadLetters(text, 'd.jsonl').map((l) => l.where)).toEqual(['d.jsonl:1', 'd.jsonl:2']);
    expect(() => parseDeadLetters('{"reason":"bad_json"}', 'd.jsonl')).toThrow(
      /d.jsonl:1 is not a dead letter/,
    );
    expect(() => parseDeadLetters('nope', 'd.jsonl')).toThrow(/d.jsonl:1 is not JSON/);
  });

  it('read again: an event that parses now is returned as it was received', () => {
    const body = event({ event_id: 'fixed1' });
    expect(reparseDeadLetter(letter(body))).toEqual({
      ok: true,
      events: [{ json: body, event: JSON.parse(body) }],
    });
  });

  it('read again: what still fails says why, as the aggregator would', () => {
    expect(reparseDeadLetter(letter('not json'))).toMatchObject({
      ok: false,
      reason: 'bad_json',
      events: [],
    });
    const stringPrice = JSON.stringify({ ...makeEvent(), price: '12.50' });
    expect(reparseDeadLetter(letter(stringPrice))).toMatchObject({ ok: false, reason: 'bad_field' });
  });

  it('read again: a KPL aggregate gives each of its events; one bad event fails the letter but not the others', () => {
    const good = event({ event_id: 'agg1' });
    const builder = new AggregateBuilder(64 * 1024);
    builder.add('k1', good, Buffer.byteLength(good));
    builder.add('k2', 'garbage', 7);
    const reparsed = reparseDeadLetter(letter(builder.build(), { reason: 'bad_aggregate' }));
    expect(reparsed).toMatchObject({ ok: false, reason: 'bad_json' });
    expect(reparsed.events.map((e) => e.json)).toEqual([good]);
    // A record that claims to be an aggregate and is not stays one bad aggregate.
    const broken = Buffer.concat([
      Buffer.from([0xf3, 0x89, 0x9a, 0xc2]),
      Buffer.from('junk-without-a-checksum'),
    ]);
    expect(reparseDeadLetter(letter(broken))).toMatchObject({ ok: false, reason: 'bad_aggregate' });
  });
});

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/clickstream-events';
const onFailure = (info: Record<string, unknown>) => ({
  requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
  responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
  version: '1.0',
  timestamp: '2019-11-14T00:13:49.717Z',
  KinesisBatchInfo: {
    shardId: 'shardId-000000000001',
    startSequenceNumber: '49601189658422359378836298521827638475320189012309704722',
    endSequenceNumber: '49601189658422359378836298522902373528957594348623495186',
    approximateArrivalOfFirstRecord: '2019-11-14T00:12:53.435Z',
    approximateArrivalOfLastRecord: '2019-11-14T00:12:53.435Z',
    batchSize: 500,
    streamArn: STREAM_ARN,
    ...info,
  },
});

describe('on-failure records', () => {
  it('give the shard, the sequence range, the batch size, the stream and the arrival times', () => {
    const range = parseFailureRecord(JSON.stringify(onFailure({})));
    expect(range).toEqual({
      shardId: 'shardId-000000000001',
      startSequenceNumber: '49601189658422359378836298521827638475320189012309704722',
      endSequenceNumber: '49601189658422359378836298522902373528957594348623495186',
      batchSize: 500,
      streamArn: STREAM_ARN,
      firstArrivalMs: Date.parse('2019-11-14T00:12:53.435Z'),
      lastArrivalMs: Date.parse('2019-11-14T00:12:53.435Z'),
    });
    expect(streamNameOfArn(STREAM_ARN)).toBe('clickstream-events');
    expect(streamNameOfArn('arn:aws:sqs:us-east-1:123456789012:q')).toBeUndefined();
  });

  it('say what is wrong with a message that is not one', () => {
    expect(parseFailureRecord('{')).toEqual({ invalid: 'not JSON' });
    expect(parseFailureRecord('{"Records":[]}')).toEqual({ invalid: 'no KinesisBatchInfo' });
    expect(parseFailureRecord(onFailure({ startSequenceNumber: 'abc' }))).toEqual({
      invalid: 'no startSequenceNumber',
    });
    expect(
      parseFailureRecord(onFailure({ startSequenceNumber: '9', endSequenceNumber: '10' })),
    ).not.toHaveProperty('invalid');
    expect(parseFailureRecord(onFailure({ startSequenceNumber: '10', endSequenceNumber: '9' }))).toEqual({
      invalid: 'endSequenceNumber is before startSequenceNumber',
    });
    expect(parseFailureRecord(onFailure({ batchSize: 0 }))).toEqual({ invalid: 'no batchSize' });
    expect(parseFailureRecord(onFailure({ streamArn: 'stream' }))).toEqual({ invalid: 'no streamArn' });
    expect(parseFailureRecord(onFailure({ approximateArrivalOfLastRecord: 'soon' }))).toEqual({
      invalid: 'no arrival times',
    });
  });
});

describe('ranges', () => {
  // Past 2^64, where Number would round: the compare must be exact.
  const range: FailureRange = {
    shardId: 'shardId-000000000000',
    startSequenceNumber: '49590338271490256608559692538361571095921575989136588898',
    endSequenceNumber: '49590338271490256608559692538361571095921575989136588900',
    batchSize: 3,
    streamArn: STREAM_ARN,
    firstArrivalMs: Date.UTC(2026, 0, 1, 10),
    lastArrivalMs: Date.UTC(2026, 0, 1, 11),
  };
  const seq = (last: number) => `4959033827149025660855969253836157109592157598913658${last}`;

  it('place a sequence number before, in or after the range, exactly', () => {
    expect(positionInRange(seq(8897), range)).toBe('before');
    expect(positionInRange(seq(8898), range)).toBe('in');
    expect(positionInRange(seq(8900), range)).toBe('in');
    expect(positionInRange(seq(8901), range)).toBe('after');
  });

  it('are complete when the records read run from start to end and number the batch size', () => {
    expect(rangeCompleteness(range, [seq(8898), seq(8899), seq(8900)])).toEqual({
      complete: true,
      missing: 0,
      trimmedFront: false,
    });
    // The first ones passed the retention: the read starts later.
    expect(rangeCompleteness(range, [seq(8900)])).toEqual({
      complete: false,
      missing: 2,
      trimmedFront: true,
    });
    expect(rangeCompleteness(range, [])).toEqual({ complete: false, missing: 3, trimmedFront: true });
    // Start and end there, one in between missing: not retention (that trims from the front).
    expect(rangeCompleteness(range, [seq(8898), seq(8900)])).toEqual({
      complete: false,
      missing: 1,
      trimmedFront: false,
    });
  });

  it('are within, partly past or wholly past the retention, by arrival time', () => {
    const hour = 3_600_000;
    expect(retentionOf(range, 24, range.lastArrivalMs + 23 * hour - 1)).toBe('within');
    expect(retentionOf(range, 24, range.firstArrivalMs + 24 * hour + 1)).toBe('partly');
    expect(retentionOf(range, 24, range.lastArrivalMs + 24 * hour + 1)).toBe('expired');
    expect(retentionOf(range, 168, range.lastArrivalMs + 25 * hour)).toBe('within');
  });
});
