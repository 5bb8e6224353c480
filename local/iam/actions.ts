/**
 * What an AWS SDK v3 call needs from IAM: the action(s) it is authorized as and the resource ARN(s) it
 * touches. A command not listed here is an error, never an implicit allow: whoever adds an AWS call
 * adds its mapping, checked against the Service Authorization Reference page cited by its service.
 *
 * Some calls need more than their own action. Publishing to a topic encrypted with a customer key also
 * uses that key; an Athena query reads the Glue catalog and the tables' S3 objects and writes its
 * results with the caller's credentials. Those accesses are returned too, marked `via` the service
 * that performs them, so a policy that grants the API call but not what it implies still fails here.
 */
import { type AwsEnvironment, arns, parseS3Location } from '../template/arns.ts';

/** One SDK call: `service` is a service prefix or a client class name (`DynamoDBDocumentClient`). */
export interface AwsCall {
  service: string;
  /** The command class name, `BatchGetCommand` or `BatchGetItemCommand`; `Command` is optional. */
  command: string;
  input: Record<string, unknown>;
}

export interface Access {
  /** `service:Action`, as written in policies. */
  action: string;
  /**
   * The ARN touched. A `*` in it stands for every name it can match: `arn:aws:s3:::lake/events/*` is
   * "every object under events/", which a policy must allow as a whole.
   */
  resource: string;
  /** Set when the access is made on the caller's behalf by another service (`sns`, `athena`). */
  via?: string;
  /** Service condition keys the request sets, e.g. `s3:prefix` of a listing. */
  context?: Record<string, string>;
}

/** What the template knows and a call's input does not. */
export interface ResourceCatalog {
  /** ARN of the customer-managed KMS key of a topic; undefined for none or an AWS-managed key. */
  topicKey(topicArn: string): string | undefined;
  /** The tables of a Glue database and their S3 locations; undefined for a database it does not know. */
  glueTables(database: string): ReadonlyArray<{ name: string; location?: string }> | undefined;
  /** An Athena workgroup's result location, and whether it overrides the one a client sends. */
  workgroup(name: string): { outputLocation?: string; enforced: boolean } | undefined;
}

export class UnmappedCallError extends Error {
  override name = 'UnmappedCallError';
}

export interface AccessMapper {
  accessOf(call: AwsCall): Access[];
  /** Feed each call's output back: later calls depend on some (a query's id names its workgroup). */
  observe(call: AwsCall, output: unknown): void;
}

const SERVICE_OF_CLIENT: Record<string, string> = {
  DynamoDBClient: 'dynamodb',
  DynamoDBDocumentClient: 'dynamodb',
  KinesisClient: 'kinesis',
  S3Client: 's3',
  SNSClient: 'sns',
  AthenaClient: 'athena',
  GlueClient: 'glue',
  SQSClient: 'sqs',
  CloudFormationClient: 'cloudformation',
  CloudWatchClient: 'cloudwatch',
};

/** `DynamoDBDocumentClient` → `dynamodb`; a service prefix is returned as is. */
export function serviceOf(client: string): string {
  return SERVICE_OF_CLIENT[client] ?? client.toLowerCase();
}

// @aws-sdk/lib-dynamodb names its commands after the operations they send.
const DOCUMENT_COMMANDS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/** The API operation a command sends: `BatchGetCommand` → `BatchGetItem`. */
export function operationOf(service: string, command: string): string {
  const bare = command.replace(/Command$/, '');
  return service === 'dynamodb' ? (DOCUMENT_COMMANDS[bare] ?? bare) : bare;
}

