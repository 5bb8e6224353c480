/**
 * The local stack's configuration is the CDK app's synthesized template: read from the template (or a
 * given one), synthesized with the user's context, cached by a hash of its inputs, and refusing what
 * the local runners cannot honour.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coloursFor } from '../../cli/colours.ts';
import { ClickstreamError, type CommandContext } from '../../cli/command.ts';
import { parseContextFlags, resolveLocalTemplate } from '../../cli/stack-template.ts';
import { PUT_RECORDS_RETRY_BUDGET_MS } from '../../consumers/put-records.ts';
import { aggregatorConfigFromEnv } from '../../consumers/window-aggregator/handler.ts';
import { LAMBDA_ENV } from '../../core/lambda-env.ts';
import { DEFAULT_RESOURCE_NAMES, localResourceName } from '../../core/resources.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import {
  LOCAL_ALERT_EMAIL,
  LOCAL_DEFAULT_CONTEXT,
  loadTemplate,
  PROJECT_ROOT,
  synthInputFiles,
  templateInputsHash,
} from '../../local/synth.ts';
import {
  type CfnTemplate,
  consumerOf,
  type LocalConfig,
  localConfigFromTemplate,
  ON_DEMAND_LOCAL_SHARDS,
  TemplateError,
} from '../../local/template.ts';

const dir = mkdtempSync(join(tmpdir(), 'clickstream-local-template-'));
let template: CfnTemplate;
let config: LocalConfig;

beforeAll(async () => {
  template = (await loadTemplate({ context: LOCAL_DEFAULT_CONTEXT })).template;
  config = localConfigFromTemplate(template);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A deep copy of the template with one change, as a user editing cdk.out would make it. */
function edited(change: (copy: CfnTemplate) => void): CfnTemplate {
  const copy = structuredClone(template);
  change(copy);
  return copy;
}

const idOf = (copy: CfnTemplate, type: string, head: string) => {
  const id = Object.keys(copy.Resources).find(
    (key) => copy.Resources[key]?.Type === type && key.startsWith(head),
  );
  if (!id) throw new Error(`no ${type} ${head}* in the template`);
  return id;
};

function quietContext(lines: string[] = []): CommandContext {
  return {
    json: false,
    interactive: false,
    colours: coloursFor({ isTTY: false }),
    info: (line) => lines.push(line),
    warn: (line) => lines.push(line),
    debug: () => undefined,
    progress: () => ({ update: () => undefined, setTotal: () => undefined, stop: () => undefined }),
    signal: new AbortController().signal,
    target: () => Promise.reject(new Error('unused')),
  };
}

