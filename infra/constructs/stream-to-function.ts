import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * How every handler is bundled. The Node 22 runtime ships AWS SDK v3, so `@aws-sdk/*` stays out of
 * the bundle (smaller, faster cold starts); the rest (Powertools, our code, @smithy/node-http-handler
 * used by the local client factory) is bundled. ESM output because our sources are ESM; the banner gives
 * CommonJS dependencies the `require` they expect.
 */
export const LAMBDA_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  externalModules: ['@aws-sdk/*'],
  mainFields: ['module', 'main'],
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
};

export interface StreamToFunctionProps {
  stream: kinesis.IStream;
  /** Absolute path of the handler module; it exports `handler`. */
  entry: string;
  /** Directory holding package-lock.json (esbuild resolves dependencies from there). */
  projectRoot: string;
  description: string;
  environment: Record<string, string>;
  memorySize: number;
  timeout: Duration;
  /** Undefined = unreserved (shares the account pool). */
  reservedConcurrency?: number;
  logRetention: logs.RetentionDays;
  batchSize: number;
  maxBatchingWindow: Duration;
  /** Lambda tumbling window (≤ 900 s); undefined = stateless batches. */
  tumblingWindow?: Duration;
  retryAttempts: number;
  maxRecordAge: Duration;
}

/**
 * A Kinesis stream consumed by a Lambda function, with the failure path a stream consumer needs:
 * partial batch failures, bisecting, bounded retries and an on-failure queue, so one poison record
 * never blocks a shard and is never silently dropped.
 */
export class StreamToFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  /** Receives the metadata (shard, sequence range) of batches that exhausted their retries. */
  public readonly failureQueue: sqs.Queue;
  public readonly eventSource: KinesisEventSource;

  constructor(scope: Construct, id: string, props: StreamToFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole: logging is granted on this log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.logGroup.grantWrite(this.role);
    this.failureQueue = new sqs.Queue(this, 'FailureQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: operators need time to inspect and redrive failed ranges.
      retentionPeriod: Duration.days(14),
    });
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: `${props.projectRoot}/package-lock.json`,
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      ...(props.reservedConcurrency !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrency }
        : {}),
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: LAMBDA_BUNDLING,
    });
    this.eventSource = new KinesisEventSource(props.stream, {
      // TRIM_HORIZON: records put between deploy and the mapping's first poll are still processed.
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize,
      maxBatchingWindow: props.maxBatchingWindow,
      ...(props.tumblingWindow ? { tumblingWindow: props.tumblingWindow } : {}),
      // AWS: tumbling windows need parallelization factor 1 (one window state per shard).
      parallelizationFactor: 1,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: props.retryAttempts,
      maxRecordAge: props.maxRecordAge,
      onFailure: new SqsDlq(this.failureQueue),
    });
    this.function.addEventSource(this.eventSource);
  }
}