export function createAccessMapper(env: AwsEnvironment, catalog: ResourceCatalog): AccessMapper {
  const executions = new Map<string, AthenaExecution>();
  const athena = athenaAccess(env, catalog, executions);
  /** Shard iterator → the stream it reads: GetRecords names no stream, its iterator does. */
  const iterators = new Map<string, string>();
  const byService: Record<string, (operation: string, input: Input) => Access[] | undefined> = {
    dynamodb: (operation, input) => dynamoAccess(env, operation, input),
    kinesis: (operation, input) => kinesisAccess(env, operation, input, iterators),
    s3: (operation, input) => s3Access(env, operation, input),
    sns: (operation, input) => snsAccess(catalog, operation, input),
    glue: (operation, input) => glueAccess(env, operation, input),
    sqs: (operation, input) => sqsAccess(env, operation, input),
    cloudformation: (operation, input) => cloudFormationAccess(env, operation, input),
    cloudwatch: (operation) => cloudWatchAccess(operation),
    athena: athena.accessOf,
  };
  return {
    accessOf(call) {
      const service = serviceOf(call.service);
      const operation = operationOf(service, call.command);
      const mapped = byService[service]?.(operation, new Input(service, operation, call.input));
      if (!mapped) {
        throw new UnmappedCallError(
          `${service} ${operation} has no IAM mapping in local/iam/actions.ts: add it from the Service Authorization Reference before calling it`,
        );
      }
      return dedupe(mapped);
    },
    observe(call, output) {
      const service = serviceOf(call.service);
      if (service === 'athena') athena.observe(operationOf(service, call.command), call.input, output);
      if (service === 'kinesis') {
        const operation = operationOf(service, call.command);
        const { ShardIterator, NextShardIterator } = (output ?? {}) as {
          ShardIterator?: string;
          NextShardIterator?: string;
        };
        const input = new Input(service, operation, call.input);
        if (operation === 'GetShardIterator' && ShardIterator)
          iterators.set(ShardIterator, kinesisAccess(env, operation, input, iterators)?.[0]?.resource ?? '');
        if (operation === 'GetRecords' && NextShardIterator) {
          const stream = iterators.get(input.string('ShardIterator'));
          if (stream) iterators.set(NextShardIterator, stream);
        }
      }
    },
  };
}

/** A call's input, read with errors that name the call and the missing field. */
class Input {
  constructor(
    readonly service: string,
    readonly operation: string,
    readonly fields: Record<string, unknown>,
  ) {}

  string(name: string): string {
    const value = this.optional(name);
    if (value === undefined) throw this.missing(name);
    return value;
  }

