/**
 * CloudFormation intrinsics resolved against local names: `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
 * `Fn::Select`, `Fn::Split` and the pseudo parameters, with each resource's local physical name and
 * ARN in the local account. The local configuration (local/template.ts) reads the template through it;
 * so can any other reader of the same template (policies name their resources the same way).
 */
import { LOCAL_REGION } from '../adapters/clients.ts';
import {
  DEFAULT_RESOURCE_NAMES,
  LOCAL_ACCOUNT_ID,
  localResourceName,
  type ResourceNames,
} from '../core/resources.ts';

export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  [section: string]: unknown;
}

export interface LocalNamed {
  logicalId: string;
  name: string;
  arn: string;
}

/** What `Ref` returns per resource type, the property that names it explicitly, and its ARN. */
interface ResourceKind {
  ref: 'name' | 'arn' | 'url';
  nameProperty?: string;
  arn: (name: string, region: string, account: string) => string;
}

const KINDS: Record<string, ResourceKind> = {
  'AWS::Kinesis::Stream': {
    ref: 'name',
    nameProperty: 'Name',
    arn: (n, r, a) => `arn:aws:kinesis:${r}:${a}:stream/${n}`,
  },
  'AWS::DynamoDB::Table': {
    ref: 'name',
    nameProperty: 'TableName',
    arn: (n, r, a) => `arn:aws:dynamodb:${r}:${a}:table/${n}`,
  },
  'AWS::DynamoDB::GlobalTable': {
    ref: 'name',
    nameProperty: 'TableName',
    arn: (n, r, a) => `arn:aws:dynamodb:${r}:${a}:table/${n}`,
  },
  'AWS::S3::Bucket': { ref: 'name', nameProperty: 'BucketName', arn: (n) => `arn:aws:s3:::${n}` },
  'AWS::SNS::Topic': {
    ref: 'arn',
    nameProperty: 'TopicName',
    arn: (n, r, a) => `arn:aws:sns:${r}:${a}:${n}`,
  },
  'AWS::SQS::Queue': {
    ref: 'url',
    nameProperty: 'QueueName',
    arn: (n, r, a) => `arn:aws:sqs:${r}:${a}:${n}`,
  },
  'AWS::Lambda::Function': {
    ref: 'name',
    nameProperty: 'FunctionName',
    arn: (n, r, a) => `arn:aws:lambda:${r}:${a}:function:${n}`,
  },
  'AWS::IAM::Role': {
    ref: 'name',
    nameProperty: 'RoleName',
    arn: (n, _r, a) => `arn:aws:iam::${a}:role/${n}`,
  },
  'AWS::KinesisFirehose::DeliveryStream': {
    ref: 'name',
    nameProperty: 'DeliveryStreamName',
    arn: (n, r, a) => `arn:aws:firehose:${r}:${a}:deliverystream/${n}`,
  },
  'AWS::Athena::WorkGroup': {
    ref: 'name',
    nameProperty: 'Name',
    arn: (n, r, a) => `arn:aws:athena:${r}:${a}:workgroup/${n}`,
  },
  'AWS::Glue::Database': {
    ref: 'name',
    nameProperty: 'DatabaseInput.Name',
    arn: (n, r, a) => `arn:aws:glue:${r}:${a}:database/${n}`,
  },
  'AWS::Glue::Table': {
    ref: 'name',
    nameProperty: 'TableInput.Name',
    arn: (n, r, a) => `arn:aws:glue:${r}:${a}:table/${n}`,
  },
  'AWS::KMS::Key': { ref: 'name', arn: (n, r, a) => `arn:aws:kms:${r}:${a}:key/${n}` },
  'AWS::Logs::LogGroup': {
    ref: 'name',
    nameProperty: 'LogGroupName',
    arn: (n, r, a) => `arn:aws:logs:${r}:${a}:log-group:${n}:*`,
  },
};

const PSEUDO: Record<string, string> = {
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT_ID,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'clickstream',
};

