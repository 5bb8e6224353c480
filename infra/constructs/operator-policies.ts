import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface OperatorPoliciesProps {
  eventsStream: kinesis.IStream;
  rawBucket: s3.IBucket;
  /** Key prefix of the uploaded source CSVs in the raw bucket. */
  rawPrefix: string;
  /** Key prefix under which `replay` uploads the rows it rejected. */
  rejectsPrefix: string;
  /** Key prefix of the window aggregator's dead letters in the raw bucket, which `redrive` reads back. */
  deadLetterPrefix: string;
  /** The window aggregator's on-failure queue, whose parked ranges `redrive` re-reads and deletes. */
  failureQueue: sqs.IQueue;
  /**
   * The user-activity stream and the bot alerter's on-failure queue: `redrive --alerter-failure-queue`
   * reads the alerter's parked ranges back from that stream and puts them on it again.
   */
  userActivityStream: kinesis.IStream;
  alerterFailureQueue: sqs.IQueue;
  lakeBucket: s3.IBucket;
  /** The Glue tables the named queries read, with their key prefixes in the lake bucket. */
  lakeTables: ReadonlyArray<{ name: string; prefix: string }>;
  resultsBucket: s3.IBucket;
  /** The workgroup's enforced result prefix in the results bucket. */
  resultsPrefix: string;
  tables: dynamodb.ITableV2[];
  databaseName: string;
  workGroupName: string;
}

/**
 * What a person needs to run the `clickstream` CLI against the stack, as two customer-managed policies
 * to attach to a user or role: the producer (`replay`, `generate`, `redrive`) and the analyst (`query`,
 * `report`, `verify`). Each holds exactly the calls those commands make, and what Athena does with the caller's
 * credentials on their behalf (catalog reads, table reads, result writes); test/unit/iam-contract.test.ts
 * replays the commands against recording clients and checks every call against these documents.
 */
