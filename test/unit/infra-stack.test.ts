/**
 * Template tests of the CDK app, synthesized once (with CloudFormation validation and cdk-nag, as
 * `npm run synth` does) with both emails set, so every optional resource is present.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUSTOM_METRICS, METRICS_NAMESPACE, metricDimensions } from '../../consumers/metrics.ts';
import { PUT_RECORDS_RETRY_BUDGET_MS } from '../../consumers/put-records.ts';
import { ALERT_DEDUPE_KEY, TTL_ATTRIBUTE, USER_ACTIVITY_KEY } from '../../core/dynamo-tables.ts';
import {
  ERRORS_PREFIX,
  FIREHOSE_TIMESTAMP_FORMATS,
  LAKE_COMPRESSION,
  LAKE_LAYOUTS,
} from '../../core/lake.ts';
import { LAMBDA_ENV } from '../../core/lambda-env.ts';
import { TABLE_NAMES, TABLES, tableParameters } from '../../core/tables.ts';
import { buildApp } from '../../infra/pipeline-app.ts';
import { FULL_STACK_CONTEXT } from '../support/infra-context.ts';

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, probed by path
type Resource = { Type: string; Properties: Record<string, any>; [key: string]: any };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

const ROOT = join(import.meta.dirname, '..', '..');

let outdir: string;
let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;
let report: { pluginReports: Array<{ violations: Array<{ ruleName: string; severity: string }> }> };

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalIdOf = (prefix: string, type: string) => {
  const found = ofType(type).filter(([id]) => id.startsWith(prefix));
  expect(found, `${type} ${prefix}*`).toHaveLength(1);
  return found[0]![0];
};
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
/** Every statement of the inline policies attached to a role. */
const statementsOfRole = (roleId: string): Statement[] =>
  ofType('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
/** `{ 'dynamodb:GetItem|dynamodb:UpdateItem': <resource> }`, for exact comparison. */
const grantsOf = (roleId: string) =>
  Object.fromEntries(statementsOfRole(roleId).map((s) => [actions(s).sort().join('|'), s.Resource]));

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'infra-stack-'));
  const built = buildApp({
    outdir,
    context: FULL_STACK_CONTEXT,
  });
  stack = built.stack;
  // Throws when CloudFormation validation or cdk-nag reports an unacknowledged error.
  const assembly = built.app.synth();
  const json = assembly.getStackByName('Clickstream').template;
  template = Template.fromJSON(json);
  resources = json.Resources;
  report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('validation', () => {
  it('synthesizes with cdk-nag AwsSolutions and CloudFormation validation and no open finding', () => {
    const open = report.pluginReports.flatMap((p) =>
      p.violations.map((v) => `${v.ruleName} (${v.severity})`),
    );
    expect(open).toEqual([]);
  });

  it('cdk-nag AwsSolutions finds nothing unacknowledged in the stack', () => {
    const nag = new AwsSolutionsChecks().validateScope(stack);
    expect(nag.violations.map((v) => v.ruleName)).toEqual([]);
    expect(nag.success).toBe(true);
  });

  it('cdk-nag is wired to fail synth on an unacknowledged finding', () => {
    const nagOutdir = mkdtempSync(join(tmpdir(), 'infra-nag-'));
    try {
      const app = new App({ outdir: nagOutdir });
      const stack = new Stack(app, 'Bad');
      new s3.Bucket(stack, 'Plain');
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth()).toThrow(/AwsSolutions-S(1|10)/);
    } finally {
      rmSync(nagOutdir, { recursive: true, force: true });
    }
  });
});

