/**
 * The permissions contract: every AWS call the deployed code makes is allowed, in the synthesized
 * template, for the principal that makes it in AWS.
 *
 * The stack is synthesized in-process (bundling skipped). Each handler runs with the environment its
 * function gets in the template, and each CLI command with the stack's ClickstreamConfig output, over
 * inputs that take every path that calls AWS; the SDK clients are the real ones from
 * adapters/clients.ts with `send` recorded (aws-sdk-client-mock). Every recorded command is mapped to
 * the IAM actions and resources it needs (local/iam/actions.ts) and decided against the policies of
 * the function's role, or of the customer-managed policy a CLI user attaches (local/iam/policy.ts).
 * The distinct action/resource pairs of each principal are pinned, and every command class the
 * sources construct must have been recorded, so a new AWS call cannot go unchecked.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { GlueClient } from '@aws-sdk/client-glue';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  GetTopicAttributesCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNamedQueries } from '../../analytics/named-queries.ts';
import { query } from '../../analytics/query.ts';
import { report } from '../../analytics/report.ts';
import { smoke } from '../../analytics/smoke/run.ts';
import { verify } from '../../analytics/verify.ts';
import type { AwsTarget } from '../../cli/command.ts';
import { createContext } from '../../cli/context.ts';
import { alerterConfigFromEnv, createAlerterHandler } from '../../consumers/bot-alerter/handler.ts';
import { silentLogger } from '../../consumers/logger.ts';
import {
  aggregatorConfigFromEnv,
  createAggregatorHandler,
} from '../../consumers/window-aggregator/handler.ts';
import { ALERT_DEDUPE_KEY } from '../../core/dynamo-tables.ts';
import { CSV_COLUMNS } from '../../core/event.ts';
import type { ResourceNames } from '../../core/resources.ts';
import { RAW_EVENTS_PREFIX } from '../../core/tables.ts';
import { buildApp } from '../../infra/pipeline-app.ts';
import { type Access, type AwsCall, createAccessMapper } from '../../local/iam/actions.ts';
import { actionMatches, resourceMatches } from '../../local/iam/evaluate.ts';
import { type Decision, type IamModel, type IamPrincipal, loadIamModel } from '../../local/iam/policy.ts';
import type { AwsEnvironment } from '../../local/template/arns.ts';
import type { CfnTemplate } from '../../local/template/intrinsics.ts';
import { generate } from '../../producer/generate.ts';
import { redrive } from '../../producer/redrive.ts';
import { replay } from '../../producer/replay.ts';
import { fakeAlertDedupeTable } from '../support/alert-dedupe-fake.ts';
import { kinesisRecord, makeEvent, windowEvent } from '../support/consumers-factories.ts';
import { FULL_STACK_CONTEXT } from '../support/infra-context.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const ENV: AwsEnvironment = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
/** Physical names: the logical id without its hash, so the pinned ARNs read like the stack. */
const names = (logicalId: string) => logicalId.replace(/[0-9A-F]{8}$/, '');
const A = (service: string, resource: string) => `arn:aws:${service}:us-east-1:123456789012:${resource}`;

/**
 * The distinct action/resource pairs each principal needs, all of which must be allowed. Pinned, so a
 * call that appears or disappears shows up here (and in the test names, by count).
 */