describe('the template as the local configuration', () => {
  it('takes streams, tables, buckets and topics from the template, named as commands expect', () => {
    expect(config.names).toEqual(DEFAULT_RESOURCE_NAMES);
    expect(config.streams.map((s) => [s.name, s.shardCount, s.mode])).toEqual([
      [DEFAULT_RESOURCE_NAMES.eventsStream, DEFAULT_CONFIG.eventsShards, 'provisioned'],
      [DEFAULT_RESOURCE_NAMES.userActivityStream, DEFAULT_CONFIG.userActivityShards, 'provisioned'],
    ]);
    const tables = Object.fromEntries(config.tables.map((t) => [t.name, t]));
    expect(tables[DEFAULT_RESOURCE_NAMES.userActivityTable]).toMatchObject({
      keys: [
        { name: 'user_id', type: 'S' },
        { name: 'window_start', type: 'S' },
      ],
      ttlAttribute: 'expires_at',
    });
    expect(tables[DEFAULT_RESOURCE_NAMES.alertDedupeTable]?.keys).toEqual([{ name: 'alert_id', type: 'S' }]);
    expect(config.buckets.map((b) => b.name).sort()).toEqual(
      [
        DEFAULT_RESOURCE_NAMES.rawBucket,
        DEFAULT_RESOURCE_NAMES.lakeBucket,
        DEFAULT_RESOURCE_NAMES.athenaResultsBucket,
        localResourceName(idOf(template, 'AWS::S3::Bucket', 'BucketsAccessLogs')),
      ].sort(),
    );
    expect(config.topics).toEqual([
      expect.objectContaining({ name: DEFAULT_RESOURCE_NAMES.alertTopic, emails: [LOCAL_ALERT_EMAIL] }),
    ]);
  });

  it('takes every event source mapping setting the CDK app deploys', () => {
    const aggregator = consumerOf(config, 'aggregator');
    const alerter = consumerOf(config, 'alerter');
    const deployed = {
      batchSize: DEFAULT_CONFIG.batchSize,
      maximumBatchingWindowInSeconds: DEFAULT_CONFIG.maxBatchingWindowSeconds,
      maximumRetryAttempts: DEFAULT_CONFIG.retryAttempts,
      maximumRecordAgeInSeconds: DEFAULT_CONFIG.maxRecordAgeSeconds,
      bisectBatchOnFunctionError: true,
      reportBatchItemFailures: true,
      parallelizationFactor: 1,
      startingPosition: 'TRIM_HORIZON',
    };
    expect(aggregator.mapping).toMatchObject({
      ...deployed,
      tumblingWindowInSeconds: DEFAULT_CONFIG.tumblingWindowSeconds,
    });
    expect(alerter.mapping).toMatchObject({ ...deployed, tumblingWindowInSeconds: 0 });
    expect(aggregator.stream.name).toBe(DEFAULT_RESOURCE_NAMES.eventsStream);
    expect(alerter.stream.name).toBe(DEFAULT_RESOURCE_NAMES.userActivityStream);
    expect(aggregator.mapping.onFailure?.type).toBe('AWS::SQS::Queue');
    expect(aggregator.function.roleLogicalId).toMatch(/^StreamToAggregatorRole/);
    // The timeouts the local runners watch (not enforce): twice the put retry budget, and a minute.
    expect(aggregator.function.timeoutSeconds).toBe((2 * PUT_RECORDS_RETRY_BUDGET_MS) / 1000);
    expect(alerter.function.timeoutSeconds).toBe(60);
  });

  it("resolves each function's environment to the local names, read by the handler's own env code", () => {
    const aggregator = consumerOf(config, 'aggregator').function;
    const read = aggregatorConfigFromEnv(aggregator.environment, {
      dynamo: {} as never,
      kinesis: {} as never,
      s3: {} as never,
    });
    expect(read.tableName).toBe(DEFAULT_RESOURCE_NAMES.userActivityTable);
    expect(read.streamName).toBe(DEFAULT_RESOURCE_NAMES.userActivityStream);
    expect(read.windowSeconds).toBe(DEFAULT_CONFIG.windowSeconds);
    expect(aggregator.environment[LAMBDA_ENV.deadLetterBucket]).toBe(DEFAULT_RESOURCE_NAMES.rawBucket);
    const alerter = consumerOf(config, 'alerter').function;
    expect(alerter.environment[LAMBDA_ENV.alertTopicArn]).toBe(
      `arn:aws:sns:${config.region}:${config.accountId}:${DEFAULT_RESOURCE_NAMES.alertTopic}`,
    );
    expect(alerter.environment[LAMBDA_ENV.alertDedupeTable]).toBe(DEFAULT_RESOURCE_NAMES.alertDedupeTable);
  });

  it('takes the Firehose prefixes and buffering from the template', () => {
    expect(
      config.deliveries.map((d) => [d.table, d.prefix, d.partitionField, d.bufferingSeconds, d.bufferingMiB]),
    ).toEqual([
      [
        'events',
        'events/dt=!{partitionKeyFromQuery:dt}/',
        'event_time',
        DEFAULT_CONFIG.firehoseBufferingSeconds,
        64,
      ],
      [
        'user_activity',
        'user_activity/dt=!{partitionKeyFromQuery:dt}/',
        'window_start',
        DEFAULT_CONFIG.firehoseBufferingSeconds,
        64,
      ],
    ]);
    expect(config.deliveries[0]?.errorOutputPrefix).toBe(
      'errors/events/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
    );
  });

  it('gives an on-demand stream the documented local shard count', () => {
    const onDemand = localConfigFromTemplate(
      edited((copy) => {
        const props = copy.Resources[idOf(copy, 'AWS::Kinesis::Stream', 'StreamsEvents')]?.Properties;
        if (!props) throw new Error('no stream properties');
        delete props.ShardCount;
        props.StreamModeDetails = { StreamMode: 'ON_DEMAND' };
      }),
    );
    expect(onDemand.streams[0]).toMatchObject({ mode: 'on-demand', shardCount: ON_DEMAND_LOCAL_SHARDS });
  });

  it('fails clearly on a template without the aggregator mapping', () => {
    const without = localConfigFromTemplate(
      edited((copy) => {
        delete copy.Resources[idOf(copy, 'AWS::Lambda::EventSourceMapping', 'StreamToAggregator')];
      }),
    );
    expect(() => consumerOf(without, 'aggregator')).toThrow(
      /no event source mapping for the window-aggregator function \(StreamToAggregatorFunction[0-9A-F]{8}\)/,
    );
    expect(() => consumerOf(without, 'aggregator')).toThrow(TemplateError);
    expect(() => consumerOf(without, 'alerter')).not.toThrow();
  });

  it('refuses a mapping setting the local runner cannot honour, saying why', () => {
    const parallel = edited((copy) => {
      const props = copy.Resources[idOf(copy, 'AWS::Lambda::EventSourceMapping', 'StreamToAggregator')]
        ?.Properties as Record<string, unknown>;
      props.ParallelizationFactor = 2;
    });
    expect(() => localConfigFromTemplate(parallel)).toThrow(
      /ParallelizationFactor 2 cannot run locally: the local runner invokes one batch per shard at a time, and a tumbling window keeps one state per shard/,
    );
    const atTimestamp = edited((copy) => {
      const props = copy.Resources[idOf(copy, 'AWS::Lambda::EventSourceMapping', 'UserActivityToAlerter')]
        ?.Properties as Record<string, unknown>;
      props.StartingPosition = 'AT_TIMESTAMP';
    });
    expect(() => localConfigFromTemplate(atTimestamp)).toThrow(
      /StartingPosition AT_TIMESTAMP cannot run locally/,
    );
  });
});

