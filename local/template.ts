/**
 * The synthesized CloudFormation template, read as the local stack's configuration. Everything the local
 * stack and pipeline create and run comes from here: streams and shard counts, tables and keys, buckets,
 * topics and subscriptions, each function's environment, every event source mapping setting, and the
 * Firehose deliveries. Nothing about the stack is written down twice.
 *
 * Locally every resource gets a deterministic physical name: the resource that plays a role for the
 * CLI (the stack's `ClickstreamConfig` output says which) keeps the name commands rely on
 * (core/resources.ts), an explicit name in the template is kept, and any other resource is named after
 * its logical id. `Ref` and `Fn::GetAtt` resolve to those names and to ARNs in the local account, so a
 * function's environment points at the local resources exactly as CloudFormation would point it at
 * the deployed ones.
 *
 * A setting the local runners cannot honour fails here with the reason, instead of running differently.
 */
import { LOCAL_REGION } from '../adapters/clients.ts';
import { ALERTER_NAME } from '../consumers/bot-alerter/processor.ts';
import { AGGREGATOR_NAME } from '../consumers/window-aggregator/processor.ts';
import type { KeyAttribute } from '../core/dynamo-tables.ts';
import {
  DEFAULT_RESOURCE_NAMES,
  LOCAL_ACCOUNT_ID,
  localResourceName,
  type ResourceNames,
} from '../core/resources.ts';
import { type LakeTableName, TABLE_NAMES } from '../core/tables.ts';
import { type IamModel, loadIamModel } from './iam/policy.ts';
import type { AwsEnvironment } from './template/arns.ts';
import {
  type CfnTemplate,
  createTemplateResolver,
  TemplateError,
  type TemplateResolver,
  type TemplateResource,
} from './template/intrinsics.ts';

export { type CfnTemplate, TemplateError } from './template/intrinsics.ts';

/**
 * The handler modules the local pipeline runs, by the construct id of their function in the CDK app
 * (infra/pipeline-stack.ts). The template holds the bundled code, not its entry file; the construct id
 * is what names the function's logical id (`StreamToAggregatorFunctionBC5223A0`) and its `aws:cdk:path`.
 */
export const LOCAL_HANDLERS = {
  aggregator: { constructId: 'StreamToAggregator', functionName: AGGREGATOR_NAME },
  alerter: { constructId: 'UserActivityToAlerter', functionName: ALERTER_NAME },
} as const;
export type HandlerKind = keyof typeof LOCAL_HANDLERS;

/**
 * Shards of an on-demand stream locally. AWS starts an on-demand stream with 4 MiB/s of write
 * capacity, the capacity of 4 shards, and scales from there; kinesalite cannot scale, so locally the
 * stream starts and stays at 4. https://docs.aws.amazon.com/streams/latest/dev/how-do-i-size-a-stream.html
 */
export const ON_DEMAND_LOCAL_SHARDS = 4;

/** A resource as the local stack names it. */
export interface LocalNamed {
  logicalId: string;
  name: string;
  arn: string;
}

/** Where the local emulators say the resources are: ARNs name this partition, region and account. */
export const LOCAL_ENV: AwsEnvironment = {
  partition: 'aws',
  region: LOCAL_REGION,
  account: LOCAL_ACCOUNT_ID,
};

export interface LocalStream {
  logicalId: string;
  name: string;
  arn: string;
  shardCount: number;
  mode: 'provisioned' | 'on-demand';
}

export interface LocalTable {
  logicalId: string;
  name: string;
  /** Partition key first, then the sort key if any. */
  keys: KeyAttribute[];
  ttlAttribute?: string;
}

export interface LocalTopic extends LocalNamed {
  /** Email subscriptions (the only protocol the local SNS endpoint delivers). */
  emails: string[];
}

export interface LocalFunction extends LocalNamed {
  handler: HandlerKind;
  /** The function's environment with every Ref and GetAtt resolved to local names. */
  environment: Record<string, string>;
  roleLogicalId?: string;
  /** The function timeout in the template; watched, not enforced, locally (see local/pipeline.ts). */
  timeoutSeconds?: number;
}