/** `Ref: AWS::NoValue` removes the property or list item it stands for. */
const NO_VALUE = Symbol('AWS::NoValue');

/** Marks a resolved `Ref` inside a string, so the ClickstreamConfig output shows which resource plays which role. */
const REF_MARK = '\u0000ref:';

/**
 * Resolves the template's intrinsic functions against local names. Exported for the other readers of the
 * same template (the local IAM evaluation resolves policy resources with it).
 */
export class TemplateResolver {
  private readonly roles = new Map<string, keyof ResourceNames>();
  private readonly literalNames: Partial<ResourceNames> = {};
  private readonly nameCache = new Map<string, string>();

  /**
   * @param overrides names for the ResourceNames roles (config file, environment)
   * @param nameHint a local name for a resource that plays no role and has no explicit name
   */
  constructor(
    readonly template: CfnTemplate,
    private readonly overrides: Partial<ResourceNames> = {},
    private readonly nameHint: (id: string, resource: CfnResource) => string | undefined = () => undefined,
  ) {
    this.readRoles();
  }

  resource(id: string): CfnResource {
    const resource = this.template.Resources[id];
    if (!resource) throw new TemplateError(`the template refers to ${id}, which it does not define`);
    return resource;
  }

  /** The resource's properties with every intrinsic resolved. */
  properties(id: string): Record<string, unknown> {
    return (this.resolve(this.resource(id).Properties ?? {}, id) ?? {}) as Record<string, unknown>;
  }

  named(id: string): LocalNamed {
    return { logicalId: id, name: this.nameOf(id), arn: this.arnOf(id) };
  }

  nameOf(id: string): string {
    const cached = this.nameCache.get(id);
    if (cached) return cached;
    const resource = this.resource(id);
    const role = this.roles.get(id);
    const explicit = explicitName(resource);
    const name =
      (role && this.overrides[role]) ??
      (explicit !== undefined ? String(this.resolve(explicit, id)) : undefined) ??
      (role ? DEFAULT_RESOURCE_NAMES[role] : undefined) ??
      this.nameHint(id, resource) ??
      localResourceName(id);
    this.nameCache.set(id, name);
    return name;
  }

  arnOf(id: string): string {
    const kind = KINDS[this.resource(id).Type];
    const name = this.nameOf(id);
    if (kind) return kind.arn(name, LOCAL_REGION, LOCAL_ACCOUNT_ID);
    const service = this.resource(id).Type.split('::')[1]?.toLowerCase() ?? 'unknown';
    return `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${name}`;
  }