describe('--template and -c, as the commands take them', () => {
  it('honours --template FILE as it is', async () => {
    const file = join(dir, 'Clickstream.template.json');
    writeFileSync(
      file,
      JSON.stringify(
        edited((copy) => {
          const mapping = copy.Resources[idOf(copy, 'AWS::Lambda::EventSourceMapping', 'StreamToAggregator')];
          (mapping?.Properties as Record<string, unknown>).BatchSize = 7;
          const stream = copy.Resources[idOf(copy, 'AWS::Kinesis::Stream', 'StreamsUserActivity')];
          (stream?.Properties as Record<string, unknown>).ShardCount = 5;
        }),
      ),
    );
    const lines: string[] = [];
    const { config: given, template: source } = await resolveLocalTemplate(
      { template: file },
      quietContext(lines),
      {
        defaults: LOCAL_DEFAULT_CONTEXT,
        consumers: true,
      },
    );
    expect(source).toMatchObject({ source: 'file', path: file, context: {} });
    expect(consumerOf(given, 'aggregator').mapping.batchSize).toBe(7);
    expect(consumerOf(given, 'alerter').stream.shardCount).toBe(5);
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^template: file ${file} in \\d+\\.\\d s; context: none$`)),
    ]);
  });

  it('refuses context beside --template, and a template without the aggregator mapping, in one line with a hint', async () => {
    const file = join(dir, 'no-aggregator.template.json');
    writeFileSync(
      file,
      JSON.stringify(
        edited((copy) => {
          delete copy.Resources[idOf(copy, 'AWS::Lambda::EventSourceMapping', 'StreamToAggregator')];
        }),
      ),
    );
    const resolve = (flags: Parameters<typeof resolveLocalTemplate>[0]) =>
      resolveLocalTemplate(flags, quietContext(), { defaults: LOCAL_DEFAULT_CONTEXT, consumers: true });
    await expect(resolve({ template: file })).rejects.toThrow(ClickstreamError);
    await expect(resolve({ template: file })).rejects.toThrow(
      /no event source mapping for the window-aggregator function/,
    );
    await expect(resolve({ template: file, context: ['batchSize=100'] })).rejects.toMatchObject({
      message: 'context (batchSize=100) cannot change a template that is already synthesized',
      hint: expect.stringContaining('npx cdk synth -c'),
    });
  });

  it('checks -c pairs against the keys and values the CDK app accepts', () => {
    expect(
      parseContextFlags(['batchSize=100', 'stackName=Two', '@aws-cdk/core:newStyleStackSynthesis=a=b']),
    ).toEqual({
      batchSize: '100',
      stackName: 'Two',
      '@aws-cdk/core:newStyleStackSynthesis': 'a=b',
    });
    expect(() => parseContextFlags(['batchSzie=100'])).toThrow('unknown context key "batchSzie"');
    expect(() => parseContextFlags(['batchSize'])).toThrow('bad -c/--context "batchSize"');
    expect(() => parseContextFlags(['batchSize=0'])).toThrow(
      'context batchSize must be an integer in 1..10000, got "0"',
    );
  });
});

describe('the commands', () => {
  const BIN = join(import.meta.dirname, '..', '..', 'bin', 'clickstream.js');
  async function cli(args: string[]) {
    try {
      await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
      return { code: 0, stderr: '' };
    } catch (error) {
      const failed = error as { code: number; stderr: string };
      return { code: failed.code, stderr: failed.stderr };
    }
  }

  it('take repeated -c and --template, and say in one line with a hint what is wrong with them', async () => {
    const file = join(dir, 'given.template.json');
    writeFileSync(file, JSON.stringify(template));
    const both = await cli([
      'local',
      'up',
      '--template',
      file,
      '-c',
      'batchSize=100',
      '--context',
      'windowSeconds=30',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr.trim().split('\n')).toEqual([
      'error: context (batchSize=100 windowSeconds=30) cannot change a template that is already synthesized',
      'hint: synthesize it with that context (npx cdk synth -c key=value), or drop --template',
    ]);
    const missing = await cli(['demo', '--template', join(dir, 'missing.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: cannot read template ${join(dir, 'missing.json')}`);
    const bad = await cli(['demo', '-c', 'batchSize=0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: context batchSize must be an integer in 1..10000, got "0"');
  });
});

