/** SDK command → IAM action(s) and resource(s), including what a call implies beyond its own action. */
import { describe, expect, it } from 'vitest';
import {
  type AwsCall,
  createAccessMapper,
  type ResourceCatalog,
  tablesOfQuery,
} from '../../local/iam/actions.ts';

const env = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
const catalog: ResourceCatalog = {
  topicKey: (topic) => (topic.endsWith(':alerts') ? 'arn:aws:kms:us-east-1:123456789012:key/k1' : undefined),
  glueTables: (database) =>
    database === 'clickstream'
      ? [
          { name: 'events', location: 's3://lake/events/' },
          { name: 'user_activity', location: 's3://lake/user_activity/' },
        ]
      : undefined,
  workgroup: (name) =>
    name === 'clickstream' ? { enforced: true, outputLocation: 's3://results/results/' } : undefined,
};
const pairs = (call: AwsCall) =>
  createAccessMapper(env, catalog)
    .accessOf(call)
    .map((a) => `${a.action} ${a.resource}${a.via ? ` via ${a.via}` : ''}`);

describe('DynamoDB', () => {
  it('maps @aws-sdk/lib-dynamodb document commands to the operations they send', () => {
    const table = 'arn:aws:dynamodb:us-east-1:123456789012:table/totals';
    expect(
      pairs({ service: 'DynamoDBDocumentClient', command: 'UpdateCommand', input: { TableName: 'totals' } }),
    ).toEqual([`dynamodb:UpdateItem ${table}`]);
    expect(
      pairs({
        service: 'DynamoDBDocumentClient',
        command: 'BatchGetCommand',
        input: { RequestItems: { totals: { Keys: [] }, [`${table}-2`]: { Keys: [] } } },
      }),
    ).toEqual([`dynamodb:BatchGetItem ${table}`, `dynamodb:BatchGetItem ${table}-2`]);
    // The client-level name of the same operation maps the same way.
    expect(
      pairs({ service: 'dynamodb', command: 'BatchGetItemCommand', input: { RequestItems: { totals: {} } } }),
    ).toEqual([`dynamodb:BatchGetItem ${table}`]);
    expect(
      pairs({
        service: 'dynamodb',
        command: 'ScanCommand',
        input: { TableName: 'totals', IndexName: 'byUser' },
      }),
    ).toEqual([`dynamodb:Scan ${table}/index/byUser`]);
    expect(
      pairs({
        service: 'dynamodb',
        command: 'TransactWriteCommand',
        input: { TransactItems: [{ Put: { TableName: 'a' } }, { ConditionCheck: { TableName: 'b' } }] },
      }),
    ).toEqual([
      'dynamodb:PutItem arn:aws:dynamodb:us-east-1:123456789012:table/a',
      'dynamodb:ConditionCheckItem arn:aws:dynamodb:us-east-1:123456789012:table/b',
    ]);
  });
});

describe('Kinesis, S3 and SNS', () => {
  it('names the stream from StreamName or StreamARN, and refuses a call that names none', () => {
    const stream = 'arn:aws:kinesis:us-east-1:123456789012:stream/events';
    expect(
      pairs({ service: 'KinesisClient', command: 'PutRecordsCommand', input: { StreamName: 'events' } }),
    ).toEqual([`kinesis:PutRecords ${stream}`]);
    expect(pairs({ service: 'kinesis', command: 'ListShards', input: { StreamARN: stream } })).toEqual([
      `kinesis:ListShards ${stream}`,
    ]);
    expect(() => pairs({ service: 'kinesis', command: 'ListShards', input: { NextToken: 't' } })).toThrow(
      /kinesis ListShards: no StreamName or StreamARN in the input/,
    );
  });

  it('maps object reads, writes and listings to their S3 actions and ARNs', () => {
    const call = (command: string, input: Record<string, unknown>) =>
      pairs({ service: 'S3Client', command, input });
    expect(call('HeadObjectCommand', { Bucket: 'raw', Key: 'kaggle/a.csv' })).toEqual([
      's3:GetObject arn:aws:s3:::raw/kaggle/a.csv',
    ]);
    expect(call('GetObjectCommand', { Bucket: 'raw', Key: 'a', VersionId: 'v1' })).toEqual([
      's3:GetObjectVersion arn:aws:s3:::raw/a',
    ]);
    expect(call('PutObjectCommand', { Bucket: 'raw', Key: 'a', Tagging: 'k=v' })).toEqual([
      's3:PutObject arn:aws:s3:::raw/a',
      's3:PutObjectTagging arn:aws:s3:::raw/a',
    ]);
    expect(call('UploadPartCommand', { Bucket: 'raw', Key: 'a' })).toEqual([
      's3:PutObject arn:aws:s3:::raw/a',
    ]);
    expect(call('ListObjectsV2Command', { Bucket: 'lake', Prefix: 'events/' })).toEqual([
      's3:ListBucket arn:aws:s3:::lake',
    ]);
  });

  it('publishing to a topic with a customer key also uses the key, through SNS', () => {
    const topic = 'arn:aws:sns:us-east-1:123456789012:alerts';
    expect(pairs({ service: 'SNSClient', command: 'PublishCommand', input: { TopicArn: topic } })).toEqual([
      `sns:Publish ${topic}`,
      'kms:GenerateDataKey arn:aws:kms:us-east-1:123456789012:key/k1 via sns',
      'kms:Decrypt arn:aws:kms:us-east-1:123456789012:key/k1 via sns',
    ]);
    expect(pairs({ service: 'sns', command: 'Publish', input: { TopicArn: `${topic}-plain` } })).toEqual([
      `sns:Publish ${topic}-plain`,
    ]);
  });

  it('an unmapped command is an error, never an implicit allow', () => {
    expect(() =>
      pairs({ service: 'S3Client', command: 'DeleteBucketCommand', input: { Bucket: 'raw' } }),
    ).toThrow('s3 DeleteBucket has no IAM mapping in local/iam/actions.ts');
    expect(() => pairs({ service: 'LambdaClient', command: 'InvokeCommand', input: {} })).toThrow(
      /lambdaclient Invoke/,
    );
  });
});

