/**
 * The Kinesis shard limits in front of kinesalite answer as Kinesis does when a shard's budget is
 * used up: PutRecords fails the entries over budget at their indices, PutRecord and GetRecords fail
 * whole, all with ProvisionedThroughputExceededException. The budgets run on a clock the test moves,
 * so every count is exact.
 */
import { request, type Server } from 'node:http';
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  ProvisionedThroughputExceededException,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../adapters/clients.ts';
import { createBufferingServer, forwardRequest } from '../../local/http-forward.ts';
import { type LocalKinesis, startLocalKinesis } from '../../local/kinesis/emulator.ts';
import { jsonError } from '../../local/kinesis/put-records.ts';
import { type KinesisLimits, startKinesisLimits } from '../../local/limits/kinesis-front.ts';
import { listen } from '../../local/net.ts';
import { createStream, startKinesis, type TestKinesis } from '../support/producer-support.ts';

const STREAM = 'limits';
const SHARD_0 = 'shardId-000000000000';
const SHARD_1 = 'shardId-000000000001';
// Two shards split the 128-bit hash key space in halves: these keys land on one each.
const ON_SHARD_0 = '0';
const ON_SHARD_1 = String(2n ** 128n - 1n);
const refusal = (shardId: string) => ({
  ErrorCode: 'ProvisionedThroughputExceededException',
  ErrorMessage: `Rate exceeded for shard ${shardId} in stream ${STREAM} under account 000000000000.`,
});

let emulator: TestKinesis;
let limits: KinesisLimits;
let client: KinesisClient;
let ms: number;
const advance = (by: number) => {
  ms += by;
};

beforeEach(async () => {
  emulator = await startKinesis(2, STREAM);
  ms = 0;
  limits = await startKinesisLimits({ upstream: emulator.endpoint, now: () => ms });
  // One attempt: an SDK retry would be one more call against the budgets.
  client = createKinesisClient({ endpoint: limits.endpoint, maxAttempts: 1 });
});

afterEach(async () => {
  client.destroy();
  await limits.stop();
  await emulator.stop();
});

const entry = (hashKey: string, bytes = 1, key = 'k'): PutRecordsRequestEntry => ({
  Data: new Uint8Array(bytes).fill(7),
  PartitionKey: key,
  ExplicitHashKey: hashKey,
});

async function putRecords(entries: PutRecordsRequestEntry[]) {
  const result = await client.send(new PutRecordsCommand({ StreamName: STREAM, Records: entries }));
  return {
    failed: result.FailedRecordCount,
    records: (result.Records ?? []).map((r) =>
      r.ErrorCode ? { ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage } : { ShardId: r.ShardId },
    ),
  };
}

/** Everything on a shard, read from kinesalite itself (past the limits). */
async function recordsOn(shardId: string) {
  const { ShardIterator } = await emulator.kinesis.send(
    new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const page = await emulator.kinesis.send(new GetRecordsCommand({ ShardIterator }));
  return page.Records ?? [];
}

async function iterator(shardId: string, type: 'TRIM_HORIZON' | 'LATEST' = 'TRIM_HORIZON') {
  const { ShardIterator } = await client.send(
    new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: type }),
  );
  return ShardIterator as string;
}

/** One GetRecords through the limits: its page, or 'throttled'. */
async function getRecords(shardIterator: string): Promise<GetRecordsCommandOutput | 'throttled'> {
  try {
    return await client.send(new GetRecordsCommand({ ShardIterator: shardIterator }));
  } catch (error) {
    if (error instanceof ProvisionedThroughputExceededException) return 'throttled';
    throw error;
  }
}

