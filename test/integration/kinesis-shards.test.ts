/** Listing a stream's shards and starting to read one (adapters/kinesis-shards.ts), against kinesalite. */
import { GetRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOpenShard, listShards, shardIterator } from '../../adapters/kinesis-shards.ts';
import { putAllRecords } from '../../consumers/put-records.ts';
import { createStream, pagingListShards, startKinesis } from '../support/consumers-emulators.ts';

let kinesis: KinesisClient;
let stopKinesis: () => Promise<void>;

beforeAll(async () => {
  ({ kinesis, stop: stopKinesis } = await startKinesis());
});
afterAll(async () => stopKinesis());

describe('Kinesis shards', () => {
  it('lists every shard of a stream whose ListShards answer comes in pages', async () => {
    await createStream(kinesis, 'paged', 5);
    const shards = await listShards(pagingListShards(kinesis, 2), 'paged');
    expect(shards.map((shard) => shard.ShardId)).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      'shardId-000000000003',
      'shardId-000000000004',
    ]);
    expect(shards.every(isOpenShard)).toBe(true);
  });

  it('takes a closed parent of a reshard for closed', () => {
    expect(isOpenShard({ ShardId: 'a', SequenceNumberRange: { StartingSequenceNumber: '1' } } as never)).toBe(
      true,
    );
    expect(
      isOpenShard({
        ShardId: 'b',
        SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '9' },
      } as never),
    ).toBe(false);
  });

  it('starts reading at the start, at a record or after it', async () => {
    await createStream(kinesis, 'positions', 1);
    await putAllRecords(
      kinesis,
      'positions',
      ['a', 'b', 'c'].map((text) => ({ partitionKey: 'k', data: Buffer.from(text) })),
    );
    const read = async (position: Parameters<typeof shardIterator>[3]) => {
      const iterator = await shardIterator(kinesis, 'positions', 'shardId-000000000000', position);
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      return page.Records ?? [];
    };
    const all = await read({ type: 'TRIM_HORIZON' });
    expect(all.map((record) => Buffer.from(record.Data ?? []).toString())).toEqual(['a', 'b', 'c']);
    const second = all[1]?.SequenceNumber ?? '';
    const texts = (records: typeof all) => records.map((record) => Buffer.from(record.Data ?? []).toString());
    expect(texts(await read({ type: 'AT_SEQUENCE_NUMBER', sequenceNumber: second }))).toEqual(['b', 'c']);
    expect(texts(await read({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: second }))).toEqual(['c']);
    expect(await read({ type: 'LATEST' })).toEqual([]);
  });
});