describe('the template cache', () => {
  it('synthesizes once, hits on the same inputs and misses when the context changes', async () => {
    const cacheDir = join(dir, 'cache');
    const first = await loadTemplate({ context: { batchSize: '100' }, cacheDir });
    const second = await loadTemplate({ context: { batchSize: '100' }, cacheDir });
    const other = await loadTemplate({ context: { batchSize: '101' }, cacheDir });
    expect([first.source, second.source, other.source]).toEqual(['synthesized', 'cached', 'synthesized']);
    expect(second.path).toBe(first.path);
    expect(other.path).not.toBe(first.path);
    expect(second.template).toEqual(first.template);
    const batchSizes = (t: CfnTemplate) =>
      Object.values(t.Resources)
        .filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping')
        .map((r) => r.Properties?.BatchSize);
    expect(batchSizes(first.template)).toEqual([100, 100]);
    expect(batchSizes(other.template)).toEqual([101, 101]);
  });

  it('keys on every source file that shapes the template', () => {
    const root = join(dir, 'project');
    for (const file of synthInputFiles(PROJECT_ROOT)) {
      cpSync(file, join(root, file.slice(PROJECT_ROOT.length)), { recursive: true });
    }
    const files = synthInputFiles(root).map((f) => f.slice(root.length + 1));
    for (const expected of [
      'cdk.json',
      'package-lock.json',
      'infra/pipeline-stack.ts',
      'consumers/env.ts',
      'core/rules.ts',
      'sql/queries/bot_suspects.sql',
    ])
      expect(files).toContain(expected);
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/'))).toBe(false);
    const before = templateInputsHash(root, {});
    expect(templateInputsHash(root, {})).toBe(before);
    writeFileSync(join(root, 'core', 'rules.ts'), '// changed\n', { flag: 'a' });
    expect(templateInputsHash(root, {})).not.toBe(before);
  });
});