  /** The logical id a `Ref` / `Fn::GetAtt` (or a literal logical id) points at, if any. */
  referencedId(value: unknown): string | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === 'string' && ref in this.template.Resources) return ref;
    const getAtt = (value as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
    const target = Array.isArray(getAtt)
      ? getAtt[0]
      : typeof getAtt === 'string'
        ? getAtt.split('.')[0]
        : undefined;
    return typeof target === 'string' && target in this.template.Resources ? target : undefined;
  }

  /** The names commands use: each role's resource as named locally. */
  names(): ResourceNames {
    const names = { ...this.literalNames } as Partial<ResourceNames>;
    for (const [id, role] of this.roles) names[role] = this.nameOf(id);
    for (const role of Object.keys(DEFAULT_RESOURCE_NAMES) as Array<keyof ResourceNames>) {
      if (this.overrides[role]) names[role] = this.overrides[role];
      if (names[role] === undefined) {
        throw new TemplateError(
          `the template's ClickstreamConfig output names no ${role}`,
          'synthesize the CDK app in infra/ (its stack outputs ClickstreamConfig)',
        );
      }
    }
    return names as ResourceNames;
  }

  resolve(value: unknown, where: string, markRefs = false): unknown {
    if (Array.isArray(value))
      return value.map((v) => this.resolve(v, where, markRefs)).filter((v) => v !== NO_VALUE);
    if (typeof value !== 'object' || value === null) return value;
    const entries = Object.entries(value);
    const [fn, arg] = entries[0] ?? [];
    if (entries.length === 1 && fn !== undefined && (fn === 'Ref' || fn.startsWith('Fn::'))) {
      return this.intrinsic(fn, arg, where, markRefs);
    }
    return Object.fromEntries(
      entries
        .map(([k, v]) => [k, this.resolve(v, where, markRefs)] as const)
        .filter(([, v]) => v !== NO_VALUE),
    );
  }

  private intrinsic(fn: string, arg: unknown, where: string, markRefs: boolean): unknown {
    const resolved = () => this.resolve(arg, where, markRefs);
    switch (fn) {
      case 'Ref':
        return this.ref(String(arg), markRefs);
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
        return this.getAtt(String(id), String(attribute), where);
      }
      case 'Fn::Join': {
        const [separator, parts] = resolved() as [string, unknown[]];
        return parts.map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = resolved() as [number | string, unknown[]];
        return list[Number(index)];
      }
      case 'Fn::Split': {
        const [separator, text] = resolved() as [string, string];
        return text.split(separator);
      }
      case 'Fn::Sub': {
        const [text, variables] = Array.isArray(arg)
          ? (arg as [string, Record<string, unknown>])
          : [String(arg), {}];
        return text.replace(/\$\{([^}!][^}]*)\}/g, (_all, name: string) => {
          if (name in variables) return String(this.resolve(variables[name], where, markRefs));
          const [id, attribute] = name.split('.');
          return String(attribute ? this.getAtt(String(id), attribute, where) : this.ref(name, markRefs));
        });
      }
      default:
        throw new TemplateError(`${where}: ${fn} is not an intrinsic function the local stack resolves`);
    }
  }

  private ref(id: string, markRefs: boolean): string | typeof NO_VALUE {
    if (id === 'AWS::NoValue') return NO_VALUE;
    if (id in PSEUDO) return PSEUDO[id] as string;
    if (markRefs) return `${REF_MARK}${id}\u0000`;
    const kind = KINDS[this.resource(id).Type];
    if (kind?.ref === 'arn') return this.arnOf(id);
    if (kind?.ref === 'url')
      return `http://sqs.${LOCAL_REGION}.localhost/${LOCAL_ACCOUNT_ID}/${this.nameOf(id)}`;
    return this.nameOf(id);
  }

  private getAtt(id: string, attribute: string, where: string): string {
    if (attribute === 'Arn' || attribute.endsWith('Arn')) return this.arnOf(id);
    if (attribute.endsWith('Name')) return this.nameOf(id);
    throw new TemplateError(`${where}: Fn::GetAtt ${id}.${attribute} has no local value`);
  }

  /** Reads the ClickstreamConfig output: which logical id plays which role, and the literal names. */
  private readRoles(): void {
    const output = this.template.Outputs?.ClickstreamConfig?.Value;
    if (output === undefined) return;
    const text = this.resolve(output, 'output ClickstreamConfig', true);
    let parsed: { names?: Record<string, string> };
    try {
      parsed = JSON.parse(String(text).replaceAll('\u0000', '\\u0000'));
    } catch (error) {
      throw new TemplateError('the ClickstreamConfig output is not JSON', undefined, { cause: error });
    }
    for (const [role, value] of Object.entries(parsed.names ?? {})) {
      if (!(role in DEFAULT_RESOURCE_NAMES)) continue;
      const ref = new RegExp(`^${REF_MARK}([^\\u0000]+)\\u0000$`).exec(value);
      if (ref?.[1]) this.roles.set(ref[1], role as keyof ResourceNames);
      else this.literalNames[role as keyof ResourceNames] = value;
    }
  }
}

function explicitName(resource: CfnResource): unknown {
  const path = KINDS[resource.Type]?.nameProperty;
  if (!path) return undefined;
  let value: unknown = resource.Properties;
  for (const key of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}