/** An AWS::Lambda::EventSourceMapping on a Kinesis stream, with AWS's defaults filled in. */
export interface LocalEventSourceMapping {
  logicalId: string;
  functionLogicalId: string;
  streamLogicalId: string;
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  /** 0: no tumbling window. */
  tumblingWindowInSeconds: number;
  /** -1: retry until the record expires. */
  maximumRetryAttempts: number;
  bisectBatchOnFunctionError: boolean;
  /** -1: never discard for age. */
  maximumRecordAgeInSeconds: number;
  reportBatchItemFailures: boolean;
  parallelizationFactor: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** Where the metadata of discarded batches goes (an SQS queue or SNS topic in AWS). */
  onFailure?: LocalNamed & { type: string };
}

export interface LocalDelivery extends LocalNamed {
  sourceStreamLogicalId: string;
  bucketLogicalId: string;
  /** The Glue table the records are converted with. */
  table: LakeTableName;
  prefix: string;
  errorOutputPrefix: string;
  /** The record field whose first 10 characters are the partition (JQ `{key: .field[0:10]}`). */
  partitionField: string;
  fileExtension: string;
  bufferingSeconds: number;
  bufferingMiB: number;
}

export interface LocalConfig {
  region: string;
  accountId: string;
  /** The names commands use, from the template's ClickstreamConfig output resolved locally. */
  names: ResourceNames;
  streams: LocalStream[];
  tables: LocalTable[];
  buckets: LocalNamed[];
  topics: LocalTopic[];
  functions: LocalFunction[];
  eventSourceMappings: LocalEventSourceMapping[];
  deliveries: LocalDelivery[];
}

export interface LocalConfigOptions {
  /** Names to use instead of the local defaults (config file, CLICKSTREAM_* environment). */
  names?: Partial<ResourceNames>;
}

export function localConfigFromTemplate(
  template: CfnTemplate,
  options: LocalConfigOptions = {},
): LocalConfig {
  if (typeof template.Resources !== 'object' || template.Resources === null) {
    throw new TemplateError('the template has no Resources', 'give the .template.json file from cdk.out');
  }
  const { resolver, names } = localResolver(template, options.names ?? {});
  const ofType = (...types: string[]) =>
    Object.entries(template.Resources).filter(([, resource]) => types.includes(resource.Type));
  const functions = ofType('AWS::Lambda::Function').map(([id]) => readFunction(resolver, id));
  return {
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    names,
    streams: ofType('AWS::Kinesis::Stream').map(([id]) => readStream(resolver, id)),
    tables: ofType('AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable').map(([id, r]) =>
      readTable(resolver, id, r),
    ),
    buckets: ofType('AWS::S3::Bucket').map(([id]) => named(resolver, id)),
    topics: ofType('AWS::SNS::Topic').map(([id]) => readTopic(resolver, id)),
    functions,
    eventSourceMappings: ofType('AWS::Lambda::EventSourceMapping').map(([id, r]) =>
      readMapping(resolver, id, r),
    ),
    deliveries: ofType('AWS::KinesisFirehose::DeliveryStream').map(([id, r]) =>
      readDelivery(resolver, id, r),
    ),
  };
}

/** Marks a resolved `Ref` inside a string, so the ClickstreamConfig output shows which resource plays which role. */
const REF_MARK = '\u0000ref:';

/**
 * The resolver for the local stack: ARNs in the local account, and a deterministic physical name for
 * every resource. The resource that plays a role for the CLI (the ClickstreamConfig output says which)
 * gets the name from the config file or environment, else its default name (core/resources.ts); an
 * explicit name in the template is kept; a consumer's function is named after its handler
 * (window-aggregator), as the runner reports it; any other resource after its logical id.
 */
function localResolver(
  template: CfnTemplate,
  overrides: Partial<ResourceNames>,
): { resolver: TemplateResolver; names: ResourceNames } {
  const { roles, literal } = readRoles(template);
  const resolver = createTemplateResolver(template, localNaming(template, overrides, roles));
  const names: Partial<ResourceNames> = { ...literal };
  for (const [id, role] of roles) names[role] = resolver.name(id);
  for (const role of Object.keys(DEFAULT_RESOURCE_NAMES) as Array<keyof ResourceNames>) {
    if (overrides[role]) names[role] = overrides[role];
    if (names[role] === undefined) {
      throw new TemplateError(
        `the template's ClickstreamConfig output names no ${role}`,
        'synthesize the CDK app in infra/ (its stack outputs ClickstreamConfig)',
      );
    }
  }
  return { resolver, names: names as ResourceNames };
}

