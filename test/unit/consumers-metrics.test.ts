/**
 * The consumers' custom metrics as CloudWatch will see them: Powertools Metrics writes one EMF object
 * per line straight to stdout (never through console.log, which Lambda's JSON log format wraps in a
 * `message` field), once per invocation and only when there is something to count; and the dashboard
 * graphs each metric under exactly the namespace, name and dimensions the line carries.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { createAlerterHandler } from '../../consumers/bot-alerter/handler.ts';
import { createMemoryDeadLetterSink } from '../../consumers/dead-letter.ts';
import { createConsumerMetrics } from '../../consumers/metrics.ts';
import { createAggregatorHandler } from '../../consumers/window-aggregator/handler.ts';
import { DEFAULT_ALERT_RULES } from '../../core/rules.ts';
import { fakeAlertDedupeTable } from '../support/alert-dedupe-fake.ts';
import { eventsOfType, kinesisRecord, makeEvent, windowEvent } from '../support/consumers-factories.ts';
import { unvalidatedTemplate } from '../support/infra-context.ts';

const NOW = Date.UTC(2024, 0, 1);

interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
  };
  [key: string]: unknown;
}

let stdout: MockInstance;
let consoleLog: MockInstance;
let written: string[];
beforeEach(() => {
  written = [];
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  consoleLog = vi.spyOn(console, 'log');
});
afterEach(() => vi.restoreAllMocks());

/** Every line written to stdout, parsed; a line that is not JSON fails the test. */
function stdoutLines(): unknown[] {
  return written
    .join('')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}
const emfLines = () => stdoutLines().filter((line): line is EmfLine => (line as EmfLine)._aws !== undefined);

/** DynamoDB as the aggregator sees it: every merge is an unconditional union of event ids. */
function mergingDynamo(): DynamoDBDocumentClient {
  return { send: async () => ({ Attributes: {} }) } as unknown as DynamoDBDocumentClient;
}

const kinesis = { send: async () => ({ FailedRecordCount: 0, Records: [] }) } as unknown as KinesisClient;

function aggregatorHandler(withMetrics: boolean) {
  return createAggregatorHandler({
    dynamo: mergingDynamo(),
    kinesis,
    tableName: 't',
    streamName: 's',
    deadLetter: createMemoryDeadLetterSink(),
    ...(withMetrics ? { metrics: createConsumerMetrics('aggregator') } : {}),
    now: () => NOW,
  });
}

/** One window of 4 events from 2 users: open (nothing written yet), then final (2 partials merged). */
async function runWindow(handler: ReturnType<typeof aggregatorHandler>) {
  const records = [
    ...eventsOfType('view', 3).map((event) => kinesisRecord(event)),
    kinesisRecord(makeEvent({ user_id: '42' })),
  ];
  const open = await handler(windowEvent(records, {}, { final: false }));
  const state = JSON.parse(JSON.stringify(open.state));
  return { state, final: () => handler(windowEvent([], structuredClone(state), { final: true })) };
}

// A stored user-activity item as the aggregator writes it: 500 views of one user in one minute.
const BOT_TOTAL = {
  user_id: '900000001',
  window_start: '2019-10-01T00:00:00Z',
  window_seconds: 60,
  view_ids: new Set(Array.from({ length: 500 }, (_, i) => `e${i}`)),
  event_seconds: new Set([Date.UTC(2019, 9, 1) / 1000, Date.UTC(2019, 9, 1) / 1000 + 59]),
  contribution_ids: new Set(['c1']),
  sessions: new Set(['s']),
  products: new Set(['p']),
};