describe('writes', () => {
  it('PutRecords fails the entries over their shard budget at their own indices, counts them, and writes only the others', async () => {
    // 1,000 records fill shard 0's second.
    for (let call = 0; call < 2; call++)
      expect((await putRecords(Array.from({ length: 500 }, () => entry(ON_SHARD_0)))).failed).toBe(0);

    const mixed = Array.from({ length: 10 }, (_, i) => entry(i % 2 === 0 ? ON_SHARD_0 : ON_SHARD_1));
    expect(await putRecords(mixed)).toEqual({
      failed: 5,
      records: mixed.map((_, i) => (i % 2 === 0 ? refusal(SHARD_0) : { ShardId: SHARD_1 })),
    });

    advance(2); // 2 ms of 1,000 records/s: room for two more
    expect(await putRecords([entry(ON_SHARD_0), entry(ON_SHARD_0), entry(ON_SHARD_0)])).toEqual({
      failed: 1,
      records: [{ ShardId: SHARD_0 }, { ShardId: SHARD_0 }, refusal(SHARD_0)],
    });

    expect(limits.throttles()).toEqual({ [STREAM]: { writes: 6, reads: 0 } });
    expect(limits.shardThrottles().writes).toEqual({ [`${STREAM}/${SHARD_0}`]: 6 });
    expect(await recordsOn(SHARD_0)).toHaveLength(1_002);
    expect(await recordsOn(SHARD_1)).toHaveLength(5);
  });

  it('PutRecords counts data and partition key against 1 MiB a second; a refused large entry leaves room for a smaller one', async () => {
    const quarter = 256 * 1024; // with its 1-byte key, four of these pass 1 MiB
    const result = await putRecords([
      entry(ON_SHARD_0, quarter),
      entry(ON_SHARD_0, quarter),
      entry(ON_SHARD_0, quarter),
      entry(ON_SHARD_0, quarter),
      entry(ON_SHARD_0, 200_000),
    ]);
    expect(result).toEqual({
      failed: 1,
      records: [
        { ShardId: SHARD_0 },
        { ShardId: SHARD_0 },
        { ShardId: SHARD_0 },
        refusal(SHARD_0),
        { ShardId: SHARD_0 },
      ],
    });
    expect((await recordsOn(SHARD_0)).map((r) => r.Data?.length)).toEqual([
      quarter,
      quarter,
      quarter,
      200_000,
    ]);
  });

  it('PutRecord over budget fails with ProvisionedThroughputExceededException, HTTP 400, and writes nothing', async () => {
    for (let call = 0; call < 2; call++)
      await putRecords(Array.from({ length: 500 }, () => entry(ON_SHARD_0)));
    const putRecord = () =>
      client.send(
        new PutRecordCommand({
          StreamName: STREAM,
          Data: new Uint8Array([1]),
          PartitionKey: 'k',
          ExplicitHashKey: '0',
        }),
      );
    const refused = await putRecord().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(refused).toMatchObject({
      message: `Rate exceeded for shard ${SHARD_0} in stream ${STREAM} under account 000000000000.`,
      $metadata: { httpStatusCode: 400 },
    });
    advance(1); // one record's worth
    expect((await putRecord()).ShardId).toBe(SHARD_0);
    await expect(putRecord()).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(limits.throttles()).toEqual({ [STREAM]: { writes: 2, reads: 0 } });
    expect(await recordsOn(SHARD_0)).toHaveLength(1_001);
  });
});

