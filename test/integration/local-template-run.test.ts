/**
 * A setting changed in the CDK app (by context, or in a given template) changes the local run: the
 * streams the stack creates, the settings each local runner applies, and where the local Firehose
 * writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListShardsCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUT_RECORDS_RETRY_BUDGET_MS } from '../../consumers/put-records.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { DEFAULT_CONFIG, userActivityShardsFor } from '../../infra/config.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { LOCAL_DEFAULT_CONTEXT, loadTemplate } from '../../local/synth.ts';
import { localConfigFromTemplate } from '../../local/template.ts';

const CONTEXT = { batchSize: '100', eventsShards: '3', tumblingWindowSeconds: '20' };
const workDir = mkdtempSync(join(tmpdir(), 'clickstream-template-run-'));
let stack: LocalStack;
let pipeline: LocalPipeline;

beforeAll(async () => {
  const { template } = await loadTemplate({ context: { ...LOCAL_DEFAULT_CONTEXT, ...CONTEXT } });
  // One edit only a template can make (no context key for it): the events delivery's data prefix.
  const delivery = Object.entries(template.Resources).find(
    ([id, r]) => r.Type === 'AWS::KinesisFirehose::DeliveryStream' && id.startsWith('EventsToLake'),
  )?.[1];
  const destination = delivery?.Properties?.ExtendedS3DestinationConfiguration as Record<string, unknown>;
  destination.Prefix = 'custom-events/dt=!{partitionKeyFromQuery:dt}/';
  stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: localConfigFromTemplate(template),
  });
  pipeline = await startLocalPipeline(stack, { workDir });
});
afterAll(async () => {
  await pipeline?.stop();
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('the local run follows the synthesized template', () => {
  it('creates the streams with the shard counts of the context', async () => {
    const shards = async (StreamName: string) =>
      (await stack.kinesis.send(new ListShardsCommand({ StreamName }))).Shards?.length;
    expect(await shards(DEFAULT_RESOURCE_NAMES.eventsStream)).toBe(3);
    // The user-activity stream follows the events stream's shards, as the CDK app sizes it.
    expect(await shards(DEFAULT_RESOURCE_NAMES.userActivityStream)).toBe(userActivityShardsFor(3));
  });

  it("runs each event source mapping with the template's settings", () => {
    const deployed = {
      maxBatchingWindowMs: DEFAULT_CONFIG.maxBatchingWindowSeconds * 1000,
      maxRetryAttempts: DEFAULT_CONFIG.retryAttempts,
      maxRecordAgeSeconds: DEFAULT_CONFIG.maxRecordAgeSeconds,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      startingPosition: 'TRIM_HORIZON',
    };
    expect(pipeline.aggregator.settings).toEqual({
      ...deployed,
      functionName: 'window-aggregator',
      streamName: DEFAULT_RESOURCE_NAMES.eventsStream,
      batchSize: 100,
      tumblingWindowSeconds: 20,
      // The template's Timeout, watched (not enforced) by the runner.
      deployedTimeoutMs: 2 * PUT_RECORDS_RETRY_BUDGET_MS,
    });
    expect(pipeline.alerter.settings).toEqual({
      ...deployed,
      functionName: 'bot-alerter',
      streamName: DEFAULT_RESOURCE_NAMES.userActivityStream,
      batchSize: 100,
      tumblingWindowSeconds: 0,
      deployedTimeoutMs: 60_000,
    });
    expect(pipeline.windowSeconds).toBe(DEFAULT_CONFIG.windowSeconds);
  });

  it('delivers the lake under the prefix the template gives', async () => {
    const event = {
      event_time: '2019-10-01T00:00:05Z',
      event_type: 'view',
      product_id: '1003461',
      category_id: '2053013555631882655',
      category_code: 'electronics.smartphone',
      brand: 'xiaomi',
      price: 489.07,
      user_id: '520088904',
      user_session: 's1',
      // Every event carries the producer's id; the aggregator dead-letters one without.
      event_id: 'templaterun1',
      replayed_at: '2024-01-01T00:00:00.000Z',
    };
    await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: DEFAULT_RESOURCE_NAMES.eventsStream,
        Records: [{ PartitionKey: event.category_id, Data: Buffer.from(JSON.stringify(event)) }],
      }),
    );
    await pipeline.drain();
    const listed = await stack.s3.send(
      new ListObjectsV2Command({ Bucket: DEFAULT_RESOURCE_NAMES.lakeBucket }),
    );
    const keys = (listed.Contents ?? []).map((object) => object.Key ?? '');
    expect(keys.filter((key) => key.startsWith('custom-events/dt=2019-10-01/'))).toHaveLength(1);
    expect(keys.filter((key) => key.startsWith('events/'))).toEqual([]);
    expect(keys.some((key) => key.startsWith('user_activity/dt=2019-10-01/'))).toBe(true);
    // What the demo's drain line shows: everything read, no window open, one merge, nothing to mail.
    const consumer = { buffered: 0, openWindows: 0 };
    expect(await pipeline.progress()).toEqual({
      aggregator: { ...consumer, records: 1, shards: 3, shardsCaughtUp: 3, dynamodbCalls: 1 },
      // Its totals over the horizons (a query), its incident, and the end-of-stream close.
      alerter: { ...consumer, records: 1, shards: 8, shardsCaughtUp: 8, dynamodbCalls: 4 },
      lake: { records: 2, objects: 2 },
      mail: { delivered: 0, pending: 0 },
    });
  });

  it('stops draining as soon as its signal aborts (Ctrl-C), and a later drain still completes', async () => {
    const event = {
      event_time: '2019-10-01T00:00:07Z',
      event_type: 'view',
      product_id: '1003461',
      category_id: '2053013555631882655',
      user_id: '520088905',
      user_session: 's2',
      price: 489.07,
      event_id: 'templaterun2',
      replayed_at: '2024-01-01T00:00:00.000Z',
    };
    await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: DEFAULT_RESOURCE_NAMES.eventsStream,
        Records: [{ PartitionKey: event.category_id, Data: Buffer.from(JSON.stringify(event)) }],
      }),
    );
    const interrupted = new Error('interrupted');
    const abort = new AbortController();
    const draining = pipeline.drain(abort.signal);
    abort.abort(interrupted);
    await expect(draining).rejects.toBe(interrupted);
    // Already aborted: it does not start waiting at all.
    await expect(pipeline.drain(abort.signal)).rejects.toBe(interrupted);

    await pipeline.drain();
    expect((await pipeline.progress()).aggregator.records).toBe(2);
  });
});
