/**
 * The alerter's incidents through DynamoDB (dynalite): partials merged as the aggregator merges them,
 * their records handed to the processor as Kinesis delivers them, emails recorded at the SNS client.
 */
import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlerterProcessor, createAlerterProcessor } from '../../consumers/bot-alerter/processor.ts';
import type { KinesisStreamEvent } from '../../consumers/kinesis-event.ts';
import { mergePartial } from '../../consumers/user-activity-item.ts';
import type { UserWindowPartial } from '../../core/aggregate.ts';
import { DEFAULT_INCIDENT_SETTINGS } from '../../core/incident.ts';
import { DEFAULT_ALERT_RULES } from '../../core/rules.ts';
import { botEvents, partial } from '../support/analytics-fixtures.ts';
import { startDynamo } from '../support/consumers-emulators.ts';
import { kinesisRecord } from '../support/consumers-factories.ts';

const BOT = '900000021';
const OTHER = '900000022';
const BASE = Date.UTC(2019, 9, 2, 10, 0, 0);
const minute = (n: number) => BASE + n * 60_000;

let dynamo: DynamoDBDocumentClient;
let stop: () => Promise<void>;
let table = 0;

beforeAll(async () => {
  ({ dynamo, stop } = await startDynamo({ userActivityTable: 'ua-0', alertDedupeTable: 'ad-0' }));
}, 60_000);
afterAll(async () => stop?.());

interface Published {
  subject: string;
  attributes: Record<string, string>;
}

function recordingSns(): { sns: SNSClient; published: Published[] } {
  const published: Published[] = [];
  const sns = {
    async send(command: {
      input: { Subject?: string; MessageAttributes?: Record<string, { StringValue?: string }> };
    }) {
      published.push({
        subject: command.input.Subject ?? '',
        attributes: Object.fromEntries(
          Object.entries(command.input.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
        ),
      });
      return { MessageId: String(published.length) };
    },
  } as unknown as SNSClient;
  return { sns, published };
}

/** A fresh pair of tables, a processor over them and a clock the test moves. */
async function setUp() {
  table++;
  const names = { userActivityTable: `ua-${table}`, alertDedupeTable: `ad-${table}` };
  const { DYNAMO_TABLES } = await import('../../core/dynamo-tables.ts');
  const { createTableCommand } = await import('../../local/dynamodb-emulator.ts');
  for (const spec of DYNAMO_TABLES(names)) {
    await dynamo.send(createTableCommand(spec.tableName, spec.keys));
  }
  const clock = { now: 1_000_000 };
  const { sns, published } = recordingSns();
  const processor: AlerterProcessor = createAlerterProcessor({
    dynamo,
    sns,
    ...names,
    topicArn: 'arn:aws:sns:us-east-1:000000000000:alerts',
    rules: DEFAULT_ALERT_RULES,
    incidents: { ...DEFAULT_INCIDENT_SETTINGS, quietMinutes: 30, followUpMinutes: 30, closeGraceSeconds: 60 },
    glueDatabase: 'clickstream',
    now: () => clock.now,
  });
  /** Merges the partials (as the aggregator does) and hands their records to the processor. */
  const deliver = async (partials: UserWindowPartial[]) => {
    for (const p of partials) await mergePartial(dynamo, names.userActivityTable, p, 2_000_000_000);
    const event: KinesisStreamEvent = { Records: partials.map((p) => kinesisRecord(p)) };
    return processor.process(event);
  };
  return { processor, published, clock, deliver };
}

/** `views` views of `user` in the minute `m`, one session, as one shard's partial. */
function views(user: string, m: number, count = 40): UserWindowPartial {
  return partial(user, minute(m), 'shardId-000000000000', botEvents(user, minute(m), count, 'view', ['s1']));
}

const steps = (published: Published[]) =>
  published.map((p) => `${p.attributes.user_id} ${p.attributes.step}`);

describe('alerter incidents', () => {
  it('open once, ignore redelivered records, close on the watermark after the quiet time and the grace', async () => {
    const { published, clock, deliver } = await setUp();
    await deliver([views(BOT, 0), views(BOT, 1)]);
    expect(steps(published)).toEqual([`${BOT} open`]);
    expect(published[0]?.attributes).toMatchObject({
      incident_id: `${BOT}-20191002T1000Z`,
      rule: 'views-without-cart',
      severity: 'medium',
    });
    // Kinesis delivers the same records again: nothing new.
    await deliver([views(BOT, 1)]);
    expect(published).toHaveLength(1);
    // Another user's window 31 minutes after the bot's last: quiet long enough, but the grace has not passed.
    await deliver([views(OTHER, 32, 3)]);
    expect(published).toHaveLength(1);
    clock.now += 61_000;
    await deliver([views(OTHER, 33, 3)]);
    expect(steps(published)).toEqual([`${BOT} open`, `${BOT} close`]);
    expect(published[1]?.subject).toBe(`Bot incident closed: user ${BOT} - 2 min, 1 rule, 2 windows`);
  });

  it('a late breach inside the closed span opens nothing; one after the quiet time opens a new incident', async () => {
    const { published, clock, deliver } = await setUp();
    await deliver([views(BOT, 0)]);
    clock.now += 61_000;
    await deliver([views(OTHER, 40, 3)]);
    expect(steps(published)).toEqual([`${BOT} open`, `${BOT} close`]);
    await deliver([views(BOT, 10)]);
    expect(published).toHaveLength(2);
    await deliver([views(BOT, 45)]);
    expect(steps(published)).toEqual([`${BOT} open`, `${BOT} close`, `${BOT} open`]);
    expect(published[2]?.attributes.incident_id).toBe(`${BOT}-20191002T1045Z`);
  });

  it('the end of the stream closes what is still open, once however often it is signalled', async () => {
    const { processor, published, deliver } = await setUp();
    await deliver([views(BOT, 0)]);
    await processor.endOfStream();
    await processor.endOfStream();
    expect(steps(published)).toEqual([`${BOT} open`, `${BOT} close`]);
    expect(processor.summary()).toMatchObject({ opened: 1, closed: 1, sent: 2 });
  });
});
