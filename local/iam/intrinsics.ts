/**
 * Resolves the CloudFormation intrinsics the CDK writes into a synthesized template (Ref, Fn::GetAtt,
 * Fn::Join, Fn::Sub, Fn::Select, Fn::Split and the pseudo parameters) to concrete values, so policy
 * documents and function environments can be compared with the ARNs a call touches.
 *
 * Physical names CloudFormation would generate come from a `NameResolver` the caller passes (the
 * logical id itself, or the local stack's names); a name the template sets explicitly wins, as it does
 * in CloudFormation. What cannot be resolved is an error naming it, never a guess.
 */
import { type AwsEnvironment, arns } from './arns.ts';

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

export interface CfnTemplate {
  Resources: Record<string, TemplateResource>;
  Parameters?: Record<string, { Default?: unknown }>;
  Conditions?: Record<string, unknown>;
}

/** The physical name CloudFormation would give a resource that does not name itself. */
export type NameResolver = (logicalId: string, resource: TemplateResource) => string;

export class TemplateResolveError extends Error {
  override name = 'TemplateResolveError';
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

export interface TemplateResolver {
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
  resource(logicalId: string): TemplateResource;
}

export function createTemplateResolver(
  template: CfnTemplate,
  options: { env: AwsEnvironment; names: NameResolver; stackName?: string },
): TemplateResolver {
  const { env } = options;
  const resource = (logicalId: string) => {
    const found = template.Resources[logicalId];
    if (!found) throw new TemplateResolveError(`the template has no resource ${logicalId}`);
    return found;
  };
  const pseudo: Record<string, string> = {
    'AWS::Partition': env.partition,
    'AWS::Region': env.region,
    'AWS::AccountId': env.account,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': options.stackName ?? 'Clickstream',
  };

  function name(logicalId: string): string {
    const found = resource(logicalId);
    const explicit = NAME_PROPERTIES[found.Type]?.reduce<unknown>(
      (value, key) => (value as Record<string, unknown> | undefined)?.[key],
      found.Properties,
    );
    return explicit !== undefined
      ? string(explicit, `name of ${logicalId}`)
      : options.names(logicalId, found);
  }

  function ref(id: string): string {
    if (pseudo[id] !== undefined) return pseudo[id];
    const parameter = template.Parameters?.[id];
    if (parameter) {
      if (typeof parameter.Default === 'string') return parameter.Default;
      throw new TemplateResolveError(`parameter ${id} has no default to resolve Ref to`);
    }
    const found = resource(id);
    switch (found.Type) {
      case 'AWS::SNS::Topic':
        return arns.snsTopic(env, name(id));
      case 'AWS::SQS::Queue':
        return `https://sqs.${env.region}.amazonaws.com/${env.account}/${name(id)}`;
      case 'AWS::IAM::ManagedPolicy':
        return arns.iamPolicy(env, name(id), policyPath(found));
      default:
        // Most types (streams, tables, buckets, roles, functions, Glue, Athena, log groups, keys) return
        // their name or id.
        return name(id);
    }
  }

  function attribute(id: string, attr: string): string {
    const found = resource(id);
    const n = () => name(id);
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
    if (!get) throw new TemplateResolveError(`Fn::GetAtt ${id}.${attr} (${found.Type}) is not supported`);
    return get();
  }

  function resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const [first] = entries;
    if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
      return intrinsic(first[0], first[1]);
    }
    return Object.fromEntries(entries.map(([key, inner]) => [key, resolve(inner)]));
  }

  function intrinsic(fn: string, args: unknown): unknown {
    switch (fn) {
      case 'Ref':
        return ref(string(args, 'Ref'));
      case 'Fn::GetAtt': {
        const [id, attr] = (typeof args === 'string' ? args.split('.') : (resolve(args) as string[])) ?? [];
        return attribute(String(id), String(attr));
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown];
        return (resolve(parts) as unknown[]).map((part) => string(part, 'Fn::Join part')).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = resolve(args) as [unknown, unknown[]];
        const picked = list[Number(index)];
        if (picked === undefined)
          throw new TemplateResolveError(`Fn::Select index ${String(index)} is out of range`);
        return picked;
      }
      case 'Fn::Split': {
        const [separator, text] = resolve(args) as [string, unknown];
        return string(text, 'Fn::Split').split(separator);
      }
      case 'Fn::Sub':
        return sub(args);
      default:
        throw new TemplateResolveError(
          `${fn} is not supported in an IAM check (value: ${JSON.stringify(args)})`,
        );
    }
  }

  function sub(args: unknown): string {
    const [text, variables] =
      typeof args === 'string' ? [args, {}] : (args as [string, Record<string, unknown>]);
    return text.replace(/\$\{([^}]+)\}/g, (_whole, body: string) => {
      if (body.startsWith('!')) return `\${${body.slice(1)}}`;
      if (variables[body] !== undefined) return string(variables[body], `Fn::Sub variable ${body}`);
      const dot = body.indexOf('.');
      if (dot > 0 && !body.startsWith('AWS::')) return attribute(body.slice(0, dot), body.slice(dot + 1));
      return ref(body);
    });
  }

  function string(value: unknown, what: string): string {
    const resolved = resolve(value);
    if (typeof resolved !== 'string') {
      throw new TemplateResolveError(`${what} resolves to ${JSON.stringify(resolved)}, not a string`);
    }
    return resolved;
  }

  return { resolve, string, ref, attribute, name, resource };
}

function policyPath(resource: TemplateResource): string {
  const path = resource.Properties?.Path;
  return typeof path === 'string' ? path : '/';
}