const PAIRS = {
  aggregator: [
    `dynamodb:GetItem ${A('dynamodb', 'table/AggregatorToUserActivityTable')}`,
    `dynamodb:UpdateItem ${A('dynamodb', 'table/AggregatorToUserActivityTable')}`,
    `kinesis:DescribeStream ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:DescribeStreamSummary ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:GetRecords ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:GetShardIterator ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:ListShards ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:PutRecords ${A('kinesis', 'stream/StreamsUserActivity')}`,
    expect.stringMatching(
      /^s3:PutObject arn:aws:s3:::BucketsRaw\/dead-letter\/window-aggregator\/shardId-000000000000\/\d+-\d+\.jsonl$/,
    ),
    `sqs:SendMessage ${A('sqs', 'StreamToAggregatorFailureQueue')}`,
  ],
  alerter: [
    `dynamodb:DeleteItem ${A('dynamodb', 'table/AlerterToAlertDedupeTable')}`,
    `dynamodb:GetItem ${A('dynamodb', 'table/AlerterToAlertDedupeTable')}`,
    `dynamodb:PutItem ${A('dynamodb', 'table/AlerterToAlertDedupeTable')}`,
    `dynamodb:Query ${A('dynamodb', 'table/AggregatorToUserActivityTable')}`,
    `dynamodb:UpdateItem ${A('dynamodb', 'table/AlerterToAlertDedupeTable')}`,
    `kinesis:DescribeStream ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:DescribeStreamSummary ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:GetRecords ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:GetShardIterator ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:ListShards ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kms:Decrypt ${A('kms', 'key/PipelineKey')}`,
    `kms:GenerateDataKey ${A('kms', 'key/PipelineKey')}`,
    `sns:Publish ${A('sns', 'AlertTopic')}`,
    `sqs:SendMessage ${A('sqs', 'UserActivityToAlerterFailureQueue')}`,
  ],
  producer: [
    `kinesis:DescribeStreamSummary ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:ListShards ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:PutRecords ${A('kinesis', 'stream/StreamsEvents')}`,
    's3:GetObject arn:aws:s3:::BucketsRaw/kaggle/sample.csv',
    's3:PutObject arn:aws:s3:::BucketsRaw/kaggle/sample.csv',
    's3:PutObject arn:aws:s3:::BucketsRaw/kaggle/sample.csv.truth.json',
    expect.stringMatching(/^s3:PutObject arn:aws:s3:::BucketsRaw\/rejects\/sample\.[0-9TZ-]+\.rejects\.csv$/),
  ],
  // clickstream redrive, under the same producer policy: failed records, dead letters, both consumers'
  // failure queues (the alerter's ranges go back to the user-activity stream).
  redrive: [
    `kinesis:DescribeStreamSummary ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:DescribeStreamSummary ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:GetRecords ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:GetRecords ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:GetShardIterator ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:GetShardIterator ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:ListShards ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:ListShards ${A('kinesis', 'stream/StreamsUserActivity')}`,
    `kinesis:PutRecords ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:PutRecords ${A('kinesis', 'stream/StreamsUserActivity')}`,
    's3:GetObject arn:aws:s3:::BucketsRaw/dead-letter/window-aggregator/shardId-000000000000/7-7.jsonl',
    's3:ListBucket arn:aws:s3:::BucketsRaw',
    `sqs:ChangeMessageVisibility ${A('sqs', 'StreamToAggregatorFailureQueue')}`,
    `sqs:ChangeMessageVisibility ${A('sqs', 'UserActivityToAlerterFailureQueue')}`,
    `sqs:DeleteMessage ${A('sqs', 'StreamToAggregatorFailureQueue')}`,
    `sqs:DeleteMessage ${A('sqs', 'UserActivityToAlerterFailureQueue')}`,
    `sqs:ReceiveMessage ${A('sqs', 'StreamToAggregatorFailureQueue')}`,
    `sqs:ReceiveMessage ${A('sqs', 'UserActivityToAlerterFailureQueue')}`,
  ],
  // clickstream smoke, under the producer, analyst and smoke policies together.
  smoke: [
    `athena:GetQueryExecution ${A('athena', 'workgroup/clickstream')}`,
    `athena:GetQueryResults ${A('athena', 'workgroup/clickstream')}`,
    `athena:StartQueryExecution ${A('athena', 'workgroup/clickstream')}`,
    `cloudformation:DescribeStacks ${A('cloudformation', 'stack/Clickstream/*')}`,
    'cloudwatch:ListMetrics *',
    `dynamodb:Query ${A('dynamodb', 'table/AggregatorToUserActivityTable')}`,
    `glue:GetDatabase ${A('glue', 'catalog')}`,
    `glue:GetDatabase ${A('glue', 'database/clickstream')}`,
    `glue:GetTable ${A('glue', 'catalog')}`,
    `glue:GetTable ${A('glue', 'database/clickstream')}`,
    `glue:GetTable ${A('glue', 'table/clickstream/user_activity')}`,
    `kinesis:DescribeStreamSummary ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:ListShards ${A('kinesis', 'stream/StreamsEvents')}`,
    `kinesis:PutRecords ${A('kinesis', 'stream/StreamsEvents')}`,
    's3:AbortMultipartUpload arn:aws:s3:::BucketsAthenaResults/results/*',
    's3:GetBucketLocation arn:aws:s3:::BucketsAthenaResults',
    's3:GetBucketLocation arn:aws:s3:::BucketsLake',
    's3:GetObject arn:aws:s3:::BucketsAthenaResults/results/*',
    's3:GetObject arn:aws:s3:::BucketsLake/user_activity/*',
    's3:ListBucket arn:aws:s3:::BucketsAthenaResults',
    's3:ListBucket arn:aws:s3:::BucketsLake',
    's3:ListBucketMultipartUploads arn:aws:s3:::BucketsAthenaResults',
    's3:ListMultipartUploadParts arn:aws:s3:::BucketsAthenaResults/results/*',
    's3:PutObject arn:aws:s3:::BucketsAthenaResults/results/*',
    `sns:GetTopicAttributes ${A('sns', 'AlarmTopic')}`,
    `sns:Subscribe ${A('sns', 'AlertTopic')}`,
    `sns:Unsubscribe ${A('sns', 'AlertTopic')}`,
    // The temporary queue is named after the run.
    ...['CreateQueue', 'DeleteQueue', 'GetQueueAttributes', 'ReceiveMessage', 'SetQueueAttributes'].map(
      (action) =>
        expect.stringMatching(
          new RegExp(`^sqs:${action} ${A('sqs', 'clickstream-smoke-[a-z0-9]+-[0-9a-f]{6}')}$`),
        ),
    ),
  ],
  analyst: [
    `athena:GetQueryExecution ${A('athena', 'workgroup/clickstream')}`,
    `athena:GetQueryResults ${A('athena', 'workgroup/clickstream')}`,
    `athena:StartQueryExecution ${A('athena', 'workgroup/clickstream')}`,
    `athena:StopQueryExecution ${A('athena', 'workgroup/clickstream')}`,
    `dynamodb:Scan ${A('dynamodb', 'table/AggregatorToUserActivityTable')}`,
    `dynamodb:Scan ${A('dynamodb', 'table/AlerterToAlertDedupeTable')}`,
    `glue:GetDatabase ${A('glue', 'catalog')}`,
    `glue:GetDatabase ${A('glue', 'database/clickstream')}`,
    `glue:GetTable ${A('glue', 'catalog')}`,
    `glue:GetTable ${A('glue', 'database/clickstream')}`,
    `glue:GetTable ${A('glue', 'table/clickstream/events')}`,
    `glue:GetTable ${A('glue', 'table/clickstream/user_activity')}`,
    's3:AbortMultipartUpload arn:aws:s3:::BucketsAthenaResults/results/*',
    's3:GetBucketLocation arn:aws:s3:::BucketsAthenaResults',
    's3:GetBucketLocation arn:aws:s3:::BucketsLake',
    's3:GetObject arn:aws:s3:::BucketsAthenaResults/results/*',
    's3:GetObject arn:aws:s3:::BucketsLake/events/*',
    's3:GetObject arn:aws:s3:::BucketsLake/user_activity/*',
    's3:GetObject arn:aws:s3:::BucketsRaw/kaggle/sample.csv',
    's3:GetObject arn:aws:s3:::BucketsRaw/kaggle/sample.csv.truth.json',
    's3:ListBucket arn:aws:s3:::BucketsAthenaResults',
    's3:ListBucket arn:aws:s3:::BucketsLake',
    's3:ListBucketMultipartUploads arn:aws:s3:::BucketsAthenaResults',
    's3:ListMultipartUploadParts arn:aws:s3:::BucketsAthenaResults/results/*',
    's3:PutObject arn:aws:s3:::BucketsAthenaResults/results/*',
  ],
};

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON
type Template = CfnTemplate & { Outputs: Record<string, { Value: unknown }>; Resources: Record<string, any> };