describe('reads', () => {
  it('GetRecords takes 5 calls a second per shard, shared by every reader of it, and follows each answer’s next iterator', async () => {
    await putRecords([entry(ON_SHARD_0), entry(ON_SHARD_1)]);
    const readerA = { next: await iterator(SHARD_0) };
    const readerB = { next: await iterator(SHARD_0, 'LATEST') };
    const read = async (reader: { next: string }) => {
      const page = await getRecords(reader.next);
      if (page === 'throttled') return page;
      reader.next = page.NextShardIterator as string;
      return page.Records?.length ?? 0;
    };
    // A reads its record, then nothing new; B starts at the tip. Five calls between them.
    expect([await read(readerA), await read(readerB), await read(readerA), await read(readerB)]).toEqual([
      1, 0, 0, 0,
    ]);
    expect(await read(readerA)).toBe(0);
    expect([await read(readerA), await read(readerB)]).toEqual(['throttled', 'throttled']);
    // The other shard has a budget of its own.
    expect(await read({ next: await iterator(SHARD_1) })).toBe(1);
    advance(200); // a fifth of a second: one call
    expect(await read(readerB)).toBe(0);
    expect(await read(readerA)).toBe('throttled');
    expect(limits.throttles()).toEqual({ [STREAM]: { writes: 0, reads: 3 } });
    expect(limits.shardThrottles().reads).toEqual({ [`${STREAM}/${SHARD_0}`]: 3 });
  });

  it('GetRecords answered with more than the second’s 2 MB refuses the shard’s calls until the debt is paid', async () => {
    const megabyte = 1_000_000;
    for (let i = 0; i < 3; i++) {
      await putRecords([entry(ON_SHARD_0, megabyte)]);
      advance(1_000);
    }
    const first = await getRecords(await iterator(SHARD_0));
    expect(first === 'throttled' ? first : first.Records?.length).toBe(3);
    const next = first === 'throttled' ? '' : (first.NextShardIterator as string);
    // 3 MB read against 2 MB: 1 MB owed, paid at 2 MB/s in 500 ms; calls are refused until then.
    expect(await getRecords(next)).toBe('throttled');
    advance(500);
    expect(await getRecords(next)).toBe('throttled');
    advance(1);
    expect(await getRecords(next)).not.toBe('throttled');
    expect(limits.throttles()[STREAM]).toEqual({ writes: 0, reads: 2 });
  });

  it('GetRecords returns at most 10 MiB, cut after a whole record, and the next iterator goes on from there', async () => {
    const size = 1_000_000; // ten fit in 10 MiB, eleven do not
    for (let i = 0; i < 12; i++) {
      await putRecords([{ ...entry(ON_SHARD_0), Data: new Uint8Array(size).fill(i) }]);
      advance(1_000);
    }
    const first = await getRecords(await iterator(SHARD_0));
    if (first === 'throttled') throw new Error('first read throttled');
    expect(first.Records?.map((r) => r.Data?.[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(first.MillisBehindLatest).toBeGreaterThan(0);
    advance(4_001); // 10 MB read against 2 MB/s: 8 MB owed, paid in 4 s
    const second = await getRecords(first.NextShardIterator as string);
    if (second === 'throttled') throw new Error('second read throttled');
    expect(second.Records?.map((r) => r.Data?.[0])).toEqual([10, 11]);
    const sequences = [...(first.Records ?? []), ...(second.Records ?? [])].map((r) => r.SequenceNumber);
    expect(sequences).toEqual((await recordsOn(SHARD_0)).map((r) => r.SequenceNumber));
  });
});

describe('reads in pieces', () => {
  // Counts what kinesalite answers the front, through a forwarding server between them.
  let counted: { bytes: number; calls: number };
  let counting: Server;
  let countedLimits: KinesisLimits;
  let countedClient: KinesisClient;
  beforeEach(async () => {
    counted = { bytes: 0, calls: 0 };
    counting = createBufferingServer(
      async (req, body) => {
        const answer = await forwardRequest(new URL(emulator.endpoint), req, body);
        counted.bytes += answer.body.length;
        counted.calls++;
        return answer;
      },
      (error) => jsonError('InternalFailure', String(error), 'test', 500),
    );
    const port = await listen(counting, 0, '127.0.0.1');
    countedLimits = await startKinesisLimits({ upstream: `http://127.0.0.1:${port}`, now: () => ms });
    countedClient = createKinesisClient({ endpoint: countedLimits.endpoint, maxAttempts: 1 });
  });
  afterEach(async () => {
    countedClient.destroy();
    await countedLimits.stop();
    counting.closeAllConnections();
    await new Promise((resolve) => counting.close(resolve));
  });
  const readThrough = async (ShardIterator: string, Limit?: number) =>
    countedClient.send(new GetRecordsCommand({ ShardIterator, ...(Limit ? { Limit } : {}) }));
  const iteratorThrough = async (ShardId: string) =>
    (
      await countedClient.send(
        new GetShardIteratorCommand({ StreamName: STREAM, ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator as string;

  it('asks kinesalite for little more than the 10 MiB a call returns, however long the backlog', async () => {
    for (let i = 0; i < 30; i++) {
      await putRecords([{ ...entry(ON_SHARD_0), Data: new Uint8Array(1_000_000).fill(i) }]);
      advance(1_000);
    }
    const start = await iteratorThrough(SHARD_0);
    counted.bytes = 0;
    const first = await readThrough(start);
    expect(first.Records?.map((r) => r.Data?.[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Ten records kept and one read past the cut, base64 in JSON: about 14.7 MB. Asked for all at
    // once, kinesalite would answer the 30 MB backlog (40 MB as JSON), and without bound as it grows.
    expect(counted.bytes).toBeLessThan(15_000_000);
    advance(10_000);
    const second = await readThrough(first.NextShardIterator as string);
    expect(second.Records?.map((r) => r.Data?.[0])).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('still returns up to the asked Limit of small records in one call, and goes on after the last', async () => {
    for (let call = 0; call < 6; call++) {
      await putRecords(Array.from({ length: 500 }, () => entry(ON_SHARD_1, 10)));
      if (call % 2 === 1) advance(1_000);
    }
    const start = await iteratorThrough(SHARD_1);
    const all = await readThrough(start);
    expect(all.Records).toHaveLength(3_000);
    advance(1_000);
    const limited = await readThrough(start, 2_500);
    expect(limited.Records).toHaveLength(2_500);
    advance(1_000);
    const rest = await readThrough(limited.NextShardIterator as string);
    expect([...(limited.Records ?? []), ...(rest.Records ?? [])].map((r) => r.SequenceNumber)).toEqual(
      all.Records?.map((r) => r.SequenceNumber),
    );
    expect(rest.MillisBehindLatest).toBe(0);
  });
});

describe('the local Kinesis with the shard limits off (--no-limits)', () => {
  let local: LocalKinesis;
  let localClient: KinesisClient;
  beforeEach(async () => {
    local = await startLocalKinesis('127.0.0.1', 0, { limits: false });
    localClient = createKinesisClient({ endpoint: local.endpoint, maxAttempts: 1 });
    await createStream(localClient, STREAM, 2);
  });
  afterEach(async () => {
    localClient.destroy();
    await local.close();
  });
  const put = async (Records: PutRecordsRequestEntry[]) =>
    (await localClient.send(new PutRecordsCommand({ StreamName: STREAM, Records }))).FailedRecordCount;

  it('refuses no write and no read, however fast, yet a GetRecords call still returns at most 10 MiB', async () => {
    // 12 MB in well under a second: twelve seconds of one shard's write budget.
    for (let i = 0; i < 12; i++)
      expect(await put([{ ...entry(ON_SHARD_0), Data: new Uint8Array(1_000_000).fill(i) }])).toBe(0);
    expect(await put(Array.from({ length: 500 }, () => entry(ON_SHARD_0)))).toBe(0);
    const { ShardIterator } = await localClient.send(
      new GetShardIteratorCommand({
        StreamName: STREAM,
        ShardId: SHARD_0,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    // Back to back: with the budgets on, the second call would be refused until the 8 MB debt is paid.
    const first = await localClient.send(new GetRecordsCommand({ ShardIterator }));
    expect(first.Records?.map((r) => r.Data?.[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const second = await localClient.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator }));
    expect(second.Records?.slice(0, 2).map((r) => r.Data?.[0])).toEqual([10, 11]);
    expect(second.Records).toHaveLength(2 + 500);
    expect(local.throttles()).toBeUndefined();
  });
});

describe('everything else', () => {
  it('goes to kinesalite as it is, whose own answer stands', async () => {
    await expect(
      client.send(new PutRecordsCommand({ StreamName: 'no-such-stream', Records: [entry(ON_SHARD_0)] })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await createStream(client, 'created-later', 1);
    expect(
      (
        await client.send(
          new PutRecordCommand({ StreamName: 'created-later', Data: new Uint8Array([1]), PartitionKey: 'k' }),
        )
      ).ShardId,
    ).toBe(SHARD_0);
  });

  it('answers its own origin only', async () => {
    const { port } = new URL(limits.endpoint);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const outgoing = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/',
          headers: { Origin: 'http://evil.example', 'x-amz-target': 'Kinesis_20131202.ListStreams' },
          agent: false,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      outgoing.on('error', reject);
      outgoing.end('{}');
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatch(/^forbidden:/);
  });
});