describe('Kinesis streams', () => {
  it('two provisioned streams, KMS-encrypted, 24 h retention, shards from config', () => {
    const streams = ofType('AWS::Kinesis::Stream').map(([, r]) => r.Properties);
    expect(streams).toHaveLength(2);
    for (const s of streams) {
      expect(s.StreamEncryption).toEqual({ EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' });
      expect(s.RetentionPeriodHours).toBe(24);
      expect(s.StreamModeDetails).toEqual({ StreamMode: 'PROVISIONED' });
    }
    expect(streams.map((s) => s.ShardCount).sort()).toEqual([2, 5]);
  });
});

describe('Lambda consumers', () => {
  const aggregatorEnv = [
    LAMBDA_ENV.userActivityStream,
    LAMBDA_ENV.userActivityTable,
    LAMBDA_ENV.windowSeconds,
    LAMBDA_ENV.ttlDays,
    LAMBDA_ENV.deadLetterBucket,
    'NODE_OPTIONS',
  ];
  const alerterEnv = [
    LAMBDA_ENV.alertTopicArn,
    LAMBDA_ENV.alertDedupeTable,
    LAMBDA_ENV.userActivityTable,
    LAMBDA_ENV.ttlDays,
    LAMBDA_ENV.glueDatabase,
    LAMBDA_ENV.athenaWorkgroup,
    'NODE_OPTIONS',
  ];

  it.each([
    ['StreamToAggregatorFunction', aggregatorEnv],
    ['UserActivityToAlerterFunction', alerterEnv],
  ])(
    '%s: Node 22 on arm64, no reserved concurrency by default, its own log group, env from props',
    (prefix, env) => {
      const fn = resources[logicalIdOf(prefix, 'AWS::Lambda::Function')]!.Properties;
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.ReservedConcurrentExecutions).toBeUndefined();
      expect(fn.Handler).toBe('index.handler');
      expect(Object.keys(fn.Environment.Variables).sort()).toEqual([...env].sort());
      expect(fn.Environment.Variables[LAMBDA_ENV.windowSeconds] ?? '60').toBe('60');
      const logGroupId = fn.LoggingConfig.LogGroup.Ref as string;
      expect(resources[logGroupId]!.Properties.RetentionInDays).toBe(30);
    },
  );

  it('the aggregator outlasts its put to the user-activity stream, retries included', () => {
    const fn = resources[logicalIdOf('StreamToAggregatorFunction', 'AWS::Lambda::Function')]!.Properties;
    expect(fn.Timeout * 1000).toBe(2 * PUT_RECORDS_RETRY_BUDGET_MS);
  });

  it('the aggregator mapping: tumbling window 60 s and every failure-handling setting', () => {
    const queue = logicalIdOf('StreamToAggregatorFailureQueue', 'AWS::SQS::Queue');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf('StreamToAggregatorFunction', 'AWS::Lambda::Function') },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf('StreamsEvents', 'AWS::Kinesis::Stream'), 'Arn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      TumblingWindowInSeconds: 60,
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
  });

  it('the alerter mapping: no tumbling window, same failure handling', () => {
    const queue = logicalIdOf('UserActivityToAlerterFailureQueue', 'AWS::SQS::Queue');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf('UserActivityToAlerterFunction', 'AWS::Lambda::Function') },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf('StreamsUserActivity', 'AWS::Kinesis::Stream'), 'Arn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      TumblingWindowInSeconds: Match.absent(),
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
  });

  it('the aggregator role holds exactly its grants, no wildcard action', () => {
    const role = logicalIdOf('StreamToAggregatorRole', 'AWS::IAM::Role');
    expect(resources[role]!.Properties.ManagedPolicyArns).toBeUndefined();
    expect(grantsOf(role)).toEqual({
      'logs:CreateLogStream|logs:PutLogEvents': {
        'Fn::GetAtt': [logicalIdOf('StreamToAggregatorLogs', 'AWS::Logs::LogGroup'), 'Arn'],
      },
      'sqs:GetQueueAttributes|sqs:GetQueueUrl|sqs:SendMessage': {
        'Fn::GetAtt': [logicalIdOf('StreamToAggregatorFailureQueue', 'AWS::SQS::Queue'), 'Arn'],
      },
      'kinesis:DescribeStream|kinesis:DescribeStreamConsumer|kinesis:DescribeStreamSummary|kinesis:GetRecords|kinesis:GetShardIterator|kinesis:ListShards|kinesis:ListStreams|kinesis:SubscribeToShard':
        { 'Fn::GetAtt': [logicalIdOf('StreamsEvents', 'AWS::Kinesis::Stream'), 'Arn'] },
      'dynamodb:GetItem|dynamodb:UpdateItem': {
        'Fn::GetAtt': [logicalIdOf('AggregatorToUserActivityTable', 'AWS::DynamoDB::GlobalTable'), 'Arn'],
      },
      'kinesis:PutRecords': {
        'Fn::GetAtt': [logicalIdOf('StreamsUserActivity', 'AWS::Kinesis::Stream'), 'Arn'],
      },
      's3:PutObject': {
        'Fn::Join': [
          '',
          [{ 'Fn::GetAtt': [logicalIdOf('BucketsRaw', 'AWS::S3::Bucket'), 'Arn'] }, '/dead-letter/*'],
        ],
      },
    });
  });

  it('the alerter role holds exactly its grants, no wildcard action', () => {
    const role = logicalIdOf('UserActivityToAlerterRole', 'AWS::IAM::Role');
    expect(resources[role]!.Properties.ManagedPolicyArns).toBeUndefined();
    expect(grantsOf(role)).toEqual({
      'logs:CreateLogStream|logs:PutLogEvents': {
        'Fn::GetAtt': [logicalIdOf('UserActivityToAlerterLogs', 'AWS::Logs::LogGroup'), 'Arn'],
      },
      'sqs:GetQueueAttributes|sqs:GetQueueUrl|sqs:SendMessage': {
        'Fn::GetAtt': [logicalIdOf('UserActivityToAlerterFailureQueue', 'AWS::SQS::Queue'), 'Arn'],
      },
      'kinesis:DescribeStream|kinesis:DescribeStreamConsumer|kinesis:DescribeStreamSummary|kinesis:GetRecords|kinesis:GetShardIterator|kinesis:ListShards|kinesis:ListStreams|kinesis:SubscribeToShard':
        { 'Fn::GetAtt': [logicalIdOf('StreamsUserActivity', 'AWS::Kinesis::Stream'), 'Arn'] },
      'dynamodb:DeleteItem|dynamodb:GetItem|dynamodb:PutItem|dynamodb:UpdateItem': {
        'Fn::GetAtt': [logicalIdOf('AlerterToAlertDedupeTable', 'AWS::DynamoDB::GlobalTable'), 'Arn'],
      },
      'dynamodb:Query': {
        'Fn::GetAtt': [logicalIdOf('AggregatorToUserActivityTable', 'AWS::DynamoDB::GlobalTable'), 'Arn'],
      },
      'sns:Publish': { Ref: logicalIdOf('AlertTopic', 'AWS::SNS::Topic') },
      'kms:Decrypt|kms:GenerateDataKey': {
        'Fn::GetAtt': [logicalIdOf('PipelineKey', 'AWS::KMS::Key'), 'Arn'],
      },
    });
  });

  it('no Lambda statement anywhere uses a wildcard action or resource', () => {
    for (const prefix of ['StreamToAggregatorRole', 'UserActivityToAlerterRole']) {
      for (const s of statementsOfRole(logicalIdOf(prefix, 'AWS::IAM::Role'))) {
        for (const a of actions(s)) expect(a, prefix).not.toContain('*');
        expect(s.Resource, prefix).not.toBe('*');
      }
    }
  });
});