/** The real clients' `send`, stubbed and recorded, per service prefix. */
function stubClients() {
  return {
    dynamodb: mockClient(DynamoDBDocumentClient),
    kinesis: mockClient(KinesisClient),
    s3: mockClient(S3Client),
    sns: mockClient(SNSClient),
    athena: mockClient(AthenaClient),
    glue: mockClient(GlueClient),
    sqs: mockClient(SQSClient),
    cloudformation: mockClient(CloudFormationClient),
    cloudwatch: mockClient(CloudWatchClient),
  };
}
let mocks: ReturnType<typeof stubClients>;

let template: Template;
let model: IamModel;
let outdir: string;
let workdir: string;
const cwd = process.cwd();

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'iam-contract-synth-'));
  const built = buildApp({
    outdir,
    context: FULL_STACK_CONTEXT,
  });
  template = built.app.synth().getStackByName('Clickstream').template as Template;
  model = loadIamModel(template, { env: ENV, names });
  mocks = stubClients();
  // replay and report write next to the working directory (.clickstream/, report.html).
  workdir = mkdtempSync(join(tmpdir(), 'iam-contract-cwd-'));
  process.chdir(workdir);
});

afterAll(() => {
  process.chdir(cwd);
  for (const mock of Object.values(mocks)) mock.restore();
  rmSync(outdir, { recursive: true, force: true });
  rmSync(workdir, { recursive: true, force: true });
});

const logicalIdOf = (prefix: string, type: string) => {
  const found = Object.entries(template.Resources).filter(
    ([id, r]) => id.startsWith(prefix) && r.Type === type,
  );
  expect(found, `${type} ${prefix}*`).toHaveLength(1);
  return found[0]![0];
};

interface Recorded extends AwsCall {
  output: unknown;
}

/** Runs `scenario` against fresh stubs set up by `stub`, and returns every call it sent. */
async function record(stub: () => void, scenario: () => Promise<void>): Promise<Recorded[]> {
  for (const mock of Object.values(mocks)) mock.reset();
  stub();
  await scenario();
  const calls: Recorded[] = [];
  for (const [service, mock] of Object.entries(mocks)) {
    for (const call of mock.calls()) {
      const command = call.args[0] as unknown as {
        constructor: { name: string };
        input: Record<string, unknown>;
      };
      // A stub that threw has no output; one that resolved or rejected has a (promised) value.
      const output = call.exception
        ? undefined
        : await Promise.resolve(call.returnValue).catch(() => undefined);
      calls.push({ service, command: command.constructor.name, input: command.input, output });
    }
  }
  return calls;
}

interface Checked {
  commands: string[];
  accesses: Access[];
  /** `action resource`, sorted, each once. */
  pairs: string[];
  denied: Decision[];
  unevaluated: Decision['unevaluated'];
}

function check(
  principal: IamPrincipal,
  calls: Recorded[],
  extra: Array<{ action: string; resource: string }> = [],
) {
  const mapper = createAccessMapper(ENV, model.catalog);
  const accesses = [
    ...calls.flatMap((call) => {
      const mapped = mapper.accessOf(call);
      mapper.observe(call, call.output);
      return mapped;
    }),
    ...extra,
  ];
  const decisions = accesses.map((access) => model.authorize(principal, access));
  return {
    commands: [...new Set(calls.map((c) => c.command))].sort(),
    accesses,
    pairs: [...new Set(accesses.map((a) => `${a.action} ${a.resource}`))].sort(),
    denied: decisions.filter((d) => !d.allowed),
    unevaluated: decisions.flatMap((d) => d.unevaluated),
  } satisfies Checked;
}

