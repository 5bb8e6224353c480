import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createSnsClient } from '../../adapters/clients.ts';
import { dynoxideBinary } from '../../local/dynamodb-emulator.ts';
import { createResources, type LocalStack, startLocalStack } from '../../local/stack.ts';
import { localConfig } from '../support/local-config.ts';

describe('embedded AWS stack, through the real SDK clients', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      ports: 'ephemeral',
      mail: 'sink',
      // One user-activity shard: the records put below all land where they are read back.
      config: await localConfig({ eventsShards: '3', userActivityShards: '1' }),
    });
  });
  afterAll(() => stack?.stop());

  it('binds every endpoint to 127.0.0.1', () => {
    for (const endpoint of Object.values(stack.endpoints))
      expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.smtp.host).toBe('127.0.0.1');
  });

  it('creates the streams with the asked shard counts, and creating again is harmless', async () => {
    const shards = await stack.kinesis.send(new ListShardsCommand({ StreamName: stack.names.eventsStream }));
    expect(shards.Shards).toHaveLength(3);
    await createResources(stack.endpoints, stack.config);
    const again = await stack.kinesis.send(new ListShardsCommand({ StreamName: stack.names.eventsStream }));
    expect(again.Shards).toHaveLength(3);
  });

  it('puts and gets Kinesis records', async () => {
    const StreamName = stack.names.userActivityStream;
    const put = await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName,
        Records: ['a', 'b', 'c'].map((text) => ({ Data: Buffer.from(text), PartitionKey: text })),
      }),
    );
    expect(put.FailedRecordCount).toBe(0);
    const iterator = await stack.kinesis.send(
      new GetShardIteratorCommand({
        StreamName,
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const got = await stack.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator }));
    expect((got.Records ?? []).map((r) => Buffer.from(r.Data ?? []).toString())).toEqual(['a', 'b', 'c']);
  });

  it('applies a conditional update once and refuses the repeat', async () => {
    const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
    const merge = () =>
      dynamo.send(
        new UpdateCommand({
          TableName: stack.names.userActivityTable,
          Key: { user_id: 'u1', window_start: '2019-10-01T00:00:00Z' },
          UpdateExpression: 'ADD total_count :n, cids :cid',
          ConditionExpression: 'attribute_not_exists(cids) OR NOT contains(cids, :c)',
          ExpressionAttributeValues: { ':n': 5, ':cid': new Set(['c1']), ':c': 'c1' },
          ReturnValues: 'ALL_NEW',
        }),
      );
    expect((await merge()).Attributes?.total_count).toBe(5);
    await expect(merge()).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    dynamo.destroy();
  });

  it.skipIf(!dynoxideBinary())(
    "keeps DynamoDB's tables on disk, in the stack's own directory, so that its memory does not grow with them",
    async () => {
      const file = join(stack.tempDirectory, 'dynamodb.sqlite');
      const before = statSync(file).size;
      const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
      const padding = 'x'.repeat(4096);
      for (let i = 0; i < 200; i++)
        await dynamo.send(
          new PutCommand({
            TableName: stack.names.userActivityTable,
            Item: { user_id: `disk-${i}`, window_start: '2019-10-01T00:00:00Z', padding },
          }),
        );
      dynamo.destroy();
      // 800 KB of items: in the database file and its write-ahead log, not in the emulator's memory.
      const wal = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
      expect(statSync(file).size + wal - before).toBeGreaterThan(800_000);
    },
  );

  it('streams an object into S3 and back byte for byte', async () => {
    const body = Buffer.from('event_time,event_type\n'.repeat(20_000));
    await new Upload({
      client: stack.s3,
      params: { Bucket: stack.names.rawBucket, Key: 'stream/test.csv', Body: Readable.from([body]) },
    }).done();
    const got = await stack.s3.send(
      new GetObjectCommand({ Bucket: stack.names.rawBucket, Key: 'stream/test.csv' }),
    );
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('publishes to the alert topic and the mail arrives in the SMTP sink', async () => {
    const sns = createSnsClient({ endpoint: stack.endpoints.sns });
    await sns.send(
      new PublishCommand({ TopicArn: stack.topicArn, Subject: 'Bot activity: test', Message: 'hello' }),
    );
    const [mail] = await stack.mailbox!.waitFor(1, 5000);
    expect(mail?.subject).toBe('Bot activity: test');
    expect(mail?.to).toContain('ops@clickstream.local');
    sns.destroy();
  });
});