/** How the local stack names and addresses each resource of the template (see localResolver). */
function localNaming(
  template: CfnTemplate,
  overrides: Partial<ResourceNames>,
  roles = readRoles(template).roles,
): Parameters<typeof createTemplateResolver>[1] {
  return {
    env: LOCAL_ENV,
    overrides: (id) => {
      const role = roles.get(id);
      return role ? overrides[role] : undefined;
    },
    names: (id, resource) => {
      const role = roles.get(id);
      if (role) return DEFAULT_RESOURCE_NAMES[role];
      const kind = handlerOf(id, resource);
      return kind ? LOCAL_HANDLERS[kind].functionName : localResourceName(id);
    },
  };
}

/**
 * The roles and policies of the template, with every resource named as the local stack names it
 * (`names`: the names the stack was built with), for the IAM checks of the local pipeline.
 */
export function localIamModel(template: CfnTemplate, names: ResourceNames): IamModel {
  return loadIamModel(template, localNaming(template, names));
}

/**
 * Reads the ClickstreamConfig output: which logical id plays which role (each `Ref` to a resource is
 * marked before the output is resolved), and the names it gives as literals.
 */
function readRoles(template: CfnTemplate): {
  roles: Map<string, keyof ResourceNames>;
  literal: Partial<ResourceNames>;
} {
  const roles = new Map<string, keyof ResourceNames>();
  const literal: Partial<ResourceNames> = {};
  const output = template.Outputs?.ClickstreamConfig?.Value;
  if (output === undefined) return { roles, literal };
  const markRefs = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(markRefs);
    if (typeof value !== 'object' || value === null) return value;
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === 'string' && ref in template.Resources) return `${REF_MARK}${ref}\u0000`;
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, markRefs(inner)]));
  };
  const resolver = createTemplateResolver(template, { env: LOCAL_ENV, names: localResourceName });
  const text = resolver.string(markRefs(output), 'output ClickstreamConfig');
  let parsed: { names?: Record<string, string> };
  try {
    parsed = JSON.parse(text.replaceAll('\u0000', '\\u0000'));
  } catch (error) {
    throw new TemplateError('the ClickstreamConfig output is not JSON', undefined, { cause: error });
  }
  for (const [role, value] of Object.entries(parsed.names ?? {})) {
    if (!(role in DEFAULT_RESOURCE_NAMES)) continue;
    const ref = new RegExp(`^${REF_MARK}([^\\u0000]+)\\u0000$`).exec(value);
    if (ref?.[1]) roles.set(ref[1], role as keyof ResourceNames);
    else literal[role as keyof ResourceNames] = value;
  }
  return { roles, literal };
}

function named(resolver: TemplateResolver, id: string): LocalNamed {
  return { logicalId: id, name: resolver.name(id), arn: resolver.arn(id) };
}

/** The function that runs `kind`'s handler and the mapping that feeds it; a clear error when either is missing. */
export function consumerOf(
  config: LocalConfig,
  kind: HandlerKind,
): { function: LocalFunction; mapping: LocalEventSourceMapping; stream: LocalStream } {
  const { constructId, functionName } = LOCAL_HANDLERS[kind];
  const fn = config.functions.find((f) => f.handler === kind);
  if (!fn) {
    throw new TemplateError(
      `the template has no ${functionName} function (construct ${constructId})`,
      'synthesize the CDK app in infra/ (npx cdk synth), or drop --template',
    );
  }
  const mappings = config.eventSourceMappings.filter((m) => m.functionLogicalId === fn.logicalId);
  const mapping = mappings[0];
  if (!mapping) {
    throw new TemplateError(
      `the template has no event source mapping for the ${functionName} function (${fn.logicalId}): nothing would invoke it`,
      'a Kinesis event source (AWS::Lambda::EventSourceMapping) must feed it, as infra/ synthesizes it',
    );
  }
  if (mappings.length > 1) {
    throw new TemplateError(
      `the ${functionName} function has ${mappings.length} event source mappings; the local pipeline runs one per function`,
    );
  }
  const stream = config.streams.find((s) => s.logicalId === mapping.streamLogicalId);
  if (!stream) throw new TemplateError(`mapping ${mapping.logicalId} reads a stream the template lacks`);
  return { function: fn, mapping, stream };
}