describe('Athena', () => {
  it('a query needs the workgroup, the catalog path of each table it reads, the objects, and the result location', () => {
    const mapper = createAccessMapper(env, catalog);
    const start: AwsCall = {
      service: 'AthenaClient',
      command: 'StartQueryExecutionCommand',
      input: {
        QueryString: "WITH t AS (SELECT * FROM events WHERE event_type = 'x from y') SELECT * FROM t",
        WorkGroup: 'clickstream',
        QueryExecutionContext: { Database: 'clickstream' },
        ResultConfiguration: { OutputLocation: 's3://elsewhere/cli/' },
      },
    };
    const accesses = mapper
      .accessOf(start)
      .map((a) => `${a.action} ${a.resource}${a.via ? ' (athena)' : ''}`);
    expect(accesses).toEqual([
      'athena:StartQueryExecution arn:aws:athena:us-east-1:123456789012:workgroup/clickstream',
      'glue:GetDatabase arn:aws:glue:us-east-1:123456789012:catalog (athena)',
      'glue:GetDatabase arn:aws:glue:us-east-1:123456789012:database/clickstream (athena)',
      'glue:GetTable arn:aws:glue:us-east-1:123456789012:catalog (athena)',
      'glue:GetTable arn:aws:glue:us-east-1:123456789012:database/clickstream (athena)',
      'glue:GetTable arn:aws:glue:us-east-1:123456789012:table/clickstream/events (athena)',
      's3:GetBucketLocation arn:aws:s3:::lake (athena)',
      's3:ListBucket arn:aws:s3:::lake (athena)',
      's3:GetObject arn:aws:s3:::lake/events/* (athena)',
      // The workgroup enforces its own result location over the client's.
      's3:GetBucketLocation arn:aws:s3:::results (athena)',
      's3:ListBucket arn:aws:s3:::results (athena)',
      's3:ListBucketMultipartUploads arn:aws:s3:::results (athena)',
      's3:PutObject arn:aws:s3:::results/results/* (athena)',
      's3:AbortMultipartUpload arn:aws:s3:::results/results/* (athena)',
      's3:ListMultipartUploadParts arn:aws:s3:::results/results/* (athena)',
    ]);
    const results: AwsCall = {
      service: 'athena',
      command: 'GetQueryResults',
      input: { QueryExecutionId: 'q1' },
    };
    expect(() => mapper.accessOf(results)).toThrow(
      /the workgroup of query q1 \(its StartQueryExecution was not observed\) is unknown/,
    );
    mapper.observe(start, { QueryExecutionId: 'q1' });
    expect(mapper.accessOf(results).map((a) => `${a.action} ${a.resource}`)).toEqual([
      'athena:GetQueryResults arn:aws:athena:us-east-1:123456789012:workgroup/clickstream',
      's3:GetObject arn:aws:s3:::results/results/*',
    ]);
  });

  it('a table the template does not know cannot be checked', () => {
    const tables = catalog.glueTables('clickstream') ?? [];
    expect(
      tablesOfQuery('SELECT 1 FROM clickstream.user_activity JOIN events e ON true', 'clickstream', tables),
    ).toEqual(tables.slice().reverse());
    expect(() => tablesOfQuery('SELECT * FROM other.events', 'clickstream', tables)).toThrow(
      /other\.events is not a Glue table/,
    );
    expect(() => tablesOfQuery('SELECT * FROM sessions', 'clickstream', tables)).toThrow(
      /sessions is not a Glue table/,
    );
  });
});