describe('DynamoDB', () => {
  it.each([
    ['AggregatorToUserActivityTable', [USER_ACTIVITY_KEY.partition, USER_ACTIVITY_KEY.sort]],
    ['AlerterToAlertDedupeTable', [ALERT_DEDUPE_KEY.partition]],
  ])('%s: keys from core/dynamo-tables.ts, on-demand, PITR, TTL, encrypted', (prefix, keys) => {
    const t = resources[logicalIdOf(prefix, 'AWS::DynamoDB::GlobalTable')]!.Properties;
    expect(t.KeySchema.map((k: { AttributeName: string }) => k.AttributeName)).toEqual(keys);
    expect(t.BillingMode).toBe('PAY_PER_REQUEST');
    // AWS-owned → AWS-managed KMS key (aws/dynamodb).
    expect(t.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS' });
    expect(t.TimeToLiveSpecification).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
    expect(t.Replicas[0].PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });
});

describe('encryption and public access', () => {
  it('the KMS key rotates; topics use it and enforce TLS', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const key = logicalIdOf('PipelineKey', 'AWS::KMS::Key');
    const topics = ofType('AWS::SNS::Topic');
    expect(topics).toHaveLength(2);
    for (const [id, t] of topics) {
      expect(t.Properties.KmsMasterKeyId, id).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
      const policies = ofType('AWS::SNS::TopicPolicy').filter(([, p]) =>
        (p.Properties.Topics as Array<{ Ref: string }>).some((r) => r.Ref === id),
      );
      expect(policies, id).toHaveLength(1);
      expect(policies[0]![1].Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it("the alarm topic lets CloudWatch publish, for this stack's alarms only; the alert topic does not", () => {
    // enforceSSL gives each topic a policy of its own, which replaces the default one that let the
    // account's services publish: without an Allow, every alarm notification is refused.
    const statementsOfTopic = (id: string) =>
      ofType('AWS::SNS::TopicPolicy')
        .filter(([, p]) => (p.Properties.Topics as Array<{ Ref: string }>).some((r) => r.Ref === id))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    const alarmTopic = logicalIdOf('AlarmTopic', 'AWS::SNS::Topic');
    const alarmArns = ofType('AWS::CloudWatch::Alarm').map(([id]) => ({ 'Fn::GetAtt': [id, 'Arn'] }));
    expect(alarmArns.length).toBeGreaterThan(0);
    const allows = statementsOfTopic(alarmTopic).filter((s) => s.Effect === 'Allow');
    expect(allows).toEqual([
      {
        Sid: 'AllowCloudWatchAlarmsToPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: alarmTopic },
        Condition: {
          ArnEquals: { 'aws:SourceArn': expect.arrayContaining(alarmArns) },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
    const condition = allows[0]!.Condition as { ArnEquals: { 'aws:SourceArn': unknown[] } };
    expect(condition.ArnEquals['aws:SourceArn']).toHaveLength(alarmArns.length);
    const alertTopic = logicalIdOf('AlertTopic', 'AWS::SNS::Topic');
    expect(statementsOfTopic(alertTopic).filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  it('email subscriptions from context', () => {
    const subs = ofType('AWS::SNS::Subscription').map(([, s]) => s.Properties);
    expect(
      subs.map((s) => [s.Protocol, s.Endpoint, s.TopicArn.Ref.replace(/[0-9A-F]{8}$/, '')]).sort(),
    ).toEqual([
      ['email', 'oncall@example.com', 'AlarmTopic'],
      ['email', 'ops@example.com', 'AlertTopic'],
    ]);
  });

  it('failure queues are encrypted, TLS-only and keep messages 14 days', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(2);
    for (const [, q] of queues) {
      expect(q.Properties.SqsManagedSseEnabled).toBe(true);
      expect(q.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    }
    expect(ofType('AWS::SQS::QueuePolicy')).toHaveLength(2);
  });

  it('every bucket: encrypted, public access blocked, TLS enforced, lifecycle rules, access logs', () => {
    const buckets = ofType('AWS::S3::Bucket');
    expect(buckets).toHaveLength(4);
    const logs = logicalIdOf('BucketsAccessLogs', 'AWS::S3::Bucket');
    for (const [id, b] of buckets) {
      const p = b.Properties;
      expect(
        p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
        id,
      ).toEqual({
        SSEAlgorithm: 'AES256',
      });
      expect(p.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(p.LifecycleConfiguration.Rules.length, id).toBeGreaterThanOrEqual(2);
      if (id !== logs) expect(p.LoggingConfiguration.DestinationBucketName, id).toEqual({ Ref: logs });
      const policy = ofType('AWS::S3::BucketPolicy').find(([, bp]) => bp.Properties.Bucket.Ref === id);
      expect(policy?.[1].Properties.PolicyDocument.Statement, id).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    // No statement of any bucket policy allows a public principal.
    for (const [, bp] of ofType('AWS::S3::BucketPolicy')) {
      for (const s of bp.Properties.PolicyDocument.Statement as Array<Statement & { Principal: unknown }>) {
        if (s.Effect === 'Allow') expect(s.Principal).not.toEqual({ AWS: '*' });
        if (s.Effect === 'Allow') expect(s.Principal).not.toBe('*');
      }
    }
  });
});

describe('Firehose into the lake', () => {
  it.each([
    ['EventsToLake', 'events', 'StreamsEvents'],
    ['UserActivityToLake', 'user_activity', 'StreamsUserActivity'],
  ] as const)(
    '%s: layout, JQ partitioning, Parquet conversion from the Glue table, from the stream',
    (prefix, table, stream) => {
      const layout = LAKE_LAYOUTS[table];
      const d =
        resources[logicalIdOf(`${prefix}Delivery`, 'AWS::KinesisFirehose::DeliveryStream')]!.Properties;
      expect(d.DeliveryStreamType).toBe('KinesisStreamAsSource');
      expect(d.KinesisStreamSourceConfiguration.KinesisStreamARN).toEqual({
        'Fn::GetAtt': [logicalIdOf(stream, 'AWS::Kinesis::Stream'), 'Arn'],
      });
      const s3 = d.ExtendedS3DestinationConfiguration;
      expect(s3.BucketARN).toEqual({ 'Fn::GetAtt': [logicalIdOf('BucketsLake', 'AWS::S3::Bucket'), 'Arn'] });
      expect(s3.Prefix).toBe(layout.prefixTemplate);
      expect(s3.ErrorOutputPrefix).toBe(layout.errorPrefixTemplate);
      expect(s3.FileExtension).toBe('.parquet');
      expect(s3.DynamicPartitioningConfiguration.Enabled).toBe(true);
      expect(s3.BufferingHints).toEqual({ IntervalInSeconds: 60, SizeInMBs: 64 });
      const processors = s3.ProcessingConfiguration.Processors;
      expect(processors).toContainEqual({
        Type: 'MetadataExtraction',
        Parameters: expect.arrayContaining([
          { ParameterName: 'MetadataExtractionQuery', ParameterValue: layout.partitionQuery },
          { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
        ]),
      });
      const conversion = s3.DataFormatConversionConfiguration;
      expect(conversion.Enabled).toBe(true);
      expect(conversion.SchemaConfiguration.TableName).toEqual({
        Ref: logicalIdOf(`LakeCatalog${pascal(table)}`, 'AWS::Glue::Table'),
      });
      expect(conversion.InputFormatConfiguration.Deserializer.HiveJsonSerDe.TimestampFormats).toEqual([
        ...FIREHOSE_TIMESTAMP_FORMATS,
      ]);
      expect(conversion.OutputFormatConfiguration.Serializer.ParquetSerDe.Compression).toBe(LAKE_COMPRESSION);
      // Off by default in Firehose; the session-heavy queries need it to scan under a tenth of the CSV.
      expect(conversion.OutputFormatConfiguration.Serializer.ParquetSerDe.EnableDictionaryCompression).toBe(
        true,
      );
      expect(s3.CloudWatchLoggingOptions.Enabled).toBe(true);
    },
  );
});

describe('Glue catalog', () => {
  it('one table per definition in core/tables.ts: columns, types, partition keys, formats, projection', () => {
    const tables = ofType('AWS::Glue::Table').map(([, t]) => t.Properties.TableInput);
    expect(tables.map((t) => t.Name).sort()).toEqual([...TABLE_NAMES].sort());
    // Only resolves tokens; an App of its own would synthesize into a fresh temporary directory.
    const stack = new Stack(new App({ outdir }));
    for (const name of TABLE_NAMES) {
      const def = TABLES[name];
      const t = tables.find((x) => x.Name === name);
      const columns = (cols: Array<{ Name: string; Type: string }>) => cols.map((c) => [c.Name, c.Type]);
      expect(columns(t.StorageDescriptor.Columns), name).toEqual(def.columns.map((c) => [c.name, c.type]));
      expect(columns(t.PartitionKeys ?? []), name).toEqual(def.partitionKeys.map((c) => [c.name, c.type]));
      expect(t.StorageDescriptor.InputFormat).toBe(def.storage.inputFormat);
      expect(t.StorageDescriptor.OutputFormat).toBe(def.storage.outputFormat);
      expect(t.StorageDescriptor.SerdeInfo).toEqual({
        SerializationLibrary: def.storage.serializationLibrary,
        Parameters: def.storage.serdeParameters,
      });
      const bucketId = logicalIdOf(
        def.bucket === 'rawBucket' ? 'BucketsRaw' : 'BucketsLake',
        'AWS::S3::Bucket',
      );
      // The same parameters core/tables.ts gives Athena DDL, with the bucket name as a CloudFormation Ref.
      const expected = stack.resolve(tableParameters(def, 'BUCKET'));
      for (const [key, value] of Object.entries(expected as Record<string, string>)) {
        const actual = t.Parameters[key];
        if (key === 'storage.location.template') {
          expect(JSON.stringify(actual)).toContain(JSON.stringify({ Ref: bucketId }));
          expect(JSON.stringify(actual)).toContain(`/${def.prefix}dt=\${dt}/`);
        } else {
          expect(actual, `${name}.${key}`).toBe(value);
        }
      }
      if (def.partitionKeys.length > 0) {
        expect(t.Parameters['projection.enabled']).toBe('true');
        expect(t.Parameters['projection.dt.type']).toBe('date');
      }
    }
  });
});

describe('Athena', () => {
  it('workgroup enforces its result location, encryption and a scan cutoff of at least 10 MB', () => {
    const wg = ofType('AWS::Athena::WorkGroup');
    expect(wg).toHaveLength(1);
    const c = wg[0]![1].Properties.WorkGroupConfiguration;
    expect(c.EnforceWorkGroupConfiguration).toBe(true);
    expect(c.BytesScannedCutoffPerQuery).toBeGreaterThanOrEqual(10_000_000);
    expect(c.ResultConfiguration.EncryptionConfiguration).toEqual({ EncryptionOption: 'SSE_S3' });
    expect(JSON.stringify(c.ResultConfiguration.OutputLocation)).toContain(
      logicalIdOf('BucketsAthenaResults', 'AWS::S3::Bucket'),
    );
  });

  it('one named query per file in sql/queries, with the file text as the query', () => {
    const dir = join(ROOT, 'sql', 'queries');
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql'));
    expect(files.length).toBeGreaterThan(0);
    const named = ofType('AWS::Athena::NamedQuery').map(([, q]) => q.Properties);
    expect(named.map((q) => q.Name).sort()).toEqual(files.map((f) => f.replace(/\.sql$/, '')).sort());
    for (const file of files) {
      const q = named.find((n) => n.Name === file.replace(/\.sql$/, ''))!;
      expect(q.QueryString).toBe(readFileSync(join(dir, file), 'utf8').trim());
      expect(q.Database).toBe('clickstream');
      expect(q.Description.length).toBeGreaterThan(0);
      expect(q.Description.length).toBeLessThanOrEqual(1024);
    }
  });
});

describe('CloudWatch', () => {
  it('alarms on iterator age, errors, throttles, failure queue depth, Firehose delivery; all notify the alarm topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const metrics = alarms.map((a) => a.MetricName).sort();
    expect(metrics).toEqual(
      [
        ...Array(2).fill('IteratorAge'),
        ...Array(2).fill('Errors'),
        ...Array(2).fill('Throttles'),
        ...Array(2).fill('ApproximateNumberOfMessagesVisible'),
        ...Array(2).fill('DeliveryToS3.Success'),
        ...Array(2).fill('DeliveryToS3.DataFreshness'),
        ...Array(2).fill('FailedConversion.Records'),
        ...Array(2).fill('PartitionCountExceeded'),
        'PutRequests',
      ].sort(),
    );
    const alarmTopic = logicalIdOf('AlarmTopic', 'AWS::SNS::Topic');
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: alarmTopic }]);
    const aggregatorAge = alarms.find(
      (a) => a.MetricName === 'IteratorAge' && a.Dimensions[0].Value.Ref.startsWith('StreamToAggregator'),
    )!;
    // Tumbling window 60 s + batching window 5 s + 60 s margin.
    expect(aggregatorAge.Threshold).toBe(125_000);
  });

  it('lake failures alarm: records Firehose could not convert or partition, and any object under errors/', () => {
    // DeliveryToS3.Success stays at 1 while records go to the error prefix, so it cannot see them.
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const byMetric = (name: string) => alarms.filter((a) => a.MetricName === name);
    const deliveries = ['EventsToLakeDelivery', 'UserActivityToLakeDelivery'].map((prefix) => ({
      Ref: logicalIdOf(prefix, 'AWS::KinesisFirehose::DeliveryStream'),
    }));
    for (const [metric, statistic] of [
      ['FailedConversion.Records', 'Sum'],
      ['PartitionCountExceeded', 'Maximum'],
    ] as const) {
      const found = byMetric(metric);
      expect(found.map((a) => a.Namespace)).toEqual(['AWS/Firehose', 'AWS/Firehose']);
      expect(found.map((a) => a.Dimensions)).toEqual(
        deliveries.map((d) => [{ Name: 'DeliveryStreamName', Value: d }]),
      );
      for (const a of found) {
        expect(a.Statistic, metric).toBe(statistic);
        expect([a.ComparisonOperator, a.Threshold], metric).toEqual(['GreaterThanThreshold', 0]);
        expect(a.TreatMissingData, metric).toBe('notBreaching');
      }
    }
    const lake = logicalIdOf('BucketsLake', 'AWS::S3::Bucket');
    const filters = resources[lake]!.Properties.MetricsConfigurations as Array<{
      Id: string;
      Prefix: string;
    }>;
    const errorFilter = filters.find((f) => f.Prefix === ERRORS_PREFIX);
    expect(errorFilter).toBeDefined();
    const [errorObjects] = byMetric('PutRequests');
    expect(errorObjects).toMatchObject({
      Namespace: 'AWS/S3',
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
    expect(errorObjects!.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'BucketName', Value: { Ref: lake } },
        { Name: 'FilterId', Value: errorFilter!.Id },
      ]),
    );
  });

  it('the dashboard charts the custom metrics the handlers emit, with their service dimension', () => {
    const body = JSON.stringify(ofType('AWS::CloudWatch::Dashboard')[0]![1].Properties.DashboardBody);
    for (const metric of Object.values(CUSTOM_METRICS)) {
      const service = metricDimensions(metric).service;
      expect(body).toContain(
        `\\"${METRICS_NAMESPACE}\\",\\"${metric.name}\\",\\"service\\",\\"${service}\\"`,
      );
    }
    expect(body).toContain('IteratorAge');
    expect(body).toContain('IncomingRecords');
  });
});

describe('outputs', () => {
  it('names every resource the CLI needs and the exact replay command', () => {
    template.hasOutput('ReplayCommand', {
      Value: {
        'Fn::Join': [
          '',
          [
            'npx clickstream replay --source s3://',
            { Ref: logicalIdOf('BucketsRaw', 'AWS::S3::Bucket') },
            '/kaggle/2019-Oct.csv --stream ',
            { Ref: logicalIdOf('StreamsEvents', 'AWS::Kinesis::Stream') },
            ' --region ',
            { Ref: 'AWS::Region' },
          ],
        ],
      },
    });
    for (const id of [
      'EventsStreamName',
      'UserActivityStreamName',
      'RawBucketName',
      'LakeBucketName',
      'AthenaResultsBucketName',
      'AlertTopicArn',
      'AthenaWorkgroupName',
      'GlueDatabaseName',
      'ClickstreamConfig',
    ]) {
      template.hasOutput(id, {});
    }
  });
});

function pascal(name: string): string {
  return name.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
}