function readStream(resolver: TemplateResolver, id: string): LocalStream {
  const props = resolver.properties(id);
  const modeDetails = props.StreamModeDetails as { StreamMode?: string } | undefined;
  const mode = modeDetails?.StreamMode === 'ON_DEMAND' ? 'on-demand' : 'provisioned';
  const shardCount =
    mode === 'on-demand' ? ON_DEMAND_LOCAL_SHARDS : integer(props.ShardCount ?? 1, `${id}.ShardCount`);
  return { ...named(resolver, id), shardCount, mode };
}

function readTable(resolver: TemplateResolver, id: string, resource: TemplateResource): LocalTable {
  const props = resolver.properties(id);
  const definitions = (props.AttributeDefinitions ?? []) as Array<{
    AttributeName: string;
    AttributeType: KeyAttribute['type'];
  }>;
  const schema = (props.KeySchema ?? []) as Array<{ AttributeName: string; KeyType: 'HASH' | 'RANGE' }>;
  const keys = [...schema]
    .sort((a, b) => (a.KeyType === b.KeyType ? 0 : a.KeyType === 'HASH' ? -1 : 1))
    .map((key) => {
      const type = definitions.find((d) => d.AttributeName === key.AttributeName)?.AttributeType;
      if (!type) throw new TemplateError(`${id}: key ${key.AttributeName} has no AttributeDefinition`);
      return { name: key.AttributeName, type };
    });
  if (keys.length === 0) throw new TemplateError(`${resource.Type} ${id} has no KeySchema`);
  const ttl = props.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
  return {
    logicalId: id,
    name: resolver.name(id),
    keys,
    ...(ttl?.Enabled && ttl.AttributeName ? { ttlAttribute: ttl.AttributeName } : {}),
  };
}

function readTopic(resolver: TemplateResolver, id: string): LocalTopic {
  const inline = (resolver.properties(id).Subscription ?? []) as Array<{
    Protocol: string;
    Endpoint: string;
  }>;
  const separate = Object.keys(resolver.template.Resources)
    .filter((sid) => resolver.resource(sid).Type === 'AWS::SNS::Subscription')
    .map((sid) => ({ sid, props: resolver.properties(sid) }))
    .filter(({ props }) => props.TopicArn === resolver.arn(id))
    .map(({ sid, props }) => ({ sid, Protocol: String(props.Protocol), Endpoint: String(props.Endpoint) }));
  const emails: string[] = [];
  for (const subscription of [...inline.map((s) => ({ sid: id, ...s })), ...separate]) {
    if (subscription.Protocol !== 'email') {
      throw new TemplateError(
        `${subscription.sid}: the local SNS endpoint delivers email subscriptions only, not ${subscription.Protocol}`,
      );
    }
    emails.push(subscription.Endpoint);
  }
  return { ...named(resolver, id), emails };
}

function readFunction(resolver: TemplateResolver, id: string): LocalFunction {
  const props = resolver.properties(id);
  const handler = handlerOf(id, resolver.resource(id));
  if (!handler) {
    throw new TemplateError(
      `function ${id} runs no handler the local pipeline knows`,
      `the local runner runs the functions of constructs ${Object.values(LOCAL_HANDLERS)
        .map((h) => h.constructId)
        .join(' and ')} (infra/pipeline-stack.ts)`,
    );
  }
  const variables = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
    {}) as Record<string, unknown>;
  const environment = Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [key, String(value)]),
  );
  const role = resolver.resource(id).Properties?.Role;
  const roleLogicalId = resolver.referencedId(role);
  return {
    ...named(resolver, id),
    handler,
    environment,
    ...(roleLogicalId ? { roleLogicalId } : {}),
    ...(typeof props.Timeout === 'number' ? { timeoutSeconds: props.Timeout } : {}),
  };
}

