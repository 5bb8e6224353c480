/**
 * AWS setup problems end a command with one line, a hint and exit 2, never a stack trace. The errors
 * are the SDK's own: a client without a region or credentials, a refused connection, and service
 * exceptions built as the SDK builds them from a response (modelled classes, or the service's base
 * exception named after the error code).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  DynamoDBServiceException,
  ResourceNotFoundException as TableNotFound,
} from '@aws-sdk/client-dynamodb';
import { EntityNotFoundException } from '@aws-sdk/client-glue';
import {
  AccessDeniedException,
  KinesisClient,
  KinesisServiceException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { NoSuchBucket, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { explainAwsError } from '../../adapters/aws-errors.ts';
import { reportError } from '../../cli/main.ts';
import { CSV_HEADER_LINE } from '../../core/event.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { runBin, runMain, tempDirs } from '../support/cli-support.ts';

const tempDir = tempDirs('clickstream-aws-errors-');
const $metadata = { httpStatusCode: 400, requestId: 'req-1' };

function csvFile(): string {
  const path = join(tempDir(), 'events.csv');
  writeFileSync(
    path,
    `${CSV_HEADER_LINE}\n2019-10-01 00:00:00 UTC,view,1003461,2053013555631882655,electronics.smartphone,xiaomi,489.07,520088904,4d3b30da-a5e4-49df-b1a8-ba5943f1dd33\n`,
  );
  return path;
}

/** The environment of a machine with no AWS configuration at all. */
function bareEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && !key.startsWith('CLICKSTREAM_')) env[key] = value;
  }
  // No shared config or credentials files, and no instance metadata service to wait for.
  return { ...env, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' };
}

