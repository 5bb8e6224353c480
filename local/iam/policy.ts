/**
 * The IAM side of a synthesized CloudFormation template: each role's (or customer-managed policy's)
 * statements, the resource-based policies (topic, bucket, queue and key policies), and a decision for
 * a request made as that principal, evaluated as IAM does within one account
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
 *   1. an applicable explicit Deny in any policy refuses;
 *   2. a KMS key is usable only when its key policy allows the caller, or allows the account (which
 *      delegates to IAM) and an identity policy allows it too
 *      (https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html);
 *   3. otherwise an Allow in an identity policy, or a resource policy naming the caller, grants;
 *   4. anything else is an implicit deny.
 */

import { type AwsEnvironment, arns } from '../template/arns.ts';
import { type CfnTemplate, createTemplateResolver, type TemplateResolver } from '../template/intrinsics.ts';
import type { Access, ResourceCatalog } from './actions.ts';
import {
  evaluateStatement,
  type PolicyDocument,
  type PolicyStatement,
  type RequestContext,
  statementsOf,
  type UnevaluatedCondition,
} from './evaluate.ts';

export interface NamedPolicy {
  /** The policy's logical id (or `<role>/<name>` for a role's inline policy). */
  name: string;
  statements: PolicyStatement[];
}

export interface IamPrincipal {
  /** Logical id of the role, or of the customer-managed policy a person holds. */
  logicalId: string;
  /** Matched against resource policies' Principal and aws:PrincipalArn. */
  arn: string;
  /** The identity AWS names in an AccessDenied message (the assumed-role session of a role). */
  sessionArn: string;
  policies: NamedPolicy[];
  /** What the template cannot show: attached AWS-managed policies, a permissions boundary. */
  unknowns: string[];
}

export interface Decision {
  allowed: boolean;
  principal: string;
  action: string;
  resource: string;
  via?: string;
  /** The statement that decided: the Allow that granted it, or the Deny that refused it. */
  statement?: { policy: string; kind: 'identity' | 'resource'; sid?: string };
  /** IAM's words for a refusal: "because no identity-based policy allows the … action". */
  reason?: string;
  /** Conditions (and unknown policies) that could not be evaluated; an honest check has none. */
  unevaluated: Array<UnevaluatedCondition & { policy: string; sid?: string }>;
  message: string;
}

export interface IamModel {
  env: AwsEnvironment;
  resolver: TemplateResolver;
  catalog: ResourceCatalog;
  /** A role by its logical id, or a Lambda function's role by the function's logical id. */
  principal(logicalId: string): IamPrincipal;
  /** A person (user or role `principalArn`) holding one customer-managed policy of the template. */
  holder(managedPolicyLogicalId: string, principalArn: string): IamPrincipal;
  authorize(principal: IamPrincipal, access: Access): Decision;
  /** What the Lambda service does as a function's role: read its event sources, send failed batches. */
  lambdaServiceAccess(functionLogicalId: string): Access[];
}

interface ResourcePolicy extends NamedPolicy {
  type: string;
  covers(resource: string): boolean;
}