export class OperatorPolicies extends Construct {
  public readonly producer: iam.ManagedPolicy;
  public readonly analyst: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: OperatorPoliciesProps) {
    super(scope, id);
    const { partition, region, account } = Stack.of(this);
    const objects = (bucket: s3.IBucket, prefix: string) => bucket.arnForObjects(`${prefix}*`);
    const glue = (resource: string) => `arn:${partition}:glue:${region}:${account}:${resource}`;
    const source = { bucket: props.rawBucket, prefix: props.rawPrefix };

    this.producer = new iam.ManagedPolicy(this, 'Producer', {
      description:
        'clickstream replay, generate and redrive: read and upload source CSVs, put events, keep rejects, re-drive failures',
      statements: [
        new iam.PolicyStatement({
          sid: 'PutEvents',
          // DescribeStreamSummary: a checkpoint made for an earlier stream of the same name (deleted and
          // created again) is stale, which the stream's creation time tells.
          actions: ['kinesis:DescribeStreamSummary', 'kinesis:ListShards', 'kinesis:PutRecords'],
          resources: [props.eventsStream.streamArn],
        }),
        new iam.PolicyStatement({
          sid: 'SourceCsv',
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [objects(props.rawBucket, props.rawPrefix)],
        }),
        new iam.PolicyStatement({
          sid: 'Rejects',
          actions: ['s3:PutObject'],
          resources: [objects(props.rawBucket, props.rejectsPrefix)],
        }),
        // redrive: a parked range is read back from the stream (AT_SEQUENCE_NUMBER, then GetRecords up to
        // its end) before its records are put again; DescribeStreamSummary above tells the retention.
        new iam.PolicyStatement({
          sid: 'RereadParkedRanges',
          actions: ['kinesis:GetShardIterator', 'kinesis:GetRecords'],
          resources: [props.eventsStream.streamArn],
        }),
        // redrive --alerter-failure-queue: the same, on the stream the alerter reads.
        new iam.PolicyStatement({
          sid: 'RedriveAlerterRanges',
          actions: [
            'kinesis:DescribeStreamSummary',
            'kinesis:ListShards',
            'kinesis:GetShardIterator',
            'kinesis:GetRecords',
            'kinesis:PutRecords',
          ],
          resources: [props.userActivityStream.streamArn],
        }),
        // redrive: a message is deleted once its range is back on the stream; one kept (records past the
        // stream's retention, or not all put) is made visible again at once.
        new iam.PolicyStatement({
          sid: 'FailureQueue',
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
          resources: [props.failureQueue.queueArn, props.alerterFailureQueue.queueArn],
        }),
        // redrive: the aggregator's dead letters are listed under their prefix only, and read.
        new iam.PolicyStatement({
          sid: 'ListDeadLetters',
          actions: ['s3:ListBucket'],
          resources: [props.rawBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${props.deadLetterPrefix}*`] } },
        }),
        new iam.PolicyStatement({
          sid: 'ReadDeadLetters',
          actions: ['s3:GetObject'],
          resources: [objects(props.rawBucket, props.deadLetterPrefix)],
        }),
      ],
    });
    acknowledgeObjectPrefixes(this.producer, [
      { ...source, why: 'source CSVs are named by whoever uploads them' },
      {
        bucket: props.rawBucket,
        prefix: props.rejectsPrefix,
        why: 'one rejects file per replay run, named by its start',
      },
      {
        bucket: props.rawBucket,
        prefix: props.deadLetterPrefix,
        why: 'dead-letter keys derive from the shard and sequence numbers of the records',
      },
    ]);

    this.analyst = new iam.ManagedPolicy(this, 'Analyst', {
      description:
        'clickstream query, report and verify: Athena queries on the lake, DynamoDB scans, source reads',
      statements: [
        new iam.PolicyStatement({
          sid: 'Queries',
          actions: [
            'athena:StartQueryExecution',
            'athena:GetQueryExecution',
            'athena:GetQueryResults',
            'athena:StopQueryExecution',
          ],
          resources: [`arn:${partition}:athena:${region}:${account}:workgroup/${props.workGroupName}`],
        }),
        new iam.PolicyStatement({
          sid: 'Catalog',
          actions: ['glue:GetDatabase', 'glue:GetTable'],
          resources: [
            glue('catalog'),
            glue(`database/${props.databaseName}`),
            ...props.lakeTables.map((table) => glue(`table/${props.databaseName}/${table.name}`)),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'LakeAndResultBuckets',
          actions: ['s3:GetBucketLocation', 's3:ListBucket'],
          resources: [props.lakeBucket.bucketArn, props.resultsBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'LakeAndSourceObjects',
          actions: ['s3:GetObject'],
          resources: [
            ...props.lakeTables.map((table) => objects(props.lakeBucket, table.prefix)),
            objects(props.rawBucket, props.rawPrefix),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'QueryResults',
          actions: ['s3:ListBucketMultipartUploads'],
          resources: [props.resultsBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'QueryResultObjects',
          actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          resources: [objects(props.resultsBucket, props.resultsPrefix)],
        }),
        new iam.PolicyStatement({
          sid: 'ScanTables',
          actions: ['dynamodb:Scan'],
          resources: props.tables.map((table) => table.tableArn),
        }),
      ],
    });
    acknowledgeObjectPrefixes(this.analyst, [
      ...props.lakeTables.map((table) => ({
        bucket: props.lakeBucket,
        prefix: table.prefix,
        why: 'Athena reads every object of a table folder',
      })),
      { ...source, why: 'verify reads the replayed CSV and its ground truth' },
      {
        bucket: props.resultsBucket,
        prefix: props.resultsPrefix,
        why: 'Athena names result objects by query id',
      },
    ]);
  }
}

/** Object keys are data (file names, partitions, query ids): each wildcard is confined to one prefix. */
function acknowledgeObjectPrefixes(
  policy: iam.ManagedPolicy,
  prefixes: ReadonlyArray<{ bucket: s3.IBucket; prefix: string; why: string }>,
): void {
  for (const { bucket, prefix, why } of prefixes) {
    const logicalId = Stack.of(policy).getLogicalId(bucket.node.defaultChild as CfnElement);
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`,
      reason: `Object keys under ${prefix} are not known in advance (${why}); the grant is confined to that prefix and to the actions the CLI sends there.`,
    });
  }
}

export interface SmokePolicyProps {
  /** The stack whose outputs `clickstream smoke` reads. */
  stackName: string;
  alertTopic: sns.ITopic;
  /** The alarm topics whose policies smoke reads (none without `alarmEmail`). */
  alarmTopics: sns.ITopic[];
  userActivityTable: dynamodb.ITableV2;
  /** Name prefix of the temporary queues smoke subscribes to the alert topic. */
  queuePrefix: string;
}

/**
 * What `clickstream smoke` sends beyond `replay` (producer policy) and `query` (analyst policy): read
 * the stack's outputs, read back the totals of the users it sent, subscribe a temporary queue of its own
 * to the alert topic and remove it again, list the custom metrics and read the alarm topics' policies.
 * A person running smoke attaches all three; test/unit/iam-contract.test.ts checks smoke's calls against them.
 */
export class SmokePolicy extends Construct {
  public readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: SmokePolicyProps) {
    super(scope, id);
    const { partition, region, account } = Stack.of(this);
    const queues = `arn:${partition}:sqs:${region}:${account}:${props.queuePrefix}*`;
    this.policy = new iam.ManagedPolicy(this, 'Smoke', {
      description:
        'clickstream smoke: with the producer and analyst policies, what the post-deploy smoke test sends',
      statements: [
        new iam.PolicyStatement({
          sid: 'StackOutputs',
          actions: ['cloudformation:DescribeStacks'],
          resources: [`arn:${partition}:cloudformation:${region}:${account}:stack/${props.stackName}/*`],
        }),
        new iam.PolicyStatement({
          sid: 'ReadBackTotals',
          actions: ['dynamodb:Query'],
          resources: [props.userActivityTable.tableArn],
        }),
        new iam.PolicyStatement({
          sid: 'TemporaryAlertQueue',
          actions: [
            'sqs:CreateQueue',
            'sqs:GetQueueAttributes',
            'sqs:SetQueueAttributes',
            'sqs:ReceiveMessage',
            'sqs:DeleteQueue',
          ],
          resources: [queues],
        }),
        new iam.PolicyStatement({
          sid: 'SubscribeToAlerts',
          actions: ['sns:Subscribe', 'sns:Unsubscribe'],
          resources: [props.alertTopic.topicArn],
        }),
        ...(props.alarmTopics.length > 0
          ? [
              new iam.PolicyStatement({
                sid: 'AlarmTopicPolicies',
                actions: ['sns:GetTopicAttributes'],
                resources: props.alarmTopics.map((topic) => topic.topicArn),
              }),
            ]
          : []),
        // ListMetrics has no resource type: only "*" grants it
        // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
        new iam.PolicyStatement({
          sid: 'ListMetrics',
          actions: ['cloudwatch:ListMetrics'],
          resources: ['*'],
        }),
      ],
    });
    const acknowledgements = [
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'cloudwatch:ListMetrics has no resource type; it is the only action granted on "*".',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${props.queuePrefix}*]`,
        reason:
          'smoke names each temporary queue after its run; the grant is confined to the smoke queue prefix.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/${props.stackName}/*]`,
        reason: 'a stack ARN ends in the id CloudFormation gives it at creation; the grant names the stack.',
      },
    ];
    for (const acknowledgement of acknowledgements) Validations.of(this.policy).acknowledge(acknowledgement);
  }
}