  optional(name: string): string | undefined {
    const value = this.fields[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  }

  /** What the template or earlier calls should have told and did not. */
  unknown(what: string): UnmappedCallError {
    return new UnmappedCallError(
      `${this.service} ${this.operation}: ${what} is unknown, so its resources cannot be checked`,
    );
  }

  missing(what: string): UnmappedCallError {
    return new UnmappedCallError(
      `${this.service} ${this.operation}: no ${what} in the input, so no resource to check`,
    );
  }
}

function dedupe(accesses: Access[]): Access[] {
  const seen = new Set<string>();
  return accesses.filter((access) => {
    const key = `${access.action} ${access.resource} ${access.via ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
 * (operations table: each item operation authorizes the action of its name on the table, or on the
 * index for Query/Scan with IndexName; transactions authorize the action of each item's operation).
 */
function dynamoAccess(env: AwsEnvironment, operation: string, input: Input): Access[] | undefined {
  // DynamoDB accepts a table ARN wherever it takes a table name.
  const table = (name: string) => (name.startsWith('arn:') ? name : arns.dynamoTable(env, name));
  const action = `dynamodb:${operation}`;
  switch (operation) {
    case 'GetItem':
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem':
    case 'DescribeTable':
      return [{ action, resource: table(input.string('TableName')) }];
    case 'Query':
    case 'Scan': {
      const name = input.string('TableName');
      const index = input.optional('IndexName');
      return [{ action, resource: index ? arns.dynamoIndex(env, name, index) : table(name) }];
    }
    case 'BatchGetItem':
    case 'BatchWriteItem': {
      const tables = Object.keys((input.fields.RequestItems ?? {}) as object);
      if (tables.length === 0) throw input.missing('RequestItems');
      return tables.map((name) => ({ action, resource: table(name) }));
    }
    case 'TransactGetItems':
    case 'TransactWriteItems': {
      const items = (input.fields.TransactItems ?? []) as Array<Record<string, { TableName?: string }>>;
      if (items.length === 0) throw input.missing('TransactItems');
      const ITEM_ACTIONS: Record<string, string> = {
        Get: 'GetItem',
        Put: 'PutItem',
        Update: 'UpdateItem',
        Delete: 'DeleteItem',
        ConditionCheck: 'ConditionCheckItem',
      };
      return items.flatMap((item) =>
        Object.entries(item).map(([kind, request]) => {
          const itemAction = ITEM_ACTIONS[kind];
          if (!itemAction || !request.TableName) throw input.missing(`table of the ${kind} item`);
          return { action: `dynamodb:${itemAction}`, resource: table(request.TableName) };
        }),
      );
    }
    default:
      return undefined;
  }
}

/** https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonkinesisdatastreams.html */
function kinesisAccess(
  env: AwsEnvironment,
  operation: string,
  input: Input,
  iterators: ReadonlyMap<string, string>,
): Access[] | undefined {
  const action = `kinesis:${operation}`;
  const stream = () => {
    const arn = input.optional('StreamARN');
    if (arn) return arn;
    const name = input.optional('StreamName');
    if (name) return arns.kinesisStream(env, name);
    // GetRecords names its stream through the iterator that GetShardIterator (or the last page) returned.
    const iterator = input.optional('ShardIterator');
    const known = iterator ? iterators.get(iterator) : undefined;
    if (known) return known;
    if (iterator)
      throw input.unknown('the stream of this shard iterator (its GetShardIterator was not observed)');
    // ListShards pages carry only NextToken; the stream is inside that opaque token.
    throw input.missing('StreamName or StreamARN');
  };
  switch (operation) {
    case 'PutRecord':
    case 'PutRecords':
    case 'ListShards':
    case 'DescribeStream':
    case 'DescribeStreamSummary':
    case 'GetShardIterator':
    case 'GetRecords':
      return [{ action, resource: stream() }];
    case 'ListStreams':
      // The reference lists no resource type for ListStreams: only "*" grants it.
      return [{ action, resource: '*' }];
    default:
      return undefined;
  }
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html and
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html (HeadObject
 * needs s3:GetObject; the multipart upload operations need s3:PutObject; listing needs s3:ListBucket).
 */
function s3Access(env: AwsEnvironment, operation: string, input: Input): Access[] | undefined {
  const bucket = () => input.string('Bucket');
  const object = () => arns.s3Object(env, bucket(), input.string('Key'));
  const on = (action: string, resource: string) => ({ action: `s3:${action}`, resource });
  switch (operation) {
    case 'GetObject':
    case 'HeadObject':
      return [on(input.optional('VersionId') ? 'GetObjectVersion' : 'GetObject', object())];
    case 'PutObject': {
      const extra = [
        ...(input.optional('Tagging') ? [on('PutObjectTagging', object())] : []),
        ...(['ACL', 'GrantFullControl', 'GrantRead', 'GrantReadACP', 'GrantWriteACP'].some((f) =>
          input.optional(f),
        )
          ? [on('PutObjectAcl', object())]
          : []),
      ];
      return [on('PutObject', object()), ...extra];
    }
    case 'CreateMultipartUpload':
    case 'UploadPart':
    case 'CompleteMultipartUpload':
      return [on('PutObject', object())];
    case 'AbortMultipartUpload':
      return [on('AbortMultipartUpload', object())];
    case 'ListParts':
      return [on('ListMultipartUploadParts', object())];
    case 'DeleteObject':
      return [on('DeleteObject', object())];
    case 'ListObjectsV2':
    case 'ListObjects': {
      // s3:prefix is the listing's Prefix (empty when none), so a grant confined to a prefix is checked.
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
      return [
        {
          ...on('ListBucket', arns.s3Bucket(env, bucket())),
          context: { 's3:prefix': input.optional('Prefix') ?? '' },
        },
      ];
    }
    case 'HeadBucket':
      return [on('ListBucket', arns.s3Bucket(env, bucket()))];
    case 'GetBucketLocation':
      return [on('GetBucketLocation', arns.s3Bucket(env, bucket()))];
    default:
      return undefined;
  }
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html: every message
 * operation is authorized on the queue, and a batch operation needs the action of its single form
 * (DeleteMessageBatch is sqs:DeleteMessage, ChangeMessageVisibilityBatch is sqs:ChangeMessageVisibility:
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html).
 * Calls name the queue by its URL, `https://sqs.<region>.amazonaws.com/<account>/<name>`.
 */
function sqsAccess(env: AwsEnvironment, operation: string, input: Input): Access[] | undefined {
  const queue = () => {
    const url = input.string('QueueUrl');
    const match = /^https:\/\/sqs\.([a-z0-9-]+)\.[^/]+\/(\d{12})\/([^/?#]+)$/.exec(url);
    if (!match) throw input.unknown(`the queue of URL ${url}`);
    return arns.sqsQueue(
      { ...env, region: match[1] as string, account: match[2] as string },
      match[3] as string,
    );
  };
  const BATCHED: Record<string, string> = {
    DeleteMessageBatch: 'DeleteMessage',
    ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
    SendMessageBatch: 'SendMessage',
  };
  switch (operation) {
    case 'ReceiveMessage':
    case 'DeleteMessage':
    case 'ChangeMessageVisibility':
    case 'SendMessage':
    case 'GetQueueAttributes':
    case 'DeleteMessageBatch':
    case 'ChangeMessageVisibilityBatch':
    case 'SendMessageBatch':
    case 'SetQueueAttributes':
    case 'DeleteQueue':
      return [{ action: `sqs:${BATCHED[operation] ?? operation}`, resource: queue() }];
    case 'CreateQueue':
      return [{ action: 'sqs:CreateQueue', resource: arns.sqsQueue(env, input.string('QueueName')) }];
    case 'GetQueueUrl': {
      const owner = input.optional('QueueOwnerAWSAccountId');
      return [
        {
          action: 'sqs:GetQueueUrl',
          resource: arns.sqsQueue(owner ? { ...env, account: owner } : env, input.string('QueueName')),
        },
      ];
    }
    default:
      return undefined;
  }
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html; a topic
 * encrypted with a customer key needs kms:GenerateDataKey and kms:Decrypt from its publishers
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
 */
function snsAccess(catalog: ResourceCatalog, operation: string, input: Input): Access[] | undefined {
  switch (operation) {
    case 'Publish':
    case 'PublishBatch': {
      const topic = input.optional('TopicArn') ?? input.optional('TargetArn');
      if (!topic) throw input.missing('TopicArn');
      const key = catalog.topicKey(topic);
      return [
        { action: 'sns:Publish', resource: topic },
        ...(key
          ? ['kms:GenerateDataKey', 'kms:Decrypt'].map((action) => ({ action, resource: key, via: 'sns' }))
          : []),
      ];
    }
    case 'GetTopicAttributes':
    case 'ListSubscriptionsByTopic':
    case 'Subscribe':
      return [{ action: `sns:${operation}`, resource: input.string('TopicArn') }];
    case 'Unsubscribe': {
      // Authorized on the topic: a subscription's ARN is its topic's ARN and `:<id>`.
      const subscription = input.string('SubscriptionArn');
      return [{ action: 'sns:Unsubscribe', resource: subscription.slice(0, subscription.lastIndexOf(':')) }];
    }
    default:
      return undefined;
  }
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html:
 * DescribeStacks is authorized on the stack, `stack/<name>/<id>`; a call names the stack only, so the
 * resource is every id of that name.
 */
function cloudFormationAccess(env: AwsEnvironment, operation: string, input: Input): Access[] | undefined {
  if (operation !== 'DescribeStacks') return undefined;
  const stack = input.string('StackName');
  const resource = stack.startsWith('arn:')
    ? stack
    : `arn:${env.partition}:cloudformation:${env.region}:${env.account}:stack/${stack}/*`;
  return [{ action: 'cloudformation:DescribeStacks', resource }];
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html:
 * ListMetrics has no resource type, so only "*" grants it.
 */
function cloudWatchAccess(operation: string): Access[] | undefined {
  return operation === 'ListMetrics' ? [{ action: 'cloudwatch:ListMetrics', resource: '*' }] : undefined;
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsglue.html: access to a
 * table needs the action on the catalog, the database and the table
 * (https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html).
 */
function glueAccess(env: AwsEnvironment, operation: string, input: Input): Access[] | undefined {
  switch (operation) {
    case 'GetDatabase':
      return catalogPath(env, `glue:${operation}`, input.string('Name'));
    case 'GetTable':
      return catalogPath(env, `glue:${operation}`, input.string('DatabaseName'), input.string('Name'));
    case 'GetTables':
      return catalogPath(env, `glue:${operation}`, input.string('DatabaseName'), '*');
    case 'GetPartitions':
      return catalogPath(env, `glue:${operation}`, input.string('DatabaseName'), input.string('TableName'));
    default:
      return undefined;
  }
}

function catalogPath(env: AwsEnvironment, action: string, database: string, table?: string, via?: string) {
  const resources = [
    arns.glueCatalog(env),
    arns.glueDatabase(env, database),
    ...(table ? [arns.glueTable(env, database, table)] : []),
  ];
  return resources.map((resource) => ({ action, resource, ...(via ? { via } : {}) }));
}

interface AthenaExecution {
  workgroup: string;
  /** Objects under the result location, as an S3 ARN pattern. */
  results?: string;
}

/**
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonathena.html: query
 * operations are authorized on the workgroup (https://docs.aws.amazon.com/athena/latest/ug/workgroups-access.html).
 * A query also reads the catalog, reads the tables' objects and writes its results with the caller's
 * credentials (https://docs.aws.amazon.com/athena/latest/ug/security-iam-athena.html, and the S3
 * actions of https://repost.aws/knowledge-center/athena-access-iam). Tables with partition projection
 * are not listed with glue:GetPartitions (https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html),
 * and GetQueryResults reads the result objects from S3
 * (https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html).
 */
function athenaAccess(
  env: AwsEnvironment,
  catalog: ResourceCatalog,
  executions: Map<string, AthenaExecution>,
) {
  const resultObjects = (location: string | undefined) => {
    const parsed = location ? parseS3Location(location) : undefined;
    return parsed
      ? { bucket: parsed.bucket, objects: arns.s3Object(env, parsed.bucket, `${parsed.prefix}*`) }
      : undefined;
  };
  const resultsOf = (workgroup: string, input: Input) => {
    const settings = catalog.workgroup(workgroup);
    const requested = ((input.fields.ResultConfiguration ?? {}) as { OutputLocation?: string })
      .OutputLocation;
    return resultObjects(
      settings?.enforced ? settings.outputLocation : (requested ?? settings?.outputLocation),
    );
  };
  const execution = (input: Input) => {
    const id = input.string('QueryExecutionId');
    const known = executions.get(id);
    if (!known)
      throw input.unknown(`the workgroup of query ${id} (its StartQueryExecution was not observed)`);
    return known;
  };
  return {
    accessOf(operation: string, input: Input): Access[] | undefined {
      switch (operation) {
        case 'StartQueryExecution':
          return startQuery(input);
        case 'GetQueryExecution':
        case 'StopQueryExecution':
          return [
            {
              action: `athena:${operation}`,
              resource: arns.athenaWorkgroup(env, execution(input).workgroup),
            },
          ];
        case 'GetQueryResults': {
          const { workgroup, results } = execution(input);
          return [
            { action: 'athena:GetQueryResults', resource: arns.athenaWorkgroup(env, workgroup) },
            ...(results ? [{ action: 's3:GetObject', resource: results, via: 'athena' }] : []),
          ];
        }
        default:
          return undefined;
      }
    },
    observe(operation: string, fields: Record<string, unknown>, output: unknown) {
      const id = (output as { QueryExecutionId?: string } | undefined)?.QueryExecutionId;
      if (operation !== 'StartQueryExecution' || !id) return;
      const input = new Input('athena', operation, fields);
      const workgroup = input.optional('WorkGroup') ?? 'primary';
      const results = resultsOf(workgroup, input)?.objects;
      executions.set(id, { workgroup, ...(results ? { results } : {}) });
    },
  };

  function startQuery(input: Input): Access[] {
    const workgroup = input.optional('WorkGroup') ?? 'primary';
    const context = (input.fields.QueryExecutionContext ?? {}) as { Database?: string };
    const database = context.Database ?? 'default';
    const tables = catalog.glueTables(database);
    if (!tables) throw input.unknown(`Glue database ${database} (not in the template)`);
    const used = tablesOfQuery(input.string('QueryString'), database, tables);
    const results = resultsOf(workgroup, input);
    if (!results) throw input.unknown(`the result location of workgroup ${workgroup}`);
    const via = 'athena';
    const read = (location: string | undefined, table: string) => {
      const parsed = location ? parseS3Location(location) : undefined;
      if (!parsed) throw input.unknown(`the S3 location of Glue table ${database}.${table}`);
      const bucket = arns.s3Bucket(env, parsed.bucket);
      return [
        { action: 's3:GetBucketLocation', resource: bucket, via },
        { action: 's3:ListBucket', resource: bucket, via },
        { action: 's3:GetObject', resource: arns.s3Object(env, parsed.bucket, `${parsed.prefix}*`), via },
      ];
    };
    const resultBucket = arns.s3Bucket(env, results.bucket);
    return [
      { action: 'athena:StartQueryExecution', resource: arns.athenaWorkgroup(env, workgroup) },
      ...catalogPath(env, 'glue:GetDatabase', database, undefined, via),
      ...used.flatMap((table) => [
        ...catalogPath(env, 'glue:GetTable', database, table.name, via),
        ...read(table.location, table.name),
      ]),
      { action: 's3:GetBucketLocation', resource: resultBucket, via },
      { action: 's3:ListBucket', resource: resultBucket, via },
      { action: 's3:ListBucketMultipartUploads', resource: resultBucket, via },
      ...['PutObject', 'AbortMultipartUpload', 'ListMultipartUploadParts'].map((action) => ({
        action: `s3:${action}`,
        resource: results.objects,
        via,
      })),
    ];
  }
}

/**
 * The catalog tables a query reads: every name after FROM or JOIN that is a table of the database
 * (optionally `database.table`), skipping the query's own WITH names. A name that is neither is an
 * error: the contract cannot tell which objects Athena would read for it.
 */
export function tablesOfQuery(
  sql: string,
  database: string,
  tables: ReadonlyArray<{ name: string; location?: string }>,
): Array<{ name: string; location?: string }> {
  const text = sql.replace(/--[^\n]*/g, ' ').replace(/'(?:[^']|'')*'/g, "''");
  const withNames = new Set(
    [...text.matchAll(/\b([A-Za-z_]\w*)\s+AS\s*\(/gi)].map((m) => (m[1] ?? '').toLowerCase()),
  );
  const byName = new Map(tables.map((table) => [table.name.toLowerCase(), table]));
  const used = new Map<string, { name: string; location?: string }>();
  for (const match of text.matchAll(/\b(?:FROM|JOIN)\s+("?\w+"?(?:\."?\w+"?)?)/gi)) {
    // JOIN UNNEST(array) expands a column of a row already read: no table, no objects.
    if (/^unnest$/i.test(match[1] ?? '') && text[(match.index ?? 0) + match[0].length] === '(') continue;
    const parts = (match[1] ?? '').replace(/"/g, '').toLowerCase().split('.');
    const qualified = parts.length === 2;
    const name = (qualified ? parts[1] : parts[0]) ?? '';
    const table = qualified && parts[0] !== database.toLowerCase() ? undefined : byName.get(name);
    if (table) used.set(table.name, table);
    else if (qualified || !withNames.has(name)) {
      throw new UnmappedCallError(
        `athena StartQueryExecution: ${parts.join('.')} is not a Glue table of ${database} in the template, so the objects Athena would read are unknown`,
      );
    }
  }
  return [...used.values()];
}
