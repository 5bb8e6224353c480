/**
 * The CloudWatch custom metrics the CDK dashboard graphs: EMF log lines with namespace Clickstream,
 * no dimensions, unit Count, one line per invocation and only when there is something to count.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createAlerterProcessor } from '../consumers/bot-alerter/processor.ts';
import { createMemoryDeadLetterSink } from '../consumers/dead-letter.ts';
import { createJsonLogger } from '../consumers/logger.ts';
import { emfCount, emfLine, METRICS_NAMESPACE } from '../consumers/metrics.ts';
import { createAggregatorProcessor } from '../consumers/window-aggregator/processor.ts';
import { DEFAULT_ALERT_RULES } from '../core/rules.ts';
import { eventsOfType, kinesisRecord, makeEvent, windowEvent } from './consumers-factories.ts';

const NOW = Date.UTC(2024, 0, 1);

/** Log lines that carry EMF metrics, parsed. */
function metricLines(
  lines: string[],
): Array<Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } }> {
  return lines.map((line) => JSON.parse(line)).filter((entry) => entry._aws !== undefined);
}

describe('EMF line builder', () => {
  it('builds one Count metric in the Clickstream namespace with no dimensions', () => {
    expect(JSON.parse(emfLine('AlertsSent', 3, NOW))).toEqual({
      _aws: {
        Timestamp: NOW,
        CloudWatchMetrics: [
          { Namespace: 'Clickstream', Dimensions: [[]], Metrics: [{ Name: 'AlertsSent', Unit: 'Count' }] },
        ],
      },
      AlertsSent: 3,
    });
    expect(METRICS_NAMESPACE).toBe('Clickstream');
  });

  it('stays valid EMF through the JSON logger: _aws and the value at the top level of the line', () => {
    const lines: string[] = [];
    createJsonLogger('info', (line) => lines.push(line)).info(
      'windows written',
      emfCount('WindowsWritten', 7, NOW),
    );
    const [entry] = metricLines(lines);
    expect(entry).toMatchObject({ level: 'info', WindowsWritten: 7, _aws: { Timestamp: NOW } });
    expect(entry?._aws.CloudWatchMetrics).toEqual([
      { Namespace: 'Clickstream', Dimensions: [[]], Metrics: [{ Name: 'WindowsWritten', Unit: 'Count' }] },
    ]);
  });
});

describe('handlers emit their metric once per invocation, only when non-zero', () => {
  it('window aggregator: WindowsWritten = partials merged, a re-sent final window merged and counted again', async () => {
    const lines: string[] = [];
    let updates = 0;
    const dynamo = {
      send: async () => {
        updates++;
        return {};
      },
    } as unknown as DynamoDBDocumentClient;
    const kinesis = { send: async () => ({ FailedRecordCount: 0, Records: [] }) } as unknown as KinesisClient;
    const processor = createAggregatorProcessor({
      dynamo,
      kinesis,
      tableName: 't',
      streamName: 's',
      deadLetter: createMemoryDeadLetterSink(),
      logger: createJsonLogger('info', (line) => lines.push(line)),
      now: () => NOW,
    });
    const records = [
      ...eventsOfType('view', 3).map((event) => kinesisRecord(event)),
      kinesisRecord(makeEvent({ user_id: '42' })),
    ];
    const open = await processor.process(windowEvent(records, {}, { final: false }));
    expect(metricLines(lines)).toEqual([]); // nothing written before the window closes

    const final = windowEvent([], JSON.parse(JSON.stringify(open.state)), { final: true });
    await processor.process(final);
    expect(metricLines(lines).map((entry) => entry.WindowsWritten)).toEqual([2]);
    expect(updates).toBeGreaterThan(0);

    // Lambda re-sends the final window (say the first response was lost): the same two partials are
    // merged again (a union with what is there, so no total changes) and counted as written again.
    await processor.process(windowEvent([], JSON.parse(JSON.stringify(open.state)), { final: true }));
    expect(metricLines(lines).map((entry) => entry.WindowsWritten)).toEqual([2, 2]);
    expect(updates).toBe(4);
  });

  it('bot alerter: AlertsSent = alerts published in this invocation', async () => {
    const lines: string[] = [];
    // A stored user-activity item: 500 views in one minute.
    const total = {
      user_id: '900000001',
      window_start: '2019-10-01T00:00:00Z',
      window_seconds: 60,
      view_ids: new Set(Array.from({ length: 500 }, (_, i) => `e${i}`)),
      event_seconds: new Set([Date.UTC(2019, 9, 1) / 1000, Date.UTC(2019, 9, 1) / 1000 + 59]),
      contribution_ids: new Set(['c1']),
      sessions: new Set(['s']),
      products: new Set(['p']),
    };
    const claimed = new Set<string>();
    const dynamo = {
      send: async (command: {
        constructor: { name: string };
        input: { TableName?: string; Item?: Record<string, unknown> };
      }) => {
        const kind = command.constructor.name;
        if (kind === 'BatchGetCommand') return { Responses: { ua: [total] } };
        if (kind === 'GetCommand') return { Item: { status: 'sent' } };
        if (kind === 'PutCommand') {
          const id = String(Object.values(command.input.Item ?? {})[0]);
          if (claimed.has(id))
            throw Object.assign(new Error('conditional'), { name: 'ConditionalCheckFailedException' });
          claimed.add(id);
        }
        return {};
      },
    } as unknown as DynamoDBDocumentClient;
    let published = 0;
    const sns = { send: async () => ({ MessageId: String(++published) }) } as unknown as SNSClient;
    const processor = createAlerterProcessor({
      dynamo,
      sns,
      userActivityTable: 'ua',
      alertDedupeTable: 'ad',
      topicArn: 'arn:aws:sns:us-east-1:000000000000:alerts',
      rules: DEFAULT_ALERT_RULES,
      glueDatabase: 'clickstream',
      logger: createJsonLogger('info', (line) => lines.push(line)),
      now: () => NOW,
    });
    const partial = { user_id: total.user_id, window_start: total.window_start };
    await processor.process({ Records: [kinesisRecord(partial), kinesisRecord(partial)] });
    expect(published).toBeGreaterThan(0);
    expect(metricLines(lines).map((entry) => entry.AlertsSent)).toEqual([published]);
    expect(metricLines(lines)[0]?._aws).toMatchObject({ Timestamp: NOW });

    // The same (user, window) again: every alert is already sent, nothing is published, no metric line.
    await processor.process({ Records: [kinesisRecord(partial)] });
    expect(metricLines(lines)).toHaveLength(1);
  });
});