function expectOneLineAndHint(stderr: string, error: string, hint: RegExp | string) {
  const lines = stderr.trimEnd().split('\n');
  expect(lines.at(-2)).toBe(`error: ${error}`);
  if (typeof hint === 'string') expect(lines.at(-1)).toBe(`hint: ${hint}`);
  else expect(lines.at(-1)).toMatch(hint);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('AWS setup errors from the SDK itself, through the package bin', () => {
  it('no region', async () => {
    const home = tempDir();
    const { code, stderr } = await runBin(['replay', '--source', csvFile()], bareEnv(home));
    expect(code).toBe(2);
    expectOneLineAndHint(
      stderr,
      'no AWS region is set',
      'pass --region (or set AWS_REGION, or "region" in clickstream.config.json), or use the local stack with --local',
    );
  });

  it('no credentials', async () => {
    const home = tempDir();
    const { code, stderr } = await runBin(
      ['replay', '--source', csvFile(), '--region', 'us-east-1'],
      bareEnv(home),
    );
    expect(code).toBe(2);
    expectOneLineAndHint(
      stderr,
      'no AWS credentials found for Kinesis stream clickstream-events',
      'configure credentials (aws configure, AWS_PROFILE, aws sso login), or use the local stack with --local',
    );
  });

  it('an endpoint nobody listens on', async () => {
    const port = await closedPort();
    const endpoint = `http://127.0.0.1:${port}`;
    const state = join(tempDir(), 'local-stack.json');
    // A live pid (this test's) with endpoints where nothing listens: a stack that died uncleanly.
    writeFileSync(
      state,
      JSON.stringify({
        pid: process.pid,
        startedAt: new Date().toISOString(),
        endpoints: { kinesis: endpoint, dynamodb: endpoint, s3: endpoint, sns: endpoint },
        names: DEFAULT_RESOURCE_NAMES,
        topicArn: 'arn:aws:sns:us-east-1:000000000000:clickstream-alerts',
      }),
    );
    const { code, stderr } = await runBin(['replay', '--local', '--source', csvFile()], {
      ...bareEnv(tempDir()),
      CLICKSTREAM_STATE_FILE: state,
    });
    expect(code).toBe(2);
    expectOneLineAndHint(
      stderr,
      `cannot reach 127.0.0.1:${port} (ECONNREFUSED)`,
      'is the local stack running? `clickstream local status`',
    );
  });
});

describe('AWS service errors, as the SDK raises them, through replay', () => {
  const kinesis = mockClient(KinesisClient);
  const s3 = mockClient(S3Client);
  afterEach(() => {
    kinesis.reset();
    s3.reset();
  });

  const cases: Array<[string, Error, string, string | RegExp]> = [
    [
      'unknown stream',
      new ResourceNotFoundException({
        $metadata,
        message: 'Stream clickstream-events under account 123456789012 not found.',
      }),
      'Kinesis stream clickstream-events not found',
      'check the name and --region, deploy the stack (npx cdk deploy), or add --local for the local stack',
    ],
    [
      'access denied',
      new AccessDeniedException({
        $metadata,
        message: 'User: arn:aws:iam::123456789012:user/dev is not authorized to perform: kinesis:ListShards',
      }),
      'access denied for Kinesis stream clickstream-events: User: arn:aws:iam::123456789012:user/dev is not authorized to perform: kinesis:ListShards',
      /^hint: the caller \(aws sts get-caller-identity\) needs IAM permissions/,
    ],
    [
      'expired session token',
      new KinesisServiceException({
        name: 'ExpiredTokenException',
        $fault: 'client',
        $metadata,
        message: 'The security token included in the request is expired',
      }),
      'the AWS session has expired for Kinesis stream clickstream-events',
      'refresh the credentials (aws sso login, or new temporary keys) and run again',
    ],
    [
      'rejected access key',
      new KinesisServiceException({
        name: 'UnrecognizedClientException',
        $fault: 'client',
        $metadata,
        message: 'The security token included in the request is invalid.',
      }),
      'AWS rejected the credentials for Kinesis stream clickstream-events: The security token included in the request is invalid.',
      'configure credentials (aws configure, AWS_PROFILE, aws sso login), or use the local stack with --local',
    ],
  ];

  for (const [name, error, line, hint] of cases) {
    it(name, async () => {
      kinesis.rejects(error);
      const dir = tempDir();
      const { code, stderr, stdout } = await runMain([
        'replay',
        '--source',
        csvFile(),
        '--region',
        'us-east-1',
        '--rejects',
        join(dir, 'rejects.csv'),
        '--failed-out',
        join(dir, 'failed.jsonl'),
      ]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expectOneLineAndHint(stderr, line, hint);
    });
  }

  it('unknown bucket', async () => {
    s3.rejects(
      new NoSuchBucket({
        $metadata: { httpStatusCode: 404 },
        message: 'The specified bucket does not exist',
      }),
    );
    kinesis.resolves({ Shards: [] });
    const dir = tempDir();
    const { code, stderr } = await runMain([
      'replay',
      '--source',
      's3://no-such-bucket/2019-Oct.csv',
      '--region',
      'us-east-1',
      '--rejects',
      join(dir, 'rejects.csv'),
      '--failed-out',
      join(dir, 'failed.jsonl'),
    ]);
    expect(code).toBe(2);
    expectOneLineAndHint(
      stderr,
      'bucket not found: s3://no-such-bucket/2019-Oct.csv',
      'check the bucket name and --region, or deploy the stack (npx cdk deploy)',
    );
  });
});

describe('the top-level catch', () => {
  function reported(error: unknown): { code: number; stderr: string } {
    let stderr = '';
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      stderr += chunk;
      return true;
    }) as typeof process.stderr.write;
    try {
      return { code: reportError(error), stderr };
    } finally {
      process.stderr.write = write;
    }
  }

  it('explains an unknown table and an unknown Glue database in one line with a hint', () => {
    const table = reported(new TableNotFound({ $metadata, message: 'Requested resource not found' }));
    expect(table.code).toBe(2);
    expectOneLineAndHint(
      table.stderr,
      'Requested resource not found',
      'check the name and --region, deploy the stack (npx cdk deploy), or add --local for the local stack',
    );
    const error = new EntityNotFoundException({ $metadata, message: 'Database clickstream not found.' });
    expect(reported(error).stderr).toBe(
      'error: Database clickstream not found.\nhint: check the name and --region, deploy the stack (npx cdk deploy), or add --local for the local stack\n',
    );
  });

  it('keeps the stack of an error it cannot explain, exit 1', () => {
    const { code, stderr } = reported(
      new DynamoDBServiceException({
        name: 'InternalServerError',
        $fault: 'server',
        $metadata,
        message: 'boom',
      }),
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/^unexpected error: InternalServerError: boom\n\s+at /);
  });

  it('tells retryable network failures from setup errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4567'), {
      code: 'ECONNREFUSED',
      address: '127.0.0.1',
      port: 4567,
    });
    expect(explainAwsError(refused)?.retryable).toBe(true);
    const noHost = Object.assign(new Error('getaddrinfo ENOTFOUND kinesis.us-est-1.amazonaws.com'), {
      code: 'ENOTFOUND',
      hostname: 'kinesis.us-est-1.amazonaws.com',
    });
    expect(explainAwsError(noHost)).toEqual({
      problem: 'unreachable',
      message: 'cannot reach AWS: no such host kinesis.us-est-1.amazonaws.com',
      hint: 'check --region (e.g. us-east-1) and the network',
      retryable: false,
    });
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