export function loadIamModel(
  template: CfnTemplate,
  options: Parameters<typeof createTemplateResolver>[1],
): IamModel {
  const { env } = options;
  const resolver = createTemplateResolver(template, options);
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const document = (value: unknown): PolicyStatement[] =>
    statementsOf(resolver.resolve(value) as PolicyDocument);
  const refsIn = (value: unknown) =>
    (Array.isArray(value) ? value : [value])
      .map((v) => (v as { Ref?: string }).Ref)
      .filter((v) => v !== undefined);
  const resourcePolicies = loadResourcePolicies(template, resolver, env);

  function identityPolicies(kind: 'Roles' | 'Users', logicalId: string): NamedPolicy[] {
    return [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')]
      .filter(([, p]) => refsIn(p.Properties?.[kind] ?? []).includes(logicalId))
      .map(([id, p]) => ({ name: id, statements: document(p.Properties?.PolicyDocument) }));
  }

  function role(logicalId: string, session: string): IamPrincipal {
    const found = resolver.resource(logicalId);
    if (found.Type !== 'AWS::IAM::Role')
      throw new Error(`${logicalId} is a ${found.Type}, not an AWS::IAM::Role`);
    const props = found.Properties ?? {};
    const inline = ((props.Policies ?? []) as Array<{ PolicyName: string; PolicyDocument: unknown }>).map(
      (p) => ({
        name: `${logicalId}/${p.PolicyName}`,
        statements: document(p.PolicyDocument),
      }),
    );
    const managed: NamedPolicy[] = [];
    const unknowns: string[] = [];
    for (const arn of (props.ManagedPolicyArns ?? []) as unknown[]) {
      const [id] = refsIn(arn);
      if (id && resolver.resource(id).Type === 'AWS::IAM::ManagedPolicy') {
        managed.push({ name: id, statements: document(resolver.resource(id).Properties?.PolicyDocument) });
      } else
        unknowns.push(`managed policy ${resolver.string(arn, 'ManagedPolicyArns')} is not in the template`);
    }
    if (props.PermissionsBoundary !== undefined) unknowns.push('a permissions boundary is not evaluated');
    const attached = identityPolicies('Roles', logicalId).filter(
      (p) => !managed.some((m) => m.name === p.name),
    );
    const name = resolver.name(logicalId);
    return {
      logicalId,
      arn: resolver.attribute(logicalId, 'Arn'),
      sessionArn: arns.assumedRole(env, name, session),
      policies: [...inline, ...managed, ...attached],
      unknowns,
    };
  }

  return {
    env,
    resolver,
    catalog: templateCatalog(template, resolver, env),
    principal(logicalId) {
      const found = resolver.resource(logicalId);
      if (found.Type !== 'AWS::Lambda::Function') return role(logicalId, 'session');
      const [roleId] = (found.Properties?.Role as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt'] ?? [];
      if (!roleId) throw new Error(`function ${logicalId} has no role of this template`);
      return role(roleId, resolver.name(logicalId));
    },
    holder(policyId, principalArn) {
      const found = resolver.resource(policyId);
      if (found.Type !== 'AWS::IAM::ManagedPolicy')
        throw new Error(`${policyId} is not an AWS::IAM::ManagedPolicy`);
      return {
        logicalId: policyId,
        arn: principalArn,
        sessionArn: principalArn,
        policies: [{ name: policyId, statements: document(found.Properties?.PolicyDocument) }],
        unknowns: [],
      };
    },
    authorize: (principal, access) => authorize(env, principal, access, resourcePolicies),
    lambdaServiceAccess: (functionId) => lambdaServiceAccess(template, resolver, functionId),
  };
}

function loadResourcePolicies(
  template: CfnTemplate,
  resolver: TemplateResolver,
  env: AwsEnvironment,
): ResourcePolicy[] {
  const policies: ResourcePolicy[] = [];
  const doc = (value: unknown) => statementsOf(resolver.resolve(value) as PolicyDocument);
  const asList = (value: unknown) => (Array.isArray(value) ? value : [value]);
  for (const [id, resource] of Object.entries(template.Resources)) {
    const props = resource.Properties ?? {};
    const add = (document: unknown, covers: (arn: string) => boolean) =>
      policies.push({ name: id, type: resource.Type, statements: doc(document), covers });
    switch (resource.Type) {
      case 'AWS::SNS::TopicPolicy': {
        const topics = asList(props.Topics).map((t) => resolver.string(t, `${id} topic`));
        add(props.PolicyDocument, (arn) => topics.includes(arn));
        break;
      }
      case 'AWS::S3::BucketPolicy': {
        const bucket = arns.s3Bucket(env, resolver.string(props.Bucket, `${id} bucket`));
        add(props.PolicyDocument, (arn) => arn === bucket || arn.startsWith(`${bucket}/`));
        break;
      }
      case 'AWS::SQS::QueuePolicy': {
        const queues = asList(props.Queues).map((q) => {
          const url = resolver.string(q, `${id} queue`);
          return arns.sqsQueue(env, url.slice(url.lastIndexOf('/') + 1));
        });
        add(props.PolicyDocument, (arn) => queues.includes(arn));
        break;
      }
      case 'AWS::KMS::Key': {
        const key = resolver.attribute(id, 'Arn');
        if (props.KeyPolicy !== undefined) add(props.KeyPolicy, (arn) => arn === key);
        break;
      }
    }
  }
  return policies;
}

interface Verdict {
  allow?: Decision['statement'];
  deny?: Decision['statement'];
  /** A resource-policy Allow naming the caller's account: IAM policies decide. */
  delegates?: Decision['statement'];
  unevaluated: Decision['unevaluated'];
}

function judge(
  policies: NamedPolicy[],
  kind: 'identity' | 'resource',
  access: Access,
  context: RequestContext,
): Verdict {
  const verdict: Verdict = { unevaluated: [] };
  for (const policy of policies) {
    for (const statement of policy.statements) {
      const result = evaluateStatement(statement, {
        action: access.action,
        resource: access.resource,
        context,
        resourcePolicy: kind === 'resource',
      });
      const at = { policy: policy.name, kind, ...(statement.Sid ? { sid: statement.Sid } : {}) };
      for (const condition of result.unevaluated) verdict.unevaluated.push({ ...condition, ...at });
      const deny = statement.Effect === 'Deny';
      if (deny && (result.applies || result.undecided)) verdict.deny ??= at;
      else if (!deny && result.applies && result.principal === 'account') verdict.delegates ??= at;
      else if (!deny && result.applies) verdict.allow ??= at;
    }
  }
  return verdict;
}

function authorize(
  env: AwsEnvironment,
  principal: IamPrincipal,
  access: Access,
  resourcePolicies: ResourcePolicy[],
): Decision {
  const context: RequestContext = {
    principalArn: principal.arn,
    sessionArn: principal.sessionArn,
    account: env.account,
    partition: env.partition,
    keys: {
      // The SDK always calls over TLS.
      'aws:SecureTransport': 'true',
      'aws:PrincipalArn': principal.arn,
      'aws:PrincipalAccount': env.account,
      'aws:RequestedRegion': env.region,
      // Set only when a service calls with its own service principal, never for these callers.
      'aws:SourceAccount': undefined,
      'aws:SourceArn': undefined,
      'aws:ViaAWSService': access.via ? 'true' : 'false',
      'aws:CalledVia': access.via ? [`${access.via}.amazonaws.com`] : undefined,
      'kms:ViaService': access.via ? `${access.via}.${env.region}.amazonaws.com` : undefined,
      'kms:CallerAccount': env.account,
      ...access.context,
    },
  };
  const governing = resourcePolicies.filter((p) => p.covers(access.resource));
  const identity = judge(principal.policies, 'identity', access, context);
  const resource = judge(governing, 'resource', access, context);
  const isKey = access.action.toLowerCase().startsWith('kms:');
  const unevaluated = [
    ...identity.unevaluated,
    ...resource.unevaluated,
    ...principal.unknowns.map((reason) => ({ operator: '-', key: '-', reason, policy: principal.logicalId })),
    ...(isKey && !governing.some((p) => p.type === 'AWS::KMS::Key')
      ? [
          {
            operator: '-',
            key: '-',
            reason: `the key policy of ${access.resource} is not in the template`,
            policy: '-',
          },
        ]
      : []),
  ];
  const decide = (allowed: boolean, statement: Decision['statement'], reason?: string): Decision => ({
    allowed,
    principal: principal.sessionArn,
    action: access.action,
    resource: access.resource,
    ...(access.via ? { via: access.via } : {}),
    ...(statement ? { statement } : {}),
    ...(reason ? { reason } : {}),
    unevaluated,
    message: allowed
      ? `${principal.sessionArn} may perform ${access.action} on ${access.resource}`
      : `User: ${principal.sessionArn} is not authorized to perform: ${access.action} on resource: ${access.resource} ${reason}`,
  });
  const deny = identity.deny ?? resource.deny;
  if (deny)
    return decide(
      false,
      deny,
      `with an explicit deny in a${deny.kind === 'identity' ? 'n identity' : ' resource'}-based policy`,
    );
  if (isKey) {
    if (resource.allow) return decide(true, resource.allow);
    if (resource.delegates && identity.allow) return decide(true, identity.allow);
    return resource.delegates
      ? decide(false, undefined, `because no identity-based policy allows the ${access.action} action`)
      : decide(false, undefined, `because no resource-based policy allows the ${access.action} action`);
  }
  if (identity.allow) return decide(true, identity.allow);
  if (resource.allow) return decide(true, resource.allow);
  return decide(false, undefined, `because no identity-based policy allows the ${access.action} action`);
}

/** What the template says the local check cannot read from a call's input. */
function templateCatalog(
  template: CfnTemplate,
  resolver: TemplateResolver,
  env: AwsEnvironment,
): ResourceCatalog {
  const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  return {
    topicKey(topicArn) {
      const topic = ofType('AWS::SNS::Topic').find(([id]) => resolver.ref(id) === topicArn);
      const keyId = topic?.[1].Properties?.KmsMasterKeyId;
      if (keyId === undefined) return undefined;
      const key = resolver.string(keyId, `KmsMasterKeyId of ${topicArn}`);
      // An AWS-managed key (alias/aws/sns) lets every principal of the account use it through SNS.
      if (key.startsWith('alias/aws/')) return undefined;
      return key.startsWith('arn:') ? key : arns.kmsKey(env, key);
    },
    glueTables(database) {
      const known = ofType('AWS::Glue::Database').some(([id]) => resolver.name(id) === database);
      if (!known) return undefined;
      return ofType('AWS::Glue::Table')
        .filter(([, t]) => resolver.string(t.Properties?.DatabaseName, 'Glue table database') === database)
        .map(([id, t]) => {
          const location = (t.Properties?.TableInput as { StorageDescriptor?: { Location?: unknown } })
            ?.StorageDescriptor?.Location;
          return {
            name: resolver.name(id),
            ...(location !== undefined ? { location: resolver.string(location, `location of ${id}`) } : {}),
          };
        });
    },
    workgroup(name) {
      const found = ofType('AWS::Athena::WorkGroup').find(([id]) => resolver.name(id) === name);
      if (!found) return undefined;
      const config = (resolver.resolve(found[1].Properties?.WorkGroupConfiguration) ?? {}) as {
        EnforceWorkGroupConfiguration?: boolean;
        ResultConfiguration?: { OutputLocation?: string };
      };
      const outputLocation = config.ResultConfiguration?.OutputLocation;
      return {
        enforced: config.EnforceWorkGroupConfiguration === true,
        ...(outputLocation ? { outputLocation } : {}),
      };
    },
  };
}

/**
 * The Lambda service reads a Kinesis event source and sends failed batches to the on-failure queue with
 * the function's role (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html and
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
 */
function lambdaServiceAccess(
  template: CfnTemplate,
  resolver: TemplateResolver,
  functionId: string,
): Access[] {
  const accesses: Access[] = [];
  for (const [, mapping] of Object.entries(template.Resources).filter(
    ([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping',
  )) {
    const props = mapping.Properties ?? {};
    if ((props.FunctionName as { Ref?: string })?.Ref !== functionId) continue;
    const source = resolver.string(props.EventSourceArn, 'EventSourceArn');
    if (!source.includes(':kinesis:')) throw new Error(`event source ${source} is not a Kinesis stream`);
    for (const action of [
      'DescribeStream',
      'DescribeStreamSummary',
      'GetRecords',
      'GetShardIterator',
      'ListShards',
    ]) {
      accesses.push({ action: `kinesis:${action}`, resource: source });
    }
    const destination = (props.DestinationConfig as { OnFailure?: { Destination?: unknown } })?.OnFailure
      ?.Destination;
    if (destination !== undefined) {
      const arn = resolver.string(destination, 'on-failure destination');
      if (!arn.includes(':sqs:')) throw new Error(`on-failure destination ${arn} is not an SQS queue`);
      accesses.push({ action: 'sqs:SendMessage', resource: arn });
    }
  }
  return accesses;
}
