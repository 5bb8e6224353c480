/**
 * Resolves the CloudFormation intrinsics the CDK writes into a synthesized template (Ref, Fn::GetAtt,
 * Fn::Join, Fn::Sub, Fn::Select, Fn::Split, the pseudo parameters and AWS::NoValue) to concrete
 * values. The one resolver of the project: the local stack reads its configuration through it
 * (local/template.ts: each function's environment pointing at the local resources), and the
 * permissions contract compares policy documents with the ARNs a call touches (local/iam/policy.ts).
 *
 * Physical names CloudFormation would generate come from a `NameResolver` the caller passes (the
 * logical id itself, or the local stack's names); a name the template sets explicitly wins, as it does
 * in CloudFormation, unless the caller overrides it. What cannot be resolved is an error naming it,
 * never a guess.
 */
import { ClickstreamError } from '../../core/errors.ts';
import { type AwsEnvironment, arns } from './arns.ts';

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
}

export interface CfnTemplate {
  Resources: Record<string, TemplateResource>;
  Parameters?: Record<string, { Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

/** The physical name CloudFormation would give a resource that does not name itself. */
export type NameResolver = (logicalId: string, resource: TemplateResource) => string;

/** A template that cannot be read or resolved: an expected failure, with a hint when there is one. */
export class TemplateError extends ClickstreamError {
  override name = 'TemplateError';
}

/** Where each resource type keeps the name it sets for itself. */
const NAME_PROPERTIES: Record<string, string[]> = {
  'AWS::Kinesis::Stream': ['Name'],
  'AWS::DynamoDB::Table': ['TableName'],
  'AWS::DynamoDB::GlobalTable': ['TableName'],
  'AWS::S3::Bucket': ['BucketName'],
  'AWS::SNS::Topic': ['TopicName'],
  'AWS::SQS::Queue': ['QueueName'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::IAM::Role': ['RoleName'],
  'AWS::IAM::ManagedPolicy': ['ManagedPolicyName'],
  'AWS::IAM::Policy': ['PolicyName'],
  'AWS::Lambda::Function': ['FunctionName'],
  'AWS::Glue::Database': ['DatabaseInput', 'Name'],
  'AWS::Glue::Table': ['TableInput', 'Name'],
  'AWS::Athena::WorkGroup': ['Name'],
  'AWS::KinesisFirehose::DeliveryStream': ['DeliveryStreamName'],
  'AWS::CloudWatch::Alarm': ['AlarmName'],
};

/** The attribute that holds a resource's own ARN, where it is not `Arn`. */
const ARN_ATTRIBUTES: Record<string, string> = { 'AWS::SNS::Topic': 'TopicArn' };

/** `Ref: AWS::NoValue` removes the property or list item it stands for. */
const NO_VALUE = Symbol('AWS::NoValue');

export interface TemplateResolver {
  readonly template: CfnTemplate;
  /** The value with every intrinsic in it replaced. */
  resolve(value: unknown): unknown;
  /** As resolve, for a value that must end up a string. */
  string(value: unknown, what: string): string;
  /** What `Ref` returns for a resource (name, ARN, URL or id, by type). */
  ref(logicalId: string): string;
  /** What `Fn::GetAtt` returns. */
  attribute(logicalId: string, attribute: string): string;
  /** The resource's physical name. */
  name(logicalId: string): string;
  /** The resource's own ARN (its `Arn` attribute, or `TopicArn` for a topic). */
  arn(logicalId: string): string;
  resource(logicalId: string): TemplateResource;
  /** The resource's properties with every intrinsic resolved; an error names the resource. */
  properties(logicalId: string): Record<string, unknown>;
  /** The logical id a `Ref` or `Fn::GetAtt` points at, if `value` is one to a resource of the template. */
  referencedId(value: unknown): string | undefined;
}

/** What the resolution of one template works with: the template, where it is deployed, how names are made. */
interface ResolverScope {
  template: CfnTemplate;
  env: AwsEnvironment;
  names: NameResolver;
  overrides: ((logicalId: string) => string | undefined) | undefined;
  /** The pseudo parameters' values. */
  pseudo: Record<string, string>;
}

export function createTemplateResolver(
  template: CfnTemplate,
  options: {
    env: AwsEnvironment;
    names: NameResolver;
    stackName?: string;
    /** Names that win even over a name the template sets (the local stack's names from a config file). */
    overrides?: (logicalId: string) => string | undefined;
  },
): TemplateResolver {
  const { env } = options;
  const scope: ResolverScope = {
    template,
    env,
    names: options.names,
    overrides: options.overrides,
    pseudo: {
      'AWS::Partition': env.partition,
      'AWS::Region': env.region,
      'AWS::AccountId': env.account,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': options.stackName ?? 'Clickstream',
    },
  };
  return {
    template,
    resolve: (value) => resolve(scope, value),
    string: (value, what) => string(scope, value, what),
    ref: (logicalId) => ref(scope, logicalId),
    attribute: (logicalId, attr) => attribute(scope, logicalId, attr),
    name: (logicalId) => name(scope, logicalId),
    arn: (logicalId) => attribute(scope, logicalId, ARN_ATTRIBUTES[resource(scope, logicalId).Type] ?? 'Arn'),
    resource: (logicalId) => resource(scope, logicalId),
    properties: (logicalId) => properties(scope, logicalId),
    referencedId: (value) => referencedId(template, value),
  };
}

function resource({ template }: ResolverScope, logicalId: string): TemplateResource {
  const found = template.Resources[logicalId];
  if (!found) throw new TemplateError(`the template has no resource ${logicalId}`);
  return found;
}

function name(scope: ResolverScope, logicalId: string): string {
  const found = resource(scope, logicalId);
  const override = scope.overrides?.(logicalId);
  if (override !== undefined) return override;
  const explicit = NAME_PROPERTIES[found.Type]?.reduce<unknown>(
    (value, key) => (value as Record<string, unknown> | undefined)?.[key],
    found.Properties,
  );
  return explicit !== undefined
    ? string(scope, explicit, `name of ${logicalId}`)
    : scope.names(logicalId, found);
}

function ref(scope: ResolverScope, id: string): string {
  const { env, pseudo, template } = scope;
  if (pseudo[id] !== undefined) return pseudo[id];
  const parameter = template.Parameters?.[id];
  if (parameter) {
    if (typeof parameter.Default === 'string') return parameter.Default;
    throw new TemplateError(`parameter ${id} has no default to resolve Ref to`);
  }
  const found = resource(scope, id);
  switch (found.Type) {
    case 'AWS::SNS::Topic':
      return arns.snsTopic(env, name(scope, id));
    case 'AWS::SQS::Queue':
      return `https://sqs.${env.region}.amazonaws.com/${env.account}/${name(scope, id)}`;
    case 'AWS::IAM::ManagedPolicy':
      return arns.iamPolicy(env, name(scope, id), policyPath(found));
    default:
      // Most types (streams, tables, buckets, roles, functions, Glue, Athena, log groups, keys) return
      // their name or id.
      return name(scope, id);
  }
}

function attribute(scope: ResolverScope, id: string, attr: string): string {
  const { env } = scope;
  const found = resource(scope, id);
  const n = () => name(scope, id);
  const byType: Record<string, Record<string, () => string>> = {
    'AWS::Kinesis::Stream': { Arn: () => arns.kinesisStream(env, n()) },
    'AWS::DynamoDB::Table': { Arn: () => arns.dynamoTable(env, n()) },
    'AWS::DynamoDB::GlobalTable': { Arn: () => arns.dynamoTable(env, n()) },
    'AWS::S3::Bucket': { Arn: () => arns.s3Bucket(env, n()) },
    'AWS::SNS::Topic': { TopicArn: () => arns.snsTopic(env, n()), TopicName: n },
    'AWS::SQS::Queue': { Arn: () => arns.sqsQueue(env, n()), QueueName: n },
    'AWS::KMS::Key': { Arn: () => arns.kmsKey(env, n()), KeyId: n },
    'AWS::Logs::LogGroup': { Arn: () => arns.logGroup(env, n()) },
    'AWS::Lambda::Function': { Arn: () => arns.lambdaFunction(env, n()) },
    'AWS::IAM::Role': { Arn: () => arns.iamRole(env, n(), policyPath(found)), RoleId: n },
    'AWS::KinesisFirehose::DeliveryStream': { Arn: () => arns.firehose(env, n()) },
    // The alarm topic's policy names the alarms allowed to publish (aws:SourceArn).
    'AWS::CloudWatch::Alarm': { Arn: () => arns.cloudwatchAlarm(env, n()) },
  };
  const get = byType[found.Type]?.[attr];
  if (!get) throw new TemplateError(`Fn::GetAtt ${id}.${attr} (${found.Type}) is not supported`);
  return get();
}

function resolve(scope: ResolverScope, value: unknown): unknown {
  const resolved = resolveOrDrop(scope, value);
  return resolved === NO_VALUE ? undefined : resolved;
}

function resolveOrDrop(scope: ResolverScope, value: unknown): unknown {
  if (Array.isArray(value))
    return value.map((item) => resolveOrDrop(scope, item)).filter((item) => item !== NO_VALUE);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [first] = entries;
  if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
    if (first[0] === 'Ref' && first[1] === 'AWS::NoValue') return NO_VALUE;
    return intrinsic(scope, first[0], first[1]);
  }
  return Object.fromEntries(
    entries
      .map(([key, inner]) => [key, resolveOrDrop(scope, inner)])
      .filter(([, inner]) => inner !== NO_VALUE),
  );
}

function intrinsic(scope: ResolverScope, fn: string, args: unknown): unknown {
  switch (fn) {
    case 'Ref':
      return ref(scope, string(scope, args, 'Ref'));
    case 'Fn::GetAtt': {
      const [id, attr] =
        (typeof args === 'string' ? args.split('.') : (resolve(scope, args) as string[])) ?? [];
      return attribute(scope, String(id), String(attr));
    }
    case 'Fn::Join': {
      const [separator, parts] = args as [string, unknown];
      return (resolve(scope, parts) as unknown[])
        .map((part) => string(scope, part, 'Fn::Join part'))
        .join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = resolve(scope, args) as [unknown, unknown[]];
      const picked = list[Number(index)];
      if (picked === undefined) throw new TemplateError(`Fn::Select index ${String(index)} is out of range`);
      return picked;
    }
    case 'Fn::Split': {
      const [separator, text] = resolve(scope, args) as [string, unknown];
      return string(scope, text, 'Fn::Split').split(separator);
    }
    case 'Fn::Sub':
      return sub(scope, args);
    default:
      throw new TemplateError(`${fn} is not supported (value: ${JSON.stringify(args)})`);
  }
}

function sub(scope: ResolverScope, args: unknown): string {
  const [text, variables] =
    typeof args === 'string' ? [args, {}] : (args as [string, Record<string, unknown>]);
  return text.replace(/\$\{([^}]+)\}/g, (_whole, body: string) => {
    if (body.startsWith('!')) return `\${${body.slice(1)}}`;
    if (variables[body] !== undefined) return string(scope, variables[body], `Fn::Sub variable ${body}`);
    const dot = body.indexOf('.');
    if (dot > 0 && !body.startsWith('AWS::'))
      return attribute(scope, body.slice(0, dot), body.slice(dot + 1));
    return ref(scope, body);
  });
}

function string(scope: ResolverScope, value: unknown, what: string): string {
  const resolved = resolve(scope, value);
  if (typeof resolved !== 'string') {
    throw new TemplateError(`${what} resolves to ${JSON.stringify(resolved)}, not a string`);
  }
  return resolved;
}

function properties(scope: ResolverScope, id: string): Record<string, unknown> {
  try {
    return (resolve(scope, resource(scope, id).Properties ?? {}) ?? {}) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TemplateError) error.message = `${id}: ${error.message}`;
    throw error;
  }
}

function referencedId(template: CfnTemplate, value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const target = (value as { Ref?: unknown }).Ref;
  const getAtt = (value as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
  const id =
    typeof target === 'string'
      ? target
      : Array.isArray(getAtt)
        ? getAtt[0]
        : typeof getAtt === 'string'
          ? getAtt.split('.')[0]
          : undefined;
  return typeof id === 'string' && id in template.Resources ? id : undefined;
}

function policyPath(resource: TemplateResource): string {
  const path = resource.Properties?.Path;
  return typeof path === 'string' ? path : '/';
}
