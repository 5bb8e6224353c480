/**
 * One client factory per AWS service. Local mode and AWS mode differ only here: pass an endpoint and
 * the client talks to the embedded emulator on loopback with throwaway credentials; pass none and the
 * standard credential chain and region apply.
 */

import { Agent } from 'node:http';
import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GlueClient } from '@aws-sdk/client-glue';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_REGION } from '../core/resources.ts';

export interface ClientOptions {
  /** e.g. `http://127.0.0.1:4567`. Absent: the real AWS endpoint. */
  endpoint?: string;
  region?: string;
  /** SDK retry attempts (default: the SDK's). The producer runs its own retry loop and sets 1. */
  maxAttempts?: number;
}

/** Endpoints of the embedded stack, as written to the local state file. */
export interface LocalEndpoints {
  kinesis: string;
  dynamodb: string;
  s3: string;
  sns: string;
}

export { LOCAL_REGION };

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
// s3rver only accepts its own fixed key pair.
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

function base(options: ClientOptions, credentials = LOCAL_CREDENTIALS) {
  const region = options.region ?? (options.endpoint ? LOCAL_REGION : undefined);
  return {
    ...(region ? { region } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint, credentials } : {}),
  };
}

/**
 * HTTP/1.1 with keep-alive: the SDK's Kinesis client defaults to HTTP/2, which fails on the emulator's
 * plain HTTP; and reusing sockets matters at thousands of PutRecords calls.
 */
function http1Handler() {
  return new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) });
}

export function createKinesisClient(options: ClientOptions = {}): KinesisClient {
  return new KinesisClient({ ...base(options), requestHandler: http1Handler() });
}

export function createDynamoClient(options: ClientOptions = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient({ ...base(options), requestHandler: http1Handler() });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function createS3Client(options: ClientOptions = {}): S3Client {
  return new S3Client({
    ...base(options, S3RVER_CREDENTIALS),
    ...(options.endpoint
      ? {
          forcePathStyle: true,
          // Without these, s3rver stores streamed bodies with aws-chunked framing inside the object.
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
  });
}

export function createSnsClient(options: ClientOptions = {}): SNSClient {
  return new SNSClient(base(options));
}

export function createGlueClient(options: ClientOptions = {}): GlueClient {
  return new GlueClient(base(options));
}

export function createAthenaClient(options: ClientOptions = {}): AthenaClient {
  return new AthenaClient(base(options));
}

/** AWS only: the local stack has no SQS (its on-failure destination is a file, local/lambda-runner.ts). */
export function createSqsClient(options: ClientOptions = {}): SQSClient {
  return new SQSClient(base(options));
}

/** AWS only: the stack's outputs (`clickstream smoke` finds the deployed resources through them). */
export function createCloudFormationClient(options: ClientOptions = {}): CloudFormationClient {
  return new CloudFormationClient(base(options));
}

/** AWS only: the local stack has no CloudWatch (the local runner writes no metrics). */
export function createCloudWatchClient(options: ClientOptions = {}): CloudWatchClient {
  return new CloudWatchClient(base(options));
}
