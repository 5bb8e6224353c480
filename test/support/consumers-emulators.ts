/** Kinesalite and dynalite on 127.0.0.1 for the consumer tests (not a test file itself). */

import type { Server } from 'node:http';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  type ListShardsCommandOutput,
} from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import { DYNAMO_TABLES } from '../../core/dynamo-tables.ts';
import { createTableCommand } from '../../local/dynamodb-emulator.ts';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

export async function startKinesis(): Promise<{ kinesis: KinesisClient; stop(): Promise<void> }> {
  const server: Server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 100,
  });
  const kinesis = createKinesisClient({ endpoint: await listen(server) });
  return { kinesis, stop: async () => (kinesis.destroy(), close(server)) };
}

export async function createStream(kinesis: KinesisClient, name: string, shards: number): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The same client, except that ListShards answers `pageSize` shards at a time with a NextToken, as AWS
 * does for a stream with more shards than one answer holds. kinesalite lists every shard at once, so a
 * reader that ignores NextToken would pass against it and miss shards in AWS.
 */
export function pagingListShards(kinesis: KinesisClient, pageSize: number): KinesisClient {
  const send = async (command: unknown): Promise<unknown> => {
    if (!(command instanceof ListShardsCommand)) return kinesis.send(command as never);
    const { StreamName, NextToken } = command.input;
    // As AWS: a later page is asked for with its token alone.
    if (StreamName && NextToken) throw new Error('NextToken and StreamName cannot be provided together');
    const [stream, from] = NextToken ? (JSON.parse(NextToken) as [string, number]) : [StreamName, 0];
    const all = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
    const next = from + pageSize;
    const page: Partial<ListShardsCommandOutput> = { Shards: all.slice(from, next) };
    if (next < all.length) page.NextToken = JSON.stringify([stream, next]);
    return page;
  };
  return new Proxy(kinesis, { get: (target, key) => (key === 'send' ? send : Reflect.get(target, key)) });
}

export async function startDynamo(names: { userActivityTable: string; alertDedupeTable: string }): Promise<{
  dynamo: DynamoDBDocumentClient;
  stop(): Promise<void>;
}> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynamo = createDynamoClient({ endpoint: await listen(server) });
  for (const table of DYNAMO_TABLES(names)) {
    await dynamo.send(createTableCommand(table.tableName, table.keys));
  }
  return { dynamo, stop: async () => (dynamo.destroy(), close(server)) };
}
