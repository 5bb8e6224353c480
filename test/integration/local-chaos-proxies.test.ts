/**
 * The chaos proxies' own promises, against a fake upstream that records what reached it: which calls
 * fail is decided by counting, and a failed DynamoDB write goes through when the SDK resends it, however
 * other callers' calls interleave (else a fault could exhaust the SDK's retries and the chaos profiles
 * would fail at random).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoChaosProxy } from '../../local/dynamodb-chaos-proxy.ts';
import { startKinesisChaosProxy } from '../../local/kinesis-chaos-proxy.ts';

let upstream: Server;
let upstreamUrl: string;
const reachedUpstream: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      reachedUpstream.push(body);
      const parsed = JSON.parse(body) as { Records?: unknown[] };
      const answer = parsed.Records
        ? {
            FailedRecordCount: 0,
            Records: parsed.Records.map((_, i) => ({ SequenceNumber: String(i), ShardId: 'shardId-0' })),
          }
        : {};
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

async function call(endpoint: string, target: string, body: object): Promise<number> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('DynamoDB chaos proxy', () => {
  const updateItem = (key: string) =>
    ({ TableName: 'user-activity', Key: { pk: { S: key } }, UpdateExpression: 'ADD n :one' }) as const;

  it('fails every n-th matching write, and lets a failed write through when it is resent', async () => {
    const proxy = await startDynamoChaosProxy({
      upstream: upstreamUrl,
      rules: [
        {
          name: 'merge',
          operations: ['UpdateItem'],
          tables: ['user-activity'],
          everyNth: 2,
          timings: ['before'],
        },
      ],
    });
    reachedUpstream.length = 0;
    try {
      const send = (key: string) => call(proxy.endpoint, 'DynamoDB_20120810.UpdateItem', updateItem(key));
      expect(await send('a')).toBe(200);
      expect(await send('b')).toBe(500);
      expect(await send('c')).toBe(200);
      // b's resend arrives where counting alone would fail it again (the 4th matching call).
      expect(await send('b')).toBe(200);
      expect(await send('d')).toBe(400);
      // Other tables and operations are never failed.
      expect(await call(proxy.endpoint, 'DynamoDB_20120810.GetItem', { TableName: 'user-activity' })).toBe(
        200,
      );
      expect(await call(proxy.endpoint, 'DynamoDB_20120810.UpdateItem', { TableName: 'other' })).toBe(200);
      expect(proxy.counters.merge).toEqual({ matching: 4, failedBefore: 2, failedAfter: 0 });
      expect(
        reachedUpstream.map((body) => (JSON.parse(body) as { Key?: { pk: { S: string } } }).Key?.pk.S),
      ).toEqual(['a', 'c', 'b', undefined, undefined]);
    } finally {
      await proxy.stop();
    }
  });

  it('answers an error after the write for the "after" timing: the write reached the emulator', async () => {
    const proxy = await startDynamoChaosProxy({
      upstream: upstreamUrl,
      rules: [{ name: 'merge', operations: ['UpdateItem'], everyNth: 2, timings: ['after'] }],
    });
    reachedUpstream.length = 0;
    try {
      const send = (key: string) => call(proxy.endpoint, 'DynamoDB_20120810.UpdateItem', updateItem(key));
      expect([await send('a'), await send('b'), await send('b')]).toEqual([200, 500, 200]);
      expect(reachedUpstream).toHaveLength(3);
      expect(proxy.counters.merge).toEqual({ matching: 2, failedBefore: 0, failedAfter: 1 });
    } finally {
      await proxy.stop();
    }
  });
});

describe('Kinesis chaos proxy', () => {
  it('answers every n-th PutRecords call with a 5xx and forwards nothing of it', async () => {
    const proxy = await startKinesisChaosProxy({ upstream: upstreamUrl, failEveryNthCall: 3 });
    reachedUpstream.length = 0;
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        statuses.push(
          await call(proxy.endpoint, 'Kinesis_20131202.PutRecords', {
            StreamName: 'events',
            Records: [{ Data: 'e30=', PartitionKey: String(i) }],
          }),
        );
      }
      expect(statuses).toEqual([200, 200, 500, 200, 200, 503, 200]);
      expect(reachedUpstream).toHaveLength(5);
      expect(proxy.counters).toMatchObject({
        putRecordsCalls: 7,
        failedCalls: 2,
        entries: 5,
        failedEntries: 0,
      });
    } finally {
      await proxy.stop();
    }
  });

  it('fails every n-th entry counted over all calls, and forwards the others', async () => {
    const proxy = await startKinesisChaosProxy({ upstream: upstreamUrl, failEveryNthEntry: 3 });
    reachedUpstream.length = 0;
    try {
      const put = async (keys: string[]) => {
        const response = await fetch(proxy.endpoint, {
          method: 'POST',
          headers: { 'x-amz-target': 'Kinesis_20131202.PutRecords' },
          body: JSON.stringify({
            StreamName: 'events',
            Records: keys.map((key) => ({ Data: 'e30=', PartitionKey: key, ExplicitHashKey: '0' })),
          }),
        });
        const body = (await response.json()) as {
          FailedRecordCount: number;
          Records: Array<{ ErrorCode?: string }>;
        };
        return body.Records.map((r) => r.ErrorCode ?? 'ok');
      };
      expect(await put(['a', 'b', 'c', 'd'])).toEqual([
        'ok',
        'ok',
        'ProvisionedThroughputExceededException',
        'ok',
      ]);
      expect(await put(['e', 'f'])).toEqual(['ok', 'ProvisionedThroughputExceededException']);
      // What reached the emulator: the entries that did not fail (the proxy also asks it for the shards once).
      const puts = reachedUpstream
        .map((b) => JSON.parse(b) as { Records?: unknown[] })
        .filter((b) => b.Records);
      expect(puts.map((b) => b.Records?.length)).toEqual([3, 1]);
      expect(proxy.counters).toMatchObject({ entries: 6, failedEntries: 2 });
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a call-failure period below 2', async () => {
    await expect(startKinesisChaosProxy({ upstream: upstreamUrl, failEveryNthCall: 1 })).rejects.toThrow(
      /failEveryNthCall must be an integer ≥ 2/,
    );
  });
});
