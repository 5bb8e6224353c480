/**
 * `clickstream local up --chaos PROFILE` breaks things on a timer (startChaosSchedule) instead of when a
 * test says so. Here the timer runs fast, on a real embedded stack: the outage comes and goes, the
 * emulator comes back with its data, and stopping the schedule leaves the stack healthy.
 */
import { PublishCommand } from '@aws-sdk/client-sns';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDynamoClient, createSnsClient } from '../../adapters/clients.ts';
import { startChaosSchedule } from '../../local/chaos.ts';
import { dynoxideBinary } from '../../local/dynamodb-emulator.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';

describe('local up --chaos schedule', () => {
  let stack: LocalStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('smtp-outage: takes the mail host down and brings it back; a mail published meanwhile arrives once', async () => {
    stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink', chaos: 'smtp-outage' });
    const smtp = stack.chaos?.smtp;
    expect(smtp).toBeDefined();
    const log: string[] = [];
    const stop = startChaosSchedule(stack.chaos!, (line) => log.push(line), {
      smtp: { upMs: 100, downMs: 1_500 },
      dynamoRestartEveryMs: 60_000,
    });
    const sns = createSnsClient({ endpoint: stack.endpoints.sns });
    try {
      await vi.waitUntil(() => smtp?.down === true, { timeout: 10_000, interval: 10 });
      await sns.send(
        new PublishCommand({ TopicArn: stack.topicArn, Subject: 'during outage', Message: 'x' }),
      );
      expect(stack.mailbox?.messages).toHaveLength(0);
      await vi.waitUntil(() => smtp?.down === false, { timeout: 10_000, interval: 10 });
      // The schedule would take it down again 100 ms later; the delivery retry needs longer than that.
      await stop();
      const mails = await stack.mailbox?.waitFor(1, 10_000);
      expect(mails?.map((mail) => mail.subject)).toEqual(['during outage']);
      expect(log.slice(0, 2)).toEqual(['chaos: SMTP down for 1.5 s', 'chaos: SMTP back']);
    } finally {
      sns.destroy();
      await stop();
    }
    expect(smtp?.down).toBe(false);
  });

  it.skipIf(!dynoxideBinary())(
    'emulator-restart: kills and restarts DynamoDB on a timer, and the tables and items survive',
    async () => {
      stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink', chaos: 'emulator-restart' });
      const emulator = stack.chaos?.dynamoEmulator;
      const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
      const key = { user_id: '512345678', window_start: '2019-10-01T00:00:00Z' };
      const log: string[] = [];
      const stop = startChaosSchedule(stack.chaos!, (line) => log.push(line), {
        smtp: { upMs: 60_000, downMs: 1_000 },
        dynamoRestartEveryMs: 200,
      });
      try {
        await dynamo.send(
          new PutCommand({ TableName: stack.names.userActivityTable, Item: { ...key, total_count: 7 } }),
        );
        await vi.waitUntil(() => (emulator?.restarts ?? 0) >= 2, { timeout: 10_000, interval: 10 });
        await stop();
        const item = await dynamo.send(
          new GetCommand({ TableName: stack.names.userActivityTable, Key: key, ConsistentRead: true }),
        );
        expect(item.Item?.total_count).toBe(7);
        expect(log[0]).toBe('chaos: DynamoDB killed and restarted with its tables kept (1 so far)');
      } finally {
        dynamo.destroy();
        await stop();
      }
    },
  );
});
