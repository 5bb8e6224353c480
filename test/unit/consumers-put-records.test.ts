/**
 * The aggregator's PutRecords to the user-activity stream against a throttled shard: Kinesis answers
 * 200 with ProvisionedThroughputExceededException per record while the shard's second is used up, and
 * the put must wait that out (within the function's timeout) instead of failing the batch.
 */
import {
  KinesisClient,
  PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsumerError } from '../../consumers/errors.ts';
import { PUT_RECORDS_RETRY_BUDGET_MS, putAllRecords, type StreamEntry } from '../../consumers/put-records.ts';

const kinesisMock = mockClient(KinesisClient);
afterEach(() => kinesisMock.reset());

const entries = (n: number): StreamEntry[] =>
  Array.from({ length: n }, (_, i) => ({ partitionKey: `user-${i}`, data: Buffer.from(`partial ${i}`) }));

/**
 * A stream throttled until `throttledUntilMs` of a virtual clock, then taking `perCall` records a call
 * (the rest throttled), recording every record it accepted. The clock moves only when the put sleeps.
 */
function throttledStream(throttledUntilMs: number, perCall = Number.POSITIVE_INFINITY) {
  const clock = { ms: 0 };
  const accepted: string[] = [];
  const sleeps: number[] = [];
  kinesisMock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
    let taken = 0;
    const results: PutRecordsResultEntry[] = (input.Records ?? []).map((record) => {
      if (clock.ms < throttledUntilMs || taken >= perCall) {
        return {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: 'Rate exceeded for shard',
        };
      }
      taken++;
      accepted.push(record.PartitionKey ?? '');
      return { SequenceNumber: String(accepted.length), ShardId: 'shardId-000000000000' };
    });
    return { FailedRecordCount: results.filter((r) => r.ErrorCode).length, Records: results };
  });
  const options = {
    now: () => clock.ms,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock.ms += ms;
    },
    random: () => 0.5,
  };
  return { clock, accepted, sleeps, options };
}

describe('putAllRecords against a throttled shard', () => {
  it('waits out two and a half throttled seconds, then puts every record exactly once', async () => {
    const stream = throttledStream(2_500);
    const stats = await putAllRecords(new KinesisClient({}), 'user-activity', entries(300), stream.options);
    expect(stream.accepted).toEqual(entries(300).map((e) => e.partitionKey));
    // Exponential backoff capped per sleep, half of each step fixed and half jitter (random() = 0.5):
    // 75, 150, 300, 600, 1200 ms, then the first call after 2,325 ms still throttled, then 1500 ms.
    expect(stream.sleeps).toEqual([75, 150, 300, 600, 1200, 1500]);
    expect(stats).toEqual({ calls: 7, resent: 6 * 300 });
    expect(stream.clock.ms).toBeLessThan(PUT_RECORDS_RETRY_BUDGET_MS);
  });

  it('resends only the records a call did not take', async () => {
    const stream = throttledStream(0, 120);
    const stats = await putAllRecords(new KinesisClient({}), 'user-activity', entries(300), stream.options);
    expect(stream.accepted).toEqual(entries(300).map((e) => e.partitionKey));
    expect(stats).toEqual({ calls: 3, resent: 180 + 60 });
    const sent = kinesisMock
      .commandCalls(PutRecordsCommand)
      .map((call) => call.args[0].input.Records?.length);
    expect(sent).toEqual([300, 180, 60]);
  });

  it('gives up once its retry budget is spent, naming the stream, the records left and the error', async () => {
    const stream = throttledStream(Number.POSITIVE_INFINITY);
    const put = putAllRecords(new KinesisClient({}), 'user-activity', entries(10), stream.options);
    await expect(put).rejects.toThrow(ConsumerError);
    await expect(put).rejects.toThrow(
      /PutRecords to user-activity: 10 records still failing after \d+ attempts over \d+ s \(ProvisionedThroughputExceededException\)/,
    );
    expect(stream.accepted).toEqual([]);
    // It stops before the budget would be overrun by the next sleep, so the function does not time out.
    expect(stream.clock.ms).toBeLessThanOrEqual(PUT_RECORDS_RETRY_BUDGET_MS);
    expect(stream.clock.ms).toBeGreaterThan(PUT_RECORDS_RETRY_BUDGET_MS - 2_000);
  });
});
