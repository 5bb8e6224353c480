/**
 * The consumers end to end on the emulators: events stream → local runner → window aggregator →
 * DynamoDB + user-activity stream → local runner → bot alerter → SNS (a recording client).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SNSClient } from '@aws-sdk/client-sns';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlerterHandler } from '../../consumers/bot-alerter/handler.ts';
import { createMemoryDeadLetterSink } from '../../consumers/dead-letter.ts';
import type { KinesisWindowEvent } from '../../consumers/kinesis-event.ts';
import { putAllRecords } from '../../consumers/put-records.ts';
import { totalsOfItems } from '../../consumers/user-activity-item.ts';
import { createAggregatorHandler } from '../../consumers/window-aggregator/handler.ts';
import { EVENT_TYPES, type EventRecord, parseRow } from '../../core/event.ts';
import { DEFAULT_ALERT_RULES } from '../../core/rules.ts';
import { createSyntheticGenerator } from '../../core/synthetic.ts';
import { aggregateEvents, toUserWindowTotal } from '../../core/window.ts';
import { createMemoryOnFailureDestination, startLambdaRunner } from '../../local/lambda-runner.ts';
import { eventRecordJson } from '../../producer/batcher.ts';
import { createStream, startDynamo, startKinesis } from '../support/consumers-emulators.ts';

// The smallest data set that still holds one bot of each kind (the generator needs ~2,100 events for
// their bursts): at 2 events/s of normal traffic it is ~600 (user, window)s, and DynamoDB merges (a few
// hundred UpdateItems/s on the emulator) are what this test's run time is made of.
const generator = createSyntheticGenerator({ events: 2200, bots: 4, seed: 3, rate: 2 });
const events: EventRecord[] = [];
for (let line = generator.nextLine(); line !== undefined; line = generator.nextLine()) {
  const parsed = parseRow(line.trimEnd().split(','));
  if (parsed.ok)
    events.push({
      ...parsed.event,
      event_id: `gen${events.length.toString(36)}`,
      replayed_at: '2024-01-01T00:00:00.000Z',
    });
}
const bots = generator.truth.bots;

let kinesis: KinesisClient;
let dynamo: DynamoDBDocumentClient;
const stops: Array<() => Promise<void>> = [];
let runCount = 0;

beforeAll(async () => {
  const k = await startKinesis();
  kinesis = k.kinesis;
  stops.push(k.stop);
  const tables = Array.from({ length: 3 }, (_, i) => ({
    userActivityTable: `ua-${i + 1}`,
    alertDedupeTable: `ad-${i + 1}`,
  }));
  const d = await startDynamo(tables[0]!);
  dynamo = d.dynamo;
  stops.push(d.stop);
  const { DYNAMO_TABLES } = await import('../../core/dynamo-tables.ts');
  const { createTableCommand } = await import('../../local/dynamodb-emulator.ts');
  for (const names of tables.slice(1)) {
    for (const table of DYNAMO_TABLES(names)) {
      await dynamo.send(createTableCommand(table.tableName, table.keys));
    }
  }
}, 60_000);
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

interface Published {
  subject: string;
  attributes: Record<string, string>;
}

/** An SNS client that records Publish calls and can fail the first N. */
function recordingSns(failFirst: number): { sns: SNSClient; published: Published[]; failures: () => number } {
  const published: Published[] = [];
  let failed = 0;
  const sns = {
    async send(command: {
      input: { Subject?: string; MessageAttributes?: Record<string, { StringValue?: string }> };
    }) {
      if (failed < failFirst) {
        failed++;
        throw Object.assign(new Error('SNS unavailable'), { name: 'InternalErrorException' });
      }
      const attributes = Object.fromEntries(
        Object.entries(command.input.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
      );
      published.push({ subject: command.input.Subject ?? '', attributes });
      return { MessageId: String(published.length) };
    },
  } as unknown as SNSClient;
  return { sns, published, failures: () => failed };
}

interface RunOptions {
  eventShards: number;
  batchSize: number;
  faults?: boolean;
  malformed?: string[];
  /** After the pipeline has drained, send the first n events again, as a resumed producer would. */
  resend?: number;
}

async function runPipeline(options: RunOptions) {
  const run = ++runCount;
  const eventsStream = `events-${run}`;
  const activityStream = `activity-${run}`;
  const names = { userActivityTable: `ua-${run}`, alertDedupeTable: `ad-${run}` };
  await createStream(kinesis, eventsStream, options.eventShards);
  await createStream(kinesis, activityStream, 2);
  const deadLetter = createMemoryDeadLetterSink();
  const aggregator = createAggregatorHandler({
    dynamo,
    kinesis,
    tableName: names.userActivityTable,
    streamName: activityStream,
    deadLetter,
  });
  let aggregatorCalls = 0;
  let finalFailed = false;
  const aggregatorHandler = async (event: KinesisWindowEvent<unknown>) => {
    const response = await aggregator(event);
    // Fail after the work landed, as a timeout after the writes would: the retry must change nothing.
    if (options.faults && ++aggregatorCalls === 4) throw new Error('injected failure after the writes');
    return response;
  };
  const { sns, published, failures } = recordingSns(options.faults ? 1 : 0);
  const alerter = createAlerterHandler({
    dynamo,
    sns,
    userActivityTable: names.userActivityTable,
    alertDedupeTable: names.alertDedupeTable,
    topicArn: 'arn:aws:sns:us-east-1:000000000000:alerts',
    rules: DEFAULT_ALERT_RULES,
    glueDatabase: 'clickstream',
  });
  const onFailure = createMemoryOnFailureDestination();
  const aggregatorRunner = await startLambdaRunner({
    kinesis,
    streamName: eventsStream,
    handler: aggregatorHandler,
    batchSize: options.batchSize,
    tumblingWindowSeconds: 900,
    maxRetryAttempts: -1,
    bisectBatchOnError: options.faults ?? false,
    onFailure,
    pollIntervalMs: 10,
    hooks: {
      beforeInvoke(n, event) {
        if (!options.faults) return;
        if (n === 2) throw new Error('injected failure before the handler');
        if (event.isFinalInvokeForWindow && !finalFailed) {
          finalFailed = true;
          throw new Error('injected failure of a final window');
        }
      },
    },
  });
  const alerterRunner = await startLambdaRunner({
    kinesis,
    streamName: activityStream,
    handler: alerter,
    batchSize: 100,
    reportBatchItemFailures: true,
    maxRetryAttempts: -1,
    onFailure,
    pollIntervalMs: 10,
  });
  const entries = events.map((event) => ({
    partitionKey: event.category_id,
    data: Buffer.from(eventRecordJson(event, event.event_id, event.replayed_at)),
  }));
  for (const raw of options.malformed ?? [])
    entries.splice(100, 0, { partitionKey: '1', data: Buffer.from(raw) });
  await putAllRecords(kinesis, eventsStream, entries);
  await aggregatorRunner.drain();
  await alerterRunner.drain();
  if (options.resend) {
    // Same ids, new records sent later: they fold into new partials under other contribution ids.
    const again = events.slice(0, options.resend).map((event) => ({
      partitionKey: event.category_id,
      data: Buffer.from(eventRecordJson(event, event.event_id, '2024-01-01T01:00:00.000Z')),
    }));
    await putAllRecords(kinesis, eventsStream, again);
    await aggregatorRunner.drain();
    await alerterRunner.drain();
  }
  // The end of the input: the alerter closes the incidents still open.
  await alerter({ endOfStream: true });
  await aggregatorRunner.stop();
  await alerterRunner.stop();

  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({ TableName: names.userActivityTable, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const totals = new Map(
    totalsOfItems(items).map(({ contributions: _c, ...total }) => [
      `${total.user_id}|${total.window_start}`,
      total,
    ]),
  );
  return {
    totals,
    published,
    publishFailures: failures(),
    deadLetter: deadLetter.records(),
    onFailure: onFailure.records,
    aggregatorStats: aggregatorRunner.stats(),
  };
}

/** Per user, the steps of the emails published for it, sorted. */
function stepsPerUser(published: readonly Published[]): Map<string, string[]> {
  const steps = new Map<string, string[]>();
  for (const p of published) {
    const user = p.attributes.user_id ?? '';
    steps.set(user, [...(steps.get(user) ?? []), p.attributes.step ?? ''].sort());
  }
  return new Map([...steps].sort());
}

function sumByType(
  totals: Map<
    string,
    {
      view_count: number;
      cart_count: number;
      remove_from_cart_count: number;
      purchase_count: number;
      total_count: number;
    }
  >,
) {
  const sums = { view: 0, cart: 0, remove_from_cart: 0, purchase: 0, total: 0 };
  for (const t of totals.values()) {
    sums.view += t.view_count;
    sums.cart += t.cart_count;
    sums.remove_from_cart += t.remove_from_cart_count;
    sums.purchase += t.purchase_count;
    sums.total += t.total_count;
  }
  return sums;
}

describe('consumers pipeline on the emulators', () => {
  let clean: Awaited<ReturnType<typeof runPipeline>>;
  const expected = new Map(
    [...aggregateEvents(events).values()].map((merged) => {
      const { contributions: _c, ...total } = toUserWindowTotal(merged);
      return [`${total.user_id}|${total.window_start}`, total] as const;
    }),
  );

  beforeAll(async () => {
    clean = await runPipeline({
      eventShards: 4,
      batchSize: 100,
      malformed: ['not json', '{"event_time":"2019-10-01T00:00:00Z"}'],
    });
  }, 120_000);

  it('stores Σ counts per event type equal to the events put', () => {
    const put = { view: 0, cart: 0, remove_from_cart: 0, purchase: 0, total: events.length };
    for (const event of events) put[event.event_type]++;
    expect(sumByType(clean.totals)).toEqual(put);
    expect(EVENT_TYPES.length).toBe(4);
  });

  it('stores exactly the per-(user, window) totals of a single in-memory fold', () => {
    expect(clean.totals.size).toBe(expected.size);
    for (const [key, total] of expected) expect(clean.totals.get(key), key).toEqual(total);
  });

  it('sends malformed records to the dead-letter target without blocking the shard', () => {
    expect(clean.deadLetter.map((record) => record.reason).sort()).toEqual(['bad_json', 'missing_field']);
    expect(clean.onFailure).toEqual([]);
  });

  it('opens one incident per injected bot and none for a normal user: one opening and one closing email each', () => {
    expect(bots.length).toBe(4);
    expect(stepsPerUser(clean.published)).toEqual(
      new Map(bots.map((bot) => [bot.user_id, ['close', 'open']] as const).sort()),
    );
    const incidents = new Set(clean.published.map((p) => p.attributes.incident_id));
    expect(incidents.size).toBe(bots.length);
    for (const p of clean.published)
      expect(p.attributes.incident_id?.startsWith(`${p.attributes.user_id}-`)).toBe(true);
  });

  it('gives identical totals and alerts with other shard counts and batch sizes, under injected failures, with events re-sent', async () => {
    const faulty = await runPipeline({ eventShards: 3, batchSize: 37, faults: true, resend: 600 });
    expect(faulty.aggregatorStats.functionErrors).toBeGreaterThanOrEqual(3);
    expect(faulty.publishFailures).toBe(1);
    expect(faulty.totals).toEqual(clean.totals);
    // Incident ids name the opening window, which can differ with the order partials arrive in.
    expect(stepsPerUser(faulty.published)).toEqual(stepsPerUser(clean.published));
    expect(faulty.onFailure).toEqual([]);
  }, 120_000);
});