/** By the `aws:cdk:path` metadata when `cdk synth` wrote it, else by the head of the logical id. */
function handlerOf(id: string, resource: TemplateResource): HandlerKind | undefined {
  if (resource.Type !== 'AWS::Lambda::Function') return undefined;
  const path = resource.Metadata?.['aws:cdk:path'];
  for (const [kind, { constructId }] of Object.entries(LOCAL_HANDLERS) as Array<
    [HandlerKind, (typeof LOCAL_HANDLERS)[HandlerKind]]
  >) {
    const inPath = typeof path === 'string' && path.split('/').includes(constructId);
    if (inPath || id.startsWith(`${constructId}Function`)) return kind;
  }
  return undefined;
}

/** AWS defaults for absent properties: https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html */
function readMapping(
  resolver: TemplateResolver,
  id: string,
  resource: TemplateResource,
): LocalEventSourceMapping {
  const raw = resource.Properties ?? {};
  const props = resolver.properties(id);
  const functionLogicalId = resolver.referencedId(raw.FunctionName);
  const streamLogicalId = resolver.referencedId(raw.EventSourceArn);
  if (!functionLogicalId || !streamLogicalId) {
    throw new TemplateError(
      `${id}: its FunctionName and EventSourceArn must refer to resources of the template`,
    );
  }
  if (resolver.resource(streamLogicalId).Type !== 'AWS::Kinesis::Stream') {
    throw new TemplateError(`${id}: the local runner reads Kinesis streams only`);
  }
  const where = `event source mapping ${id}`;
  const mapping: LocalEventSourceMapping = {
    logicalId: id,
    functionLogicalId,
    streamLogicalId,
    batchSize: integer(props.BatchSize ?? 100, `${where} BatchSize`),
    maximumBatchingWindowInSeconds: integer(props.MaximumBatchingWindowInSeconds ?? 0, where),
    tumblingWindowInSeconds: integer(props.TumblingWindowInSeconds ?? 0, where),
    maximumRetryAttempts: integer(props.MaximumRetryAttempts ?? -1, where),
    bisectBatchOnFunctionError: props.BisectBatchOnFunctionError === true,
    maximumRecordAgeInSeconds: integer(props.MaximumRecordAgeInSeconds ?? -1, where),
    reportBatchItemFailures: ((props.FunctionResponseTypes ?? []) as string[]).includes(
      'ReportBatchItemFailures',
    ),
    parallelizationFactor: integer(props.ParallelizationFactor ?? 1, where),
    startingPosition: props.StartingPosition as LocalEventSourceMapping['startingPosition'],
  };
  const destination = resolver.referencedId(
    (raw.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure?.Destination,
  );
  if (destination)
    mapping.onFailure = { ...named(resolver, destination), type: resolver.resource(destination).Type };
  checkMapping(mapping, props, where);
  return mapping;
}

/** What the local runner cannot do fails here, named, instead of silently running otherwise. */
function checkMapping(mapping: LocalEventSourceMapping, props: Record<string, unknown>, where: string): void {
  if (mapping.parallelizationFactor !== 1) {
    throw new TemplateError(
      `${where}: ParallelizationFactor ${mapping.parallelizationFactor} cannot run locally: the local runner invokes one batch per shard at a time${
        mapping.tumblingWindowInSeconds > 0 ? ', and a tumbling window keeps one state per shard' : ''
      }`,
      'synthesize with ParallelizationFactor 1 (infra/constructs/stream-to-function.ts)',
    );
  }
  if (mapping.startingPosition !== 'TRIM_HORIZON' && mapping.startingPosition !== 'LATEST') {
    throw new TemplateError(
      `${where}: StartingPosition ${String(mapping.startingPosition)} cannot run locally (TRIM_HORIZON or LATEST)`,
    );
  }
  for (const unsupported of ['FilterCriteria', 'DestinationConfig.OnSuccess', 'MetricsConfig'] as const) {
    const [key, sub] = unsupported.split('.') as [string, string | undefined];
    const value = props[key] as Record<string, unknown> | undefined;
    if (value !== undefined && (sub === undefined || value[sub] !== undefined)) {
      throw new TemplateError(`${where}: ${unsupported} is not something the local runner can honour`);
    }
  }
  if (props.Enabled === false) {
    throw new TemplateError(`${where} is disabled (Enabled: false): the local pipeline would never run it`);
  }
}

function readDelivery(resolver: TemplateResolver, id: string, resource: TemplateResource): LocalDelivery {
  const raw = resource.Properties ?? {};
  const props = resolver.properties(id);
  const where = `delivery stream ${id}`;
  const source = (raw.KinesisStreamSourceConfiguration as { KinesisStreamARN?: unknown } | undefined)
    ?.KinesisStreamARN;
  const rawS3 = raw.ExtendedS3DestinationConfiguration as Record<string, unknown> | undefined;
  const s3 = props.ExtendedS3DestinationConfiguration as Record<string, unknown> | undefined;
  const sourceStreamLogicalId = resolver.referencedId(source);
  const bucketLogicalId = resolver.referencedId(rawS3?.BucketARN);
  if (!sourceStreamLogicalId || !s3 || !rawS3 || !bucketLogicalId) {
    throw new TemplateError(
      `${where}: the local Firehose delivers a Kinesis stream of the template to an S3 bucket of the template (ExtendedS3DestinationConfiguration)`,
    );
  }
  const conversion = rawS3.DataFormatConversionConfiguration as
    | { Enabled?: boolean; SchemaConfiguration?: { TableName?: unknown } }
    | undefined;
  const glueTable = resolver.referencedId(conversion?.SchemaConfiguration?.TableName);
  const tableName = glueTable ? resolver.name(glueTable) : undefined;
  if (
    !conversion?.Enabled ||
    !TABLE_NAMES.includes(tableName as LakeTableName) ||
    tableName === 'raw_events'
  ) {
    throw new TemplateError(
      `${where}: the local Firehose writes Parquet converted with one of the lake's Glue tables (core/tables.ts), got ${tableName ?? 'no conversion'}`,
    );
  }
  const prefix = String(s3.Prefix ?? '');
  const errorOutputPrefix = String(s3.ErrorOutputPrefix ?? '');
  const partition = partitionOfQuery(s3.ProcessingConfiguration, prefix, where);
  for (const text of [prefix, errorOutputPrefix]) {
    const placeholders = text.match(/!\{[^}]*\}/g) ?? [];
    const known = [
      `!{partitionKeyFromQuery:${partition.key}}`,
      '!{firehose:error-output-type}',
      '!{timestamp:yyyy/MM/dd}',
    ];
    const unknown = placeholders.find((p) => !known.includes(p));
    if (unknown)
      throw new TemplateError(`${where}: the local Firehose cannot expand ${unknown} in "${text}"`);
  }
  const hints = (s3.BufferingHints ?? {}) as { IntervalInSeconds?: unknown; SizeInMBs?: unknown };
  return {
    ...named(resolver, id),
    sourceStreamLogicalId,
    bucketLogicalId,
    table: tableName as LakeTableName,
    prefix,
    errorOutputPrefix,
    partitionField: partition.field,
    fileExtension: String(s3.FileExtension ?? ''),
    // Firehose's defaults when the hints are absent: 300 s and 5 MiB.
    bufferingSeconds: integer(hints.IntervalInSeconds ?? 300, `${where} IntervalInSeconds`),
    bufferingMiB: integer(hints.SizeInMBs ?? 5, `${where} SizeInMBs`),
  };
}

