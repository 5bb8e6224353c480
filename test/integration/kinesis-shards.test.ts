/**
 * Listing a stream's shards, starting to read one and reading it to its tip (adapters/kinesis-shards.ts),
 * against kinesalite, and against scripted GetRecords answers for what kinesalite never answers.
 */
import { GetRecordsCommand, type GetRecordsCommandOutput, type KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isOpenShard,
  listShards,
  MAX_EMPTY_PAGES,
  readToTip,
  shardIterator,
} from '../../adapters/kinesis-shards.ts';
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

/** A client whose GetRecords answers are `pages`, in turn; it counts the calls. */
function scriptedGetRecords(pages: Partial<GetRecordsCommandOutput>[]) {
  const client = {
    calls: 0,
    send: async (command: unknown) => {
      if (!(command instanceof GetRecordsCommand)) throw new Error('only GetRecords is scripted');
      const page = pages[client.calls++];
      if (!page) throw new Error('read past the script');
      return page;
    },
  };
  return client;
}

const texts = (page: { Data?: Uint8Array }[]) =>
  page.map((record) => Buffer.from(record.Data ?? []).toString());
const record = (text: string) => ({ Data: Buffer.from(text), SequenceNumber: text, PartitionKey: 'k' });

describe('reading a shard to its tip', () => {
  it('returns every record page by page and stops at the tip', async () => {
    await createStream(kinesis, 'to-tip', 1);
    await putAllRecords(
      kinesis,
      'to-tip',
      ['a', 'b', 'c', 'd', 'e'].map((text) => ({ partitionKey: 'k', data: Buffer.from(text) })),
    );
    const iterator = await shardIterator(kinesis, 'to-tip', 'shardId-000000000000', { type: 'TRIM_HORIZON' });
    const pages: string[][] = [];
    for await (const page of readToTip(kinesis, iterator, { limit: 2 })) pages.push(texts(page));
    expect(pages).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('reads on through empty pages while behind the tip', async () => {
    const client = scriptedGetRecords([
      { Records: [], MillisBehindLatest: 5_000, NextShardIterator: 'i2' },
      { Records: [record('x')], MillisBehindLatest: 1_000, NextShardIterator: 'i3' },
      { Records: [], MillisBehindLatest: 0, NextShardIterator: 'i4' },
    ]);
    const pages: string[][] = [];
    for await (const page of readToTip(client as unknown as KinesisClient, 'i1')) pages.push(texts(page));
    expect(pages).toEqual([['x']]);
    expect(client.calls).toBe(3);
  });

  it(`gives up after ${MAX_EMPTY_PAGES} empty pages in a row still behind the tip`, async () => {
    const empty = { Records: [], MillisBehindLatest: 5_000, NextShardIterator: 'next' };
    const client = scriptedGetRecords(Array.from({ length: MAX_EMPTY_PAGES + 5 }, () => empty));
    const pages: unknown[] = [];
    for await (const page of readToTip(client as unknown as KinesisClient, 'i1')) pages.push(page);
    expect(pages).toEqual([]);
    expect(client.calls).toBe(MAX_EMPTY_PAGES);
  });

  it('ends at a closed shard’s last page, and makes no call once aborted', async () => {
    const closed = scriptedGetRecords([{ Records: [record('last')], MillisBehindLatest: 0 }]);
    const pages: string[][] = [];
    for await (const page of readToTip(closed as unknown as KinesisClient, 'i1')) pages.push(texts(page));
    expect(pages).toEqual([['last']]);
    expect(closed.calls).toBe(1);

    const aborted = scriptedGetRecords([{ Records: [record('never')], NextShardIterator: 'i2' }]);
    const signal = AbortSignal.abort();
    for await (const _ of readToTip(aborted as unknown as KinesisClient, 'i1', { signal })) pages.push([]);
    expect(aborted.calls).toBe(0);
  });
});