/** `new XCommand(` in the sources of a deployed path: each must have been recorded somewhere. */
function commandsConstructedIn(paths: string[], exclude: string[]): string[] {
  const walk = (path: string): string[] => {
    const full = join(ROOT, path);
    if (statSync(full).isDirectory()) return readdirSync(full).flatMap((entry) => walk(join(path, entry)));
    return path.endsWith('.ts') && !exclude.includes(path) ? [path] : [];
  };
  const files = paths.flatMap(walk);
  const found = files.flatMap((file) =>
    [...readFileSync(join(ROOT, file), 'utf8').matchAll(/new (\w+Command)\(/g)].map((m) => m[1] as string),
  );
  return [...new Set(found)].sort();
}

const functionEnv = (prefix: string) =>
  model.resolver.resolve(
    template.Resources[logicalIdOf(prefix, 'AWS::Lambda::Function')].Properties.Environment.Variables,
  ) as Record<string, string>;

describe('Lambda handlers run as their function roles', () => {
  const results: Partial<Record<'aggregator' | 'alerter', Checked>> = {};

  it(`window aggregator: ${PAIRS.aggregator.length} pairs allowed; merges, spills a full item, puts partials, dead-letters malformed records`, async () => {
    const handler = createAggregatorHandler({
      ...aggregatorConfigFromEnv(functionEnv('StreamToAggregatorFunction')),
      logger: silentLogger,
    });
    const calls = await record(
      () => {
        // The first merge finds its item full: the aggregator reads the overflow count and spills.
        mocks.dynamodb
          .on(UpdateCommand)
          .rejectsOnce(Object.assign(new Error('full'), { name: 'ConditionalCheckFailedException' }))
          .resolves({ Attributes: {} });
        mocks.dynamodb.on(GetCommand).resolves({});
        mocks.kinesis.on(PutRecordsCommand).callsFake((input) => ({
          FailedRecordCount: 0,
          Records: input.Records.map(() => ({ SequenceNumber: '1' })),
        }));
        mocks.s3.on(PutObjectCommand).resolves({});
      },
      async () => {
        const records = [
          kinesisRecord(makeEvent({ user_id: '1' })),
          kinesisRecord(makeEvent({ user_id: '2', event_type: 'cart' })),
          kinesisRecord(null, { raw: Buffer.from('not an event').toString('base64') }),
        ];
        const response = await handler(windowEvent(records, undefined, { final: true }));
        expect(response.batchItemFailures).toEqual([]);
      },
    );
    const fn = logicalIdOf('StreamToAggregatorFunction', 'AWS::Lambda::Function');
    results.aggregator = check(model.principal(fn), calls, model.lambdaServiceAccess(fn));
    expect(results.aggregator.commands).toEqual([
      'GetCommand',
      'PutObjectCommand',
      'PutRecordsCommand',
      'UpdateCommand',
    ]);
    expect(results.aggregator.denied.map((d) => d.message)).toEqual([]);
    expect(results.aggregator.unevaluated).toEqual([]);
    expect(results.aggregator.pairs).toEqual(PAIRS.aggregator);
  });

  it(`bot alerter: ${PAIRS.alerter.length} pairs allowed; queries windows, keeps incidents, claims, publishes, releases a failed claim, finds a sent one, closes at the end of the stream`, async () => {
    const env = functionEnv('UserActivityToAlerterFunction');
    const handler = createAlerterHandler({ ...alerterConfigFromEnv(env), logger: silentLogger });
    const window = (user: string, sortKey: string, ids: string[]) => ({
      user_id: user,
      window_start: sortKey,
      window_seconds: 60,
      // As the aggregator stores it: event ids per type, event seconds, contribution ids.
      view_ids: new Set(ids),
      event_seconds: new Set([Date.UTC(2019, 9, 1) / 1000, Date.UTC(2019, 9, 1) / 1000 + 59]),
      contribution_ids: new Set(['c1']),
      sessions: new Set(['s1']),
    });
    const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => `e${from + i}`);
    const dedupe = fakeAlertDedupeTable();
    let publishFails = false;
    let failOutboxRemoval = false;
    const invoke = async (user: string) =>
      handler({
        Records: [kinesisRecord({ user_id: user, window_start: '2019-10-01T00:00:00Z', window_seconds: 60 })],
      });
    const calls = await record(
      () => {
        // The user's window, base item and one overflow item, as the Query of the user's windows finds it.
        mocks.dynamodb
          .on(QueryCommand)
          .callsFake((input: { ExpressionAttributeValues: { ':user': string } }) => {
            const user = input.ExpressionAttributeValues[':user'];
            return {
              Items: [
                window(user, '2019-10-01T00:00:00Z', ids(0, 300)),
                window(user, '2019-10-01T00:00:00Z#1', ids(300, 200)),
              ],
            };
          });
        mocks.dynamodb.on(PutCommand).callsFake(async (input) => dedupe.put(input));
        mocks.dynamodb.on(GetCommand).callsFake(async (input) => dedupe.get(input));
        mocks.dynamodb.on(UpdateCommand).callsFake(async (input) => {
          if (failOutboxRemoval && String(input.UpdateExpression).startsWith('REMOVE')) {
            failOutboxRemoval = false;
            throw Object.assign(new Error('Internal server error'), { name: 'InternalServerError' });
          }
          return dedupe.update(input);
        });
        mocks.dynamodb.on(DeleteCommand).callsFake(async (input) => dedupe.delete(input));
        mocks.sns.on(PublishCommand).callsFake(() => {
          if (publishFails) throw Object.assign(new Error('Rate exceeded'), { name: 'Throttled' });
          return { MessageId: 'm-1' };
        });
      },
      async () => {
        // An incident opens: its email is published and marked sent.
        expect((await invoke('bot-1')).batchItemFailures).toEqual([]);
        // Publish fails: the claim is released, and the close pass after the batch, which sends what
        // outboxes hold, fails the same way, so the whole batch is retried; the retry sends the email.
        publishFails = true;
        await expect(invoke('bot-2')).rejects.toThrow('Rate exceeded');
        publishFails = false;
        expect((await invoke('bot-2')).batchItemFailures).toEqual([]);
        // The email went out but its outbox entry stayed: the retry finds the claim taken and reads that
        // it was sent.
        failOutboxRemoval = true;
        expect((await invoke('bot-3')).batchItemFailures).toHaveLength(1);
        expect((await invoke('bot-3')).batchItemFailures).toEqual([]);
        // The replay has ended: every open incident closes with its summary.
        expect((await handler({ endOfStream: true })).batchItemFailures).toEqual([]);
      },
    );
    const sent = (step: string) =>
      [...dedupe.items.values()].filter((item) => item.step === step && item.status === 'sent').length;
    expect([sent('open'), sent('close')]).toEqual([3, 3]);
    // bot-3's retry read the claim it could not take, and found the email sent.
    const claimReads = calls.filter(
      (call) =>
        call.command === 'GetCommand' &&
        String((call.input.Key as Record<string, unknown>)[ALERT_DEDUPE_KEY.partition]).endsWith('#open'),
    );
    expect(claimReads.length).toBeGreaterThan(0);
    const fn = logicalIdOf('UserActivityToAlerterFunction', 'AWS::Lambda::Function');
    results.alerter = check(model.principal(fn), calls, model.lambdaServiceAccess(fn));
    expect(results.alerter.commands).toEqual([
      'DeleteCommand',
      'GetCommand',
      'PublishCommand',
      'PutCommand',
      'QueryCommand',
      'UpdateCommand',
    ]);
    expect(results.alerter.denied.map((d) => d.message)).toEqual([]);
    expect(results.alerter.unevaluated).toEqual([]);
    expect(results.alerter.pairs).toEqual(PAIRS.alerter);
  });

  it('function roles hold no grant that their code and event source leave unused, beyond what the CDK adds', () => {
    const unused = (prefix: string, used: Access[]) =>
      model
        .principal(logicalIdOf(prefix, 'AWS::Lambda::Function'))
        .policies.flatMap((policy) => policy.statements)
        .filter((statement) => statement.Effect === 'Allow')
        .flatMap((statement) =>
          [statement.Action ?? []]
            .flat()
            .flatMap((action) => [statement.Resource ?? []].flat().map((resource) => ({ action, resource }))),
        )
        .filter(
          ({ action, resource }) =>
            !used.some((u) => actionMatches(action, u.action) && resourceMatches(resource, u.resource, true)),
        )
        .map(({ action, resource }) => `${action} ${resource}`)
        .sort();
    const cdkAdded = (consumer: string, stream: string) => [
      // The Kinesis event source grant also covers enhanced fan-out consumers, which these mappings do not use.
      `kinesis:DescribeStreamConsumer ${A('kinesis', `stream/${stream}`)}`,
      `kinesis:ListStreams ${A('kinesis', `stream/${stream}`)}`,
      `kinesis:SubscribeToShard ${A('kinesis', `stream/${stream}`)}`,
      // The Lambda runtime writes the function's logs; log-stream ARNs are not modeled here.
      `logs:CreateLogStream ${A('logs', `log-group:${consumer}Logs:*`)}`,
      `logs:PutLogEvents ${A('logs', `log-group:${consumer}Logs:*`)}`,
      // The SqsDlq destination grant adds the queue metadata calls to sqs:SendMessage.
      `sqs:GetQueueAttributes ${A('sqs', `${consumer}FailureQueue`)}`,
      `sqs:GetQueueUrl ${A('sqs', `${consumer}FailureQueue`)}`,
    ];
    expect(unused('StreamToAggregatorFunction', results.aggregator?.accesses ?? [])).toEqual(
      cdkAdded('StreamToAggregator', 'StreamsEvents'),
    );
    expect(unused('UserActivityToAlerterFunction', results.alerter?.accesses ?? [])).toEqual(
      cdkAdded('UserActivityToAlerter', 'StreamsUserActivity'),
    );
  });

  it('every command class the consumers construct was recorded and checked', () => {
    const recorded = new Set([...(results.aggregator?.commands ?? []), ...(results.alerter?.commands ?? [])]);
    expect(commandsConstructedIn(['consumers'], [])).toEqual([...recorded].sort());
  });
});