function alerterHandler() {
  const dedupe = fakeAlertDedupeTable();
  const dynamo = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) =>
      // The alerter's one read of user activity: a Query of the user's windows.
      command.constructor.name === 'QueryCommand' ? { Items: [BOT_TOTAL] } : dedupe.send(command),
  } as unknown as DynamoDBDocumentClient;
  const published = { count: 0 };
  const sns = { send: async () => ({ MessageId: String(++published.count) }) } as unknown as SNSClient;
  const handler = createAlerterHandler({
    dynamo,
    sns,
    userActivityTable: 'ua',
    alertDedupeTable: 'ad',
    topicArn: 'arn:aws:sns:us-east-1:000000000000:alerts',
    rules: DEFAULT_ALERT_RULES,
    glueDatabase: 'clickstream',
    metrics: createConsumerMetrics('alerter'),
    now: () => NOW,
  });
  const partial = {
    user_id: BOT_TOTAL.user_id,
    window_start: BOT_TOTAL.window_start,
    window_seconds: BOT_TOTAL.window_seconds,
  };
  return {
    handler,
    published,
    records: (n: number) => Array.from({ length: n }, () => kinesisRecord(partial)),
  };
}

describe('handlers emit their metric once per invocation, only when non-zero', () => {
  it('window aggregator: WindowsWritten = partials merged, a re-sent final window merged and counted again', async () => {
    const { final } = await runWindow(aggregatorHandler(true));
    expect(emfLines()).toEqual([]); // nothing written before the window closes
    await final();
    expect(emfLines().map((line) => line.WindowsWritten)).toEqual([2]);
    // Lambda re-sends the final window (say the first response was lost): the same two partials are
    // merged again (a union with what is there, so no total changes) and counted as written again.
    await final();
    expect(emfLines().map((line) => line.WindowsWritten)).toEqual([2, 2]);
  });

  it('bot alerter: AlertsSent = alerts published in this invocation', async () => {
    const alerter = alerterHandler();
    await alerter.handler({ Records: alerter.records(2) });
    expect(alerter.published.count).toBeGreaterThan(0);
    expect(emfLines().map((line) => line.AlertsSent)).toEqual([alerter.published.count]);
    // The same (user, window) again: the incident is open and mailed, nothing is published, no metric line.
    await alerter.handler({ Records: alerter.records(1) });
    expect(emfLines()).toHaveLength(1);
  });

  it('without metrics and logger (the local runner, tests) a handler writes nothing at all', async () => {
    const { final } = await runWindow(aggregatorHandler(false));
    await final();
    expect(stdout).not.toHaveBeenCalled();
    expect(consoleLog).not.toHaveBeenCalled();
  });
});

describe('EMF lines CloudWatch extracts, graphed by the dashboard', () => {
  let dashboardMetrics: unknown[][];
  beforeAll(() => {
    const template = unvalidatedTemplate({}, 'Metrics');
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = dashboard?.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
    // Tokens (function names, the region) sit inside JSON strings: any text keeps the body parseable.
    const text =
      typeof body === 'string'
        ? body
        : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
    const widgets = (JSON.parse(text) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> })
      .widgets;
    dashboardMetrics = widgets.flatMap((widget) => widget.properties.metrics ?? []);
  }, 120_000);

  it('each line is a top-level EMF object on stdout, not console.log, under a dashboard metric', async () => {
    await (await runWindow(aggregatorHandler(true))).final();
    const alerter = alerterHandler();
    await alerter.handler({ Records: alerter.records(1) });

    expect(consoleLog).not.toHaveBeenCalled();
    const lines = emfLines();
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      // Not wrapped: the EMF keys are at the top level of the JSON object.
      expect(line.message).toBeUndefined();
      const [directive] = line._aws.CloudWatchMetrics;
      expect(line._aws.CloudWatchMetrics).toHaveLength(1);
      expect(directive?.Namespace).toBe('Clickstream');
      expect(directive?.Dimensions).toEqual([['service']]);
      for (const { Name } of directive?.Metrics ?? []) {
        expect(typeof line[Name]).toBe('number');
        // As CloudWatch names the metric: namespace, name, then each dimension's name and value.
        const identity = [directive?.Namespace, Name, 'service', line.service];
        expect(dashboardMetrics.map((metric) => metric.slice(0, identity.length))).toContainEqual(identity);
      }
    }
    expect(lines.map((line) => [line.service, Object.keys(line).filter((k) => /^[A-Z]/.test(k))])).toEqual([
      ['window-aggregator', ['WindowsWritten']],
      ['bot-alerter', ['AlertsSent']],
    ]);
  });
});