/** Dynamic partitioning by a JQ query of the one form the local Firehose evaluates: `{key: .field[0:10]}`. */
function partitionOfQuery(
  processing: unknown,
  prefix: string,
  where: string,
): { key: string; field: string } {
  const processors = ((processing as { Processors?: unknown[] } | undefined)?.Processors ?? []) as Array<{
    Type?: string;
    Parameters?: Array<{ ParameterName: string; ParameterValue: string }>;
  }>;
  const query = processors
    .find((p) => p.Type === 'MetadataExtraction')
    ?.Parameters?.find((p) => p.ParameterName === 'MetadataExtractionQuery')?.ParameterValue;
  const match = query ? /^\{\s*(\w+)\s*:\s*\.(\w+)\[0:10\]\s*\}$/.exec(query) : null;
  if (!match?.[1] || !match[2] || !prefix.includes(`!{partitionKeyFromQuery:${match[1]}}`)) {
    throw new TemplateError(
      `${where}: the local Firehose partitions by a query of the form {key: .field[0:10]} used in the prefix, got ${query ?? 'none'}`,
    );
  }
  return { key: match[1], field: match[2] };
}

function integer(value: unknown, where: string): number {
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) {
    throw new TemplateError(`${where} must be an integer, got ${JSON.stringify(value)}`);
  }
  return number;
}