const SOURCE_CSV = [
  CSV_COLUMNS.join(','),
  '2019-10-01 00:00:00 UTC,view,1004856,2053013555631882655,electronics.smartphone,samsung,130.76,512345678,c6f1a1c2-0000-4000-8000-000000000001',
  '2019-10-01 00:00:02 UTC,cart,1004856,2053013555631882655,electronics.smartphone,samsung,130.76,512345678,c6f1a1c2-0000-4000-8000-000000000001',
  // Rejected (unknown event type): replay uploads its rejects next to the source.
  '2019-10-01 00:00:03 UTC,click,1004856,2053013555631882655,,,1.00,512345679,c6f1a1c2-0000-4000-8000-000000000002',
  '',
].join('\n');
const TRUTH = JSON.stringify({
  format: 'clickstream-synthetic-truth/2',
  botKinds: [{ kind: 'scraper' }],
  bots: [{ user_id: '512345679', kind: 'scraper' }],
  heavyShoppers: [],
});

/** An S3 object body as the SDK returns it: a stream that can also be read whole. */
const objectBody = (text: string) => ({
  Body: Object.assign(Readable.from([Buffer.from(text)]), { transformToString: async () => text }),
  ContentLength: Buffer.byteLength(text),
});

describe('CLI commands run as a person holding one of the stack’s operator policies', () => {
  const results: Partial<Record<'producer' | 'redrive' | 'analyst' | 'smoke', Checked>> = {};
  let target: AwsTarget;
  let source: string;
  const context = (signal = new AbortController().signal) =>
    createContext({
      json: true,
      verbose: false,
      signal,
      target,
      settings: () => {
        throw new Error('the target comes from the stack output');
      },
    });
  const holder = (prefix: string, user: string) =>
    model.holder(logicalIdOf(prefix, 'AWS::IAM::ManagedPolicy'), `arn:aws:iam::123456789012:user/${user}`);

  beforeAll(() => {
    // What a user saves as clickstream.config.json from the stack's output.
    const config = JSON.parse(
      model.resolver.string(template.Outputs.ClickstreamConfig?.Value, 'ClickstreamConfig'),
    );
    target = { mode: 'aws', region: config.region, names: config.names as ResourceNames };
    source = `s3://${target.names.rawBucket}/${RAW_EVENTS_PREFIX}sample.csv`;
  });

  it(`producer policy: ${PAIRS.producer.length} pairs allowed; generate uploads a CSV, replay reads it, puts events, keeps rejects`, async () => {
    const calls = await record(
      () => {
        mocks.s3.on(PutObjectCommand).resolves({});
        mocks.s3.on(GetObjectCommand).callsFake(() => objectBody(SOURCE_CSV));
        mocks.kinesis.on(ListShardsCommand).resolves({
          Shards: [
            {
              ShardId: 'shardId-000000000000',
              HashKeyRange: { StartingHashKey: '0', EndingHashKey: (2n ** 128n - 1n).toString() },
              SequenceNumberRange: { StartingSequenceNumber: '1' },
            },
          ],
        });
        mocks.kinesis.on(PutRecordsCommand).callsFake((input) => ({
          FailedRecordCount: 0,
          Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })),
        }));
      },
      async () => {
        await generate({ out: source, events: 200, bots: 0 }, context());
        const summary = await replay({ source, speed: 'max' }, context());
        expect(summary).toMatchObject({ sent: 2, rejected: { total: 1 } });
        expect(summary.rejectsFile).toMatch(/^s3:\/\/BucketsRaw\/rejects\//);
      },
    );
    results.producer = check(holder('OperatorPoliciesProducer', 'producer'), calls);
    expect(results.producer.denied.map((d) => d.message)).toEqual([]);
    expect(results.producer.unevaluated).toEqual([]);
    expect(results.producer.pairs).toEqual(PAIRS.producer);
  });

  it(`producer policy: ${PAIRS.redrive.length} pairs allowed; redrive sends failed records, re-parsed dead letters and a parked range of each consumer, deletes its message, keeps one past retention`, async () => {
    const failedFile = join(workdir, 'sample.failed.jsonl');
    const event = (id: string) => JSON.stringify(makeEvent({ event_id: id }));
    writeFileSync(
      failedFile,
      `{"line":2,"partitionKey":"2053013555631882655","errorCode":"ProvisionedThroughputExceededException","errorMessage":"slow down","record":${event('redriveA1')}}\n`,
    );
    const deadLetter = {
      reason: 'bad_field',
      detail: 'price is not a non-negative number',
      shardId: 'shardId-000000000000',
      sequenceNumber: '7',
      partitionKey: '2053013555631882655',
      approximateArrivalTimestamp: Date.now() / 1000,
      data: Buffer.from(event('redriveB1')).toString('base64'),
    };
    const eventsArn = A('kinesis', `stream/${target.names.eventsStream}`);
    const userActivityArn = A('kinesis', `stream/${target.names.userActivityStream}`);
    const range = (start: string, end: string, arrivedMsAgo: number, streamArn = eventsArn) =>
      JSON.stringify({
        requestContext: { condition: 'RetryAttemptsExhausted' },
        KinesisBatchInfo: {
          shardId: 'shardId-000000000000',
          startSequenceNumber: start,
          endSequenceNumber: end,
          approximateArrivalOfFirstRecord: new Date(Date.now() - arrivedMsAgo).toISOString(),
          approximateArrivalOfLastRecord: new Date(Date.now() - arrivedMsAgo).toISOString(),
          batchSize: 2,
          streamArn,
        },
      });
    const received = new Map<string, number>();
    const calls = await record(
      () => {
        mocks.kinesis.on(ListShardsCommand).resolves({
          Shards: [
            {
              ShardId: 'shardId-000000000000',
              HashKeyRange: { StartingHashKey: '0', EndingHashKey: (2n ** 128n - 1n).toString() },
              SequenceNumberRange: { StartingSequenceNumber: '1' },
            },
          ],
        });
        mocks.kinesis
          .on(DescribeStreamSummaryCommand)
          .resolves({ StreamDescriptionSummary: { RetentionPeriodHours: 24 } as never });
        mocks.kinesis.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-1' });
        mocks.kinesis.on(GetRecordsCommand).resolves({
          Records: ['10', '11', '12'].map((seq) => ({
            SequenceNumber: seq,
            PartitionKey: '2053013555631882655',
            Data: Buffer.from(event(`redriveC${seq}`)),
          })),
          NextShardIterator: 'it-2',
          MillisBehindLatest: 0,
        });
        mocks.kinesis.on(PutRecordsCommand).callsFake((input) => ({
          FailedRecordCount: 0,
          Records: input.Records.map(() => ({ SequenceNumber: '99', ShardId: 'shardId-000000000000' })),
        }));
        mocks.s3.on(ListObjectsV2Command).resolves({
          Contents: [{ Key: 'dead-letter/window-aggregator/shardId-000000000000/7-7.jsonl' }],
        });
        mocks.s3.on(GetObjectCommand).callsFake(() => objectBody(`${JSON.stringify(deadLetter)}\n`));
        // Each queue: one range to put back, one past retention (kept), then nothing.
        mocks.sqs.on(ReceiveMessageCommand).callsFake((input) => {
          const url = String(input.QueueUrl);
          const times = received.get(url) ?? 0;
          received.set(url, times + 1);
          if (times > 0) return { Messages: [] };
          const arn = url === target.names.alerterFailureQueue ? userActivityArn : eventsArn;
          return {
            Messages: [
              { MessageId: 'm-1', ReceiptHandle: 'r-1', Body: range('10', '11', 60_000, arn) },
              { MessageId: 'm-2', ReceiptHandle: 'r-2', Body: range('3', '4', 3 * 86_400_000, arn) },
            ],
          };
        });
        mocks.sqs.on(DeleteMessageCommand).resolves({});
        mocks.sqs.on(ChangeMessageVisibilityCommand).resolves({});
      },
      async () => {
        const summary = await redrive(
          { failedRecords: [failedFile], deadLetters: true, failureQueue: true, alerterFailureQueue: true },
          context(),
        );
        expect(summary.failedRecords).toMatchObject({ read: 1, resent: 1, stillFailing: 0 });
        expect(summary.deadLetters).toMatchObject({ read: 1, resent: 1, stillFailing: 0 });
        expect(summary.failureQueue).toMatchObject({
          read: 2,
          resent: 1,
          lostToRetention: 1,
          deleted: 1,
          kept: 1,
          records: 2,
          recordsResent: 2,
        });
        expect(summary.alerterFailureQueue).toMatchObject({
          stream: target.names.userActivityStream,
          read: 2,
          resent: 1,
          lostToRetention: 1,
          deleted: 1,
          kept: 1,
          recordsResent: 2,
        });
        expect(summary.complete).toBe(false);
      },
    );
    results.redrive = check(holder('OperatorPoliciesProducer', 'producer'), calls);
    expect(results.redrive.denied.map((d) => d.message)).toEqual([]);
    expect(results.redrive.unevaluated).toEqual([]);
    expect(results.redrive.pairs).toEqual(PAIRS.redrive);
  });

  it('the producer policy holds no grant that replay, generate and redrive leave unused', () => {
    const used = [...(results.producer?.accesses ?? []), ...(results.redrive?.accesses ?? [])];
    const unused = holder('OperatorPoliciesProducer', 'producer')
      .policies.flatMap((policy) => policy.statements)
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap((statement) =>
        [statement.Action ?? []]
          .flat()
          .flatMap((action) => [statement.Resource ?? []].flat().map((resource) => ({ action, resource }))),
      )
      .filter(
        ({ action, resource }) =>
          !used.some((u) => actionMatches(action, u.action) && resourceMatches(resource, u.resource, true)),
      )
      .map(({ action, resource }) => `${action} ${resource}`);
    expect(unused).toEqual([]);
  });

  it('a listing outside the dead-letter prefix is not allowed to the producer', () => {
    const decision = model.authorize(holder('OperatorPoliciesProducer', 'producer'), {
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::BucketsRaw',
      context: { 's3:prefix': 'kaggle/' },
    });
    expect(decision.allowed).toBe(false);
    expect(decision.unevaluated).toEqual([]);
  });

  it(`analyst policy: ${PAIRS.analyst.length} pairs allowed; every named query, the report, verify, a query stopped with Ctrl-C`, async () => {
    let cancel: AbortController | undefined;
    let started = 0;
    const calls = await record(
      () => {
        mocks.athena.on(StartQueryExecutionCommand).callsFake(() => ({ QueryExecutionId: `q-${++started}` }));
        mocks.athena.on(GetQueryExecutionCommand).callsFake(() => {
          if (!cancel) {
            return {
              QueryExecution: {
                Status: { State: 'SUCCEEDED' },
                StatementType: 'DML',
                Statistics: { DataScannedInBytes: 1 },
              },
            };
          }
          cancel.abort();
          return { QueryExecution: { Status: { State: 'RUNNING' } } };
        });
        mocks.athena
          .on(GetQueryResultsCommand)
          .resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [] }, Rows: [] } });
        mocks.athena.on(StopQueryExecutionCommand).resolves({});
        mocks.dynamodb.on(ScanCommand).resolves({ Items: [] });
        mocks.s3
          .on(GetObjectCommand)
          .callsFake((input) => objectBody(input.Key.endsWith('.truth.json') ? TRUTH : SOURCE_CSV));
      },
      async () => {
        for (const named of loadNamedQueries()) {
          const param = named.parameters.map((p) => `${p.name}=512345678`);
          await query({ args: [named.name], param, format: 'csv' }, context());
        }
        await report({ out: join(workdir, 'report.html') }, context());
        const verified = await verify({ source, truth: `${source}.truth.json` }, context());
        expect(verified.checks.length).toBeGreaterThan(0);
        cancel = new AbortController();
        await expect(
          query({ args: ['bot_suspects'], format: 'csv' }, context(cancel.signal)),
        ).rejects.toThrow(/cancel/i);
      },
    );
    results.analyst = check(holder('OperatorPoliciesAnalyst', 'analyst'), calls);
    expect(results.analyst.denied.map((d) => d.message)).toEqual([]);
    expect(results.analyst.unevaluated).toEqual([]);
    expect(results.analyst.pairs).toEqual(PAIRS.analyst);
  });

  it(`smoke, under the producer, analyst and smoke policies: ${PAIRS.smoke.length} pairs allowed; reads the outputs, replays, reads back, taps the alert topic, lists lake objects, queries, lists metrics, reads the alarm topic's policy, removes its queue`, async () => {
    // The deployed stack's outputs as CloudFormation returns them, resolved from the template.
    const outputs = Object.entries(template.Outputs).map(([key, output]) => ({
      OutputKey: key,
      OutputValue: model.resolver.string(output.Value, key),
    }));
    const calls = await record(
      () => {
        mocks.cloudformation.on(DescribeStacksCommand).resolves({
          Stacks: [{ StackName: 'Clickstream', Outputs: outputs } as never],
        });
        mocks.sqs.on(CreateQueueCommand).callsFake((input) => ({
          QueueUrl: `https://sqs.us-east-1.amazonaws.com/123456789012/${input.QueueName}`,
        }));
        mocks.sqs.on(GetQueueAttributesCommand).callsFake((input) => ({
          Attributes: { QueueArn: A('sqs', String(input.QueueUrl).split('/').pop() ?? '') },
        }));
        mocks.sqs.on(SetQueueAttributesCommand).resolves({});
        mocks.sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
        mocks.sqs.on(DeleteQueueCommand).resolves({});
        mocks.sns.on(SubscribeCommand).callsFake((input) => ({ SubscriptionArn: `${input.TopicArn}:sub-1` }));
        mocks.sns.on(UnsubscribeCommand).resolves({});
        mocks.sns.on(GetTopicAttributesCommand).resolves({ Attributes: {} });
        mocks.kinesis.on(ListShardsCommand).resolves({
          Shards: [
            {
              ShardId: 'shardId-000000000000',
              HashKeyRange: { StartingHashKey: '0', EndingHashKey: (2n ** 128n - 1n).toString() },
              SequenceNumberRange: { StartingSequenceNumber: '1' },
            },
          ],
        });
        mocks.kinesis.on(PutRecordsCommand).callsFake((input) => ({
          FailedRecordCount: 0,
          Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })),
        }));
        mocks.dynamodb.on(QueryCommand).resolves({ Items: [] });
        mocks.s3.on(ListObjectsV2Command).resolves({ Contents: [] });
        let started = 0;
        mocks.athena.on(StartQueryExecutionCommand).callsFake(() => ({ QueryExecutionId: `s-${++started}` }));
        mocks.athena.on(GetQueryExecutionCommand).resolves({
          QueryExecution: { Status: { State: 'SUCCEEDED' }, StatementType: 'DML', Statistics: {} },
        });
        mocks.athena
          .on(GetQueryResultsCommand)
          .resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [] }, Rows: [] } });
        mocks.cloudwatch.on(ListMetricsCommand).resolves({ Metrics: [] });
      },
      async () => {
        // Nothing arrives downstream here: each check looks once (--max-wait 0) and fails.
        const summary = await smoke({ seed: 3, maxWait: 0 }, context());
        expect(summary.steps.map((step) => `${step.status} ${step.step}`)).toEqual([
          'PASS resources',
          'PASS replay',
          'FAIL totals',
          'FAIL alerts',
          'FAIL lake',
          'FAIL query',
          'FAIL metrics',
          'FAIL alarm-topics',
        ]);
        expect(summary.cleanedUp).toEqual(['alert queue and its subscription', 'generated files']);
      },
    );
    const policy = (prefix: string) => holder(prefix, 'smoke').policies;
    const smokeRunner = {
      ...holder('SmokePolicySmoke', 'smoke'),
      policies: [
        ...policy('OperatorPoliciesProducer'),
        ...policy('OperatorPoliciesAnalyst'),
        ...policy('SmokePolicySmoke'),
      ],
    };
    results.smoke = check(smokeRunner, calls);
    expect(results.smoke.denied.map((d) => d.message)).toEqual([]);
    expect(results.smoke.unevaluated).toEqual([]);
    expect(results.smoke.pairs).toEqual(PAIRS.smoke);
  });

  it('the smoke policy holds no grant that smoke leaves unused', () => {
    const used = results.smoke?.accesses ?? [];
    const unused = holder('SmokePolicySmoke', 'smoke')
      .policies.flatMap((policy) => policy.statements)
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap((statement) =>
        [statement.Action ?? []]
          .flat()
          .flatMap((action) => [statement.Resource ?? []].flat().map((resource) => ({ action, resource }))),
      )
      .filter(
        ({ action, resource }) =>
          !used.some((u) => actionMatches(action, u.action) && resourceMatches(resource, u.resource, true)),
      )
      .map(({ action, resource }) => `${action} ${resource}`);
    expect(unused).toEqual([]);
  });

  it('every command class the CLI constructs for AWS was recorded and checked', () => {
    const recorded = new Set([
      ...(results.producer?.commands ?? []),
      ...(results.redrive?.commands ?? []),
      ...(results.analyst?.commands ?? []),
      ...(results.smoke?.commands ?? []),
    ]);
    // The local engine reads the local stack's S3 for DuckDB; it never runs against AWS. The producer
    // lists shards and opens iterators through the shared Kinesis shard module.
    const sources = ['producer', 'analytics', 'adapters/kinesis-shards.ts'];
    expect(commandsConstructedIn(sources, ['analytics/local-engine.ts'])).toEqual([...recorded].sort());
  });
});
