/**
 * The IAM evaluator on small hand-written templates: deny wins, wildcards, NotAction/NotResource,
 * resource and key policies, conditions it cannot decide, and the AccessDenied it raises.
 */
import { describe, expect, it } from 'vitest';
import { AccessDeniedError, enforce } from '../../local/iam/denied.ts';
import { globsIntersect, resourceMatches } from '../../local/iam/evaluate.ts';
import { loadIamModel } from '../../local/iam/policy.ts';
import type { AwsEnvironment } from '../../local/template/arns.ts';
import type { CfnTemplate } from '../../local/template/intrinsics.ts';

const env: AwsEnvironment = { partition: 'aws', region: 'eu-west-1', account: '111122223333' };
const byLogicalId = (id: string) => id;
const arn = (service: string, rest: string) => `arn:aws:${service}:eu-west-1:111122223333:${rest}`;
const TABLE = arn('dynamodb', 'table/Totals');
const TOPIC = arn('sns', 'Alerts');
const KEY = arn('kms', 'key/Key');

type Statement = Record<string, unknown>;

/** A template with one role `Fn` whose inline policy holds `statements`, plus a topic, its policy and a key. */
function template(
  statements: Statement[],
  extra: { topicPolicy?: Statement[]; keyPolicy?: Statement[]; resources?: CfnTemplate['Resources'] } = {},
): CfnTemplate {
  return {
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: {} },
      Policy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'inline',
          Roles: [{ Ref: 'Role' }],
          PolicyDocument: { Version: '2012-10-17', Statement: statements },
        },
      },
      Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['Role', 'Arn'] } } },
      Totals: { Type: 'AWS::DynamoDB::GlobalTable', Properties: {} },
      Key: {
        Type: 'AWS::KMS::Key',
        Properties: { KeyPolicy: { Statement: extra.keyPolicy ?? [rootStatement()] } },
      },
      Alerts: { Type: 'AWS::SNS::Topic', Properties: { KmsMasterKeyId: { 'Fn::GetAtt': ['Key', 'Arn'] } } },
      ...(extra.topicPolicy
        ? {
            AlertsPolicy: {
              Type: 'AWS::SNS::TopicPolicy',
              Properties: { Topics: [{ Ref: 'Alerts' }], PolicyDocument: { Statement: extra.topicPolicy } },
            },
          }
        : {}),
      ...extra.resources,
    },
  };
}

function rootStatement(): Statement {
  return {
    Effect: 'Allow',
    Action: 'kms:*',
    Resource: '*',
    Principal: {
      AWS: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']],
      },
    },
  };
}

function decide(statements: Statement[], action: string, resource: string, extra = {}) {
  const model = loadIamModel(template(statements, extra), { env, names: byLogicalId });
  return model.authorize(model.principal('Fn'), { action, resource });
}

describe('identity policies', () => {
  const allowTable = {
    Effect: 'Allow',
    Action: 'dynamodb:GetItem',
    Resource: { 'Fn::GetAtt': ['Totals', 'Arn'] },
  };

  it('allows what an Allow names, refuses the rest with IAM words naming role, action and resource', () => {
    expect(decide([allowTable], 'dynamodb:GetItem', TABLE)).toMatchObject({
      allowed: true,
      statement: { policy: 'Policy', kind: 'identity' },
    });
    const refused = decide([allowTable], 'dynamodb:BatchGetItem', TABLE);
    expect(refused.allowed).toBe(false);
    expect(refused.message).toBe(
      `User: arn:aws:sts::111122223333:assumed-role/Role/Fn is not authorized to perform: dynamodb:BatchGetItem on resource: ${TABLE} because no identity-based policy allows the dynamodb:BatchGetItem action`,
    );
  });

  it('an explicit Deny wins over any Allow', () => {
    const deny = { Sid: 'NoReads', Effect: 'Deny', Action: 'dynamodb:Get*', Resource: '*' };
    const decision = decide([allowTable, deny], 'dynamodb:GetItem', TABLE);
    expect(decision).toMatchObject({ allowed: false, statement: { sid: 'NoReads', kind: 'identity' } });
    expect(decision.message).toMatch(/with an explicit deny in an identity-based policy$/);
  });

  it('actions match case-insensitively with * and ?, within the service prefix', () => {
    const allow = (Action: string) => [{ Effect: 'Allow', Action, Resource: '*' }];
    expect(decide(allow('DynamoDB:getitem'), 'dynamodb:GetItem', TABLE).allowed).toBe(true);
    expect(decide(allow('dynamodb:*Item'), 'dynamodb:BatchGetItem', TABLE).allowed).toBe(true);
    expect(decide(allow('dynamodb:Get*'), 'dynamodb:BatchGetItem', TABLE).allowed).toBe(false);
    expect(decide(allow('dynamodb:?etItem'), 'dynamodb:GetItem', TABLE).allowed).toBe(true);
    expect(decide(allow('kinesis:*'), 'dynamodb:GetItem', TABLE).allowed).toBe(false);
  });

  it('resource wildcards stay inside an ARN segment unless they end it', () => {
    expect(
      resourceMatches('arn:aws:s3:::raw/dead-letter/*', 'arn:aws:s3:::raw/dead-letter/a/b.jsonl', false),
    ).toBe(true);
    expect(resourceMatches('arn:aws:s3:::raw/dead-letter/*', 'arn:aws:s3:::raw/kaggle/a.csv', false)).toBe(
      false,
    );
    expect(resourceMatches('arn:aws:dynamodb:*:*:table/Totals', TABLE, false)).toBe(true);
    expect(resourceMatches('arn:aws:dynamodb:eu-*-1:111122223333:table/Totals', TABLE, false)).toBe(true);
    // `*` in the middle of a segment does not cross a colon.
    expect(resourceMatches('arn:aws:dynamodb:eu*1:table/Totals', TABLE, false)).toBe(false);
    expect(resourceMatches('arn:aws:dynamodb:eu-west-?:111122223333:table/Totals', TABLE, false)).toBe(true);
  });

  it('a request for every object under a prefix needs an Allow covering all of it; a Deny on part of it refuses', () => {
    const all = 'arn:aws:s3:::lake/events/*';
    expect(resourceMatches('arn:aws:s3:::lake/*', all, false)).toBe(true);
    expect(resourceMatches('arn:aws:s3:::lake/events/dt=*/part.parquet', all, false)).toBe(false);
    expect(resourceMatches('arn:aws:s3:::lake/events/dt=2019-10-01/*', all, false)).toBe(false);
    expect(resourceMatches('arn:aws:s3:::lake/events/dt=2019-10-01/*', all, true)).toBe(true);
    expect(globsIntersect('a*c', 'ab*')).toBe(true);
    expect(globsIntersect('a*c', 'b*')).toBe(false);
    const statements = [
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::lake/*' },
      { Effect: 'Deny', Action: 's3:GetObject', Resource: 'arn:aws:s3:::lake/events/private/*' },
    ];
    expect(decide(statements, 's3:GetObject', all).allowed).toBe(false);
    expect(decide(statements, 's3:GetObject', 'arn:aws:s3:::lake/user_activity/*').allowed).toBe(true);
  });

  it('NotAction and NotResource allow everything but what they list', () => {
    const notAction = [{ Effect: 'Allow', NotAction: ['iam:*', 'kms:*'], Resource: '*' }];
    expect(decide(notAction, 's3:GetObject', 'arn:aws:s3:::raw/a').allowed).toBe(true);
    expect(decide(notAction, 'iam:PassRole', arn('iam', 'role/x')).allowed).toBe(false);
    const notResource = [{ Effect: 'Allow', Action: 's3:GetObject', NotResource: 'arn:aws:s3:::secret/*' }];
    expect(decide(notResource, 's3:GetObject', 'arn:aws:s3:::raw/a').allowed).toBe(true);
    expect(decide(notResource, 's3:GetObject', 'arn:aws:s3:::secret/a').allowed).toBe(false);
  });
});

describe('conditions', () => {
  it('evaluates the keys it knows, with IAM rules for absent keys', () => {
    const tls = {
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    };
    const allow = { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE };
    const decision = decide([allow, tls], 'dynamodb:GetItem', TABLE);
    expect(decision).toMatchObject({ allowed: true, unevaluated: [] });
    // aws:SourceAccount is absent for a role's own call: a positive test fails, a negated one passes.
    const onlyFromAccount = {
      ...allow,
      Condition: { StringEquals: { 'aws:SourceAccount': '111122223333' } },
    };
    expect(decide([onlyFromAccount], 'dynamodb:GetItem', TABLE).allowed).toBe(false);
    const notOther = { ...allow, Condition: { StringNotEquals: { 'aws:SourceAccount': '999999999999' } } };
    expect(decide([notOther], 'dynamodb:GetItem', TABLE).allowed).toBe(true);
    const ifExists = {
      ...allow,
      Condition: { StringEqualsIfExists: { 'aws:SourceAccount': '999999999999' } },
    };
    expect(decide([ifExists], 'dynamodb:GetItem', TABLE).allowed).toBe(true);
    const isNull = { ...allow, Condition: { Null: { 'aws:SourceArn': 'true' } } };
    expect(decide([isNull], 'dynamodb:GetItem', TABLE).allowed).toBe(true);
    const region = { ...allow, Condition: { StringLike: { 'aws:RequestedRegion': 'us-*' } } };
    expect(decide([region], 'dynamodb:GetItem', TABLE).allowed).toBe(false);
  });

  it('reports a condition it cannot decide: an Allow then grants nothing, a Deny refuses', () => {
    const tagged = {
      Sid: 'TeamOnly',
      Effect: 'Allow',
      Action: 'dynamodb:GetItem',
      Resource: TABLE,
      Condition: { StringEquals: { 'aws:ResourceTag/team': 'data' } },
    };
    const allowed = decide([tagged], 'dynamodb:GetItem', TABLE);
    expect(allowed.allowed).toBe(false);
    expect(allowed.unevaluated).toEqual([
      {
        operator: 'StringEquals',
        key: 'aws:ResourceTag/team',
        reason: 'the value of aws:ResourceTag/team is not known to the local check',
        policy: 'Policy',
        kind: 'identity',
        sid: 'TeamOnly',
      },
    ]);
    const deny = {
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } },
    };
    const refused = decide(
      [{ Effect: 'Allow', Action: '*', Resource: '*' }, deny],
      'dynamodb:GetItem',
      TABLE,
    );
    expect(refused.allowed).toBe(false);
    expect(refused.unevaluated.map((u) => u.reason)).toEqual([
      'the value of aws:CurrentTime is not known to the local check',
    ]);
    const variable = { Effect: 'Deny', Action: 'dynamodb:*', Resource: `${TABLE}-\${aws:username}` };
    const byUser = decide(
      [{ Effect: 'Allow', Action: '*', Resource: '*' }, variable],
      'dynamodb:GetItem',
      TABLE,
    );
    expect(byUser.allowed).toBe(false);
    expect(byUser.unevaluated.map((u) => u.reason)).toEqual(['policy variables are not evaluated here']);
    // A statement without Action/NotAction or Resource/NotResource is invalid and grants nothing.
    expect(decide([{ Effect: 'Allow', Resource: '*' }], 'dynamodb:GetItem', TABLE).allowed).toBe(false);
    expect(decide([{ Effect: 'Allow', Action: '*' }], 'dynamodb:GetItem', TABLE).allowed).toBe(false);
    const setOperator = {
      ...tagged,
      Condition: { 'ForAnyValue:StringEquals': { 'aws:CalledVia': 'athena.amazonaws.com' } },
    };
    expect(decide([setOperator], 'dynamodb:GetItem', TABLE).unevaluated[0]?.reason).toMatch(/ForAnyValue/);
  });
});

describe('resource-based policies', () => {
  it('a topic policy naming the role grants without an identity policy; its Deny refuses despite one', () => {
    const roleArn = 'arn:aws:iam::111122223333:role/Role';
    const allowRole = [
      { Effect: 'Allow', Principal: { AWS: roleArn }, Action: 'sns:Publish', Resource: TOPIC },
    ];
    expect(decide([], 'sns:Publish', TOPIC, { topicPolicy: allowRole })).toMatchObject({
      allowed: true,
      statement: { policy: 'AlertsPolicy', kind: 'resource' },
    });
    // Naming only the account delegates to IAM: no grant by itself.
    const allowAccount = [{ ...allowRole[0], Principal: { AWS: '111122223333' } }];
    expect(decide([], 'sns:Publish', TOPIC, { topicPolicy: allowAccount }).allowed).toBe(false);
    const sslOnly = [
      {
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Resource: { Ref: 'Alerts' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ];
    const identity = [{ Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'Alerts' } }];
    expect(decide(identity, 'sns:Publish', TOPIC, { topicPolicy: sslOnly }).allowed).toBe(true);
    const denyAll = [{ ...sslOnly[0], Condition: undefined }];
    const refused = decide(identity, 'sns:Publish', TOPIC, { topicPolicy: denyAll });
    expect(refused.allowed).toBe(false);
    expect(refused.message).toMatch(/with an explicit deny in a resource-based policy$/);
  });

  it('a key is usable only if its key policy allows the caller, or the account and an IAM policy', () => {
    const useKey = [
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': ['Key', 'Arn'] },
      },
    ];
    expect(decide(useKey, 'kms:GenerateDataKey', KEY).allowed).toBe(true);
    expect(decide([], 'kms:GenerateDataKey', KEY).message).toMatch(/because no identity-based policy allows/);
    const serviceOnly = [
      { Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'kms:*', Resource: '*' },
    ];
    const refused = decide(useKey, 'kms:GenerateDataKey', KEY, { keyPolicy: serviceOnly });
    expect(refused.allowed).toBe(false);
    expect(refused.message).toMatch(
      /because no resource-based policy allows the kms:GenerateDataKey action$/,
    );
    const namesRole = [
      {
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::GetAtt': ['Role', 'Arn'] } },
        Action: 'kms:Decrypt',
        Resource: '*',
      },
    ];
    expect(decide([], 'kms:Decrypt', KEY, { keyPolicy: namesRole }).allowed).toBe(true);
  });
});

describe('denials as AWS returns them', () => {
  it('each service answers with its own error code and status', () => {
    const refused = decide([], 'dynamodb:BatchGetItem', TABLE);
    const thrown = (service: string) => {
      try {
        enforce(refused, service);
      } catch (error) {
        return error as AccessDeniedError;
      }
      throw new Error('not refused');
    };
    expect(thrown('dynamodb')).toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 400 },
    });
    expect(thrown('dynamodb').message).toBe(refused.message);
    expect(thrown('s3')).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(thrown('sns')).toMatchObject({ name: 'AuthorizationError', $metadata: { httpStatusCode: 403 } });
    expect(thrown('kinesis')).toBeInstanceOf(AccessDeniedError);
    expect(
      enforce(
        decide([{ Effect: 'Allow', Action: '*', Resource: '*' }], 'dynamodb:GetItem', TABLE),
        'dynamodb',
      ).allowed,
    ).toBe(true);
  });
});

describe('template intrinsics', () => {
  it('resolves Ref, GetAtt, Join, Sub, Select, Split and pseudo parameters; explicit names win', () => {
    const model = loadIamModel(
      template([], {
        resources: {
          Named: { Type: 'AWS::Kinesis::Stream', Properties: { Name: 'events' } },
          Queue: { Type: 'AWS::SQS::Queue', Properties: {} },
        },
      }),
      { env, names: (id) => `gen-${id.toLowerCase()}` },
    );
    const r = model.resolver;
    expect(r.resolve({ Ref: 'Named' })).toBe('events');
    expect(r.resolve({ 'Fn::GetAtt': ['Named', 'Arn'] })).toBe(arn('kinesis', 'stream/events'));
    expect(r.resolve({ Ref: 'Totals' })).toBe('gen-totals');
    expect(r.resolve({ Ref: 'Alerts' })).toBe(arn('sns', 'gen-alerts'));
    expect(r.resolve({ Ref: 'Queue' })).toBe('https://sqs.eu-west-1.amazonaws.com/111122223333/gen-queue');
    expect(r.resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Totals}/${Named.Arn}/${!Literal}' })).toBe(
      `arn:aws:s3:::gen-totals/${arn('kinesis', 'stream/events')}/\${Literal}`,
    );
    expect(r.resolve({ 'Fn::Sub': ['${A}-${AWS::Region}', { A: { Ref: 'AWS::AccountId' } }] })).toBe(
      '111122223333-eu-west-1',
    );
    expect(r.resolve({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] })).toBe('b');
    expect(() => r.resolve({ 'Fn::ImportValue': 'x' })).toThrow(/Fn::ImportValue is not supported/);
    expect(() => r.resolve({ Ref: 'Nope' })).toThrow(/no resource Nope/);
    expect(() => r.resolve({ 'Fn::GetAtt': ['Totals', 'StreamArn'] })).toThrow(/Totals.StreamArn/);
  });

  it('reports policies the template cannot show instead of ignoring them', () => {
    const model = loadIamModel(
      template([{ Effect: 'Allow', Action: '*', Resource: '*' }], {
        resources: {
          Role: {
            Type: 'AWS::IAM::Role',
            Properties: { ManagedPolicyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'] },
          },
        },
      }),
      { env, names: byLogicalId },
    );
    const decision = model.authorize(model.principal('Fn'), { action: 'dynamodb:GetItem', resource: TABLE });
    expect(decision.unevaluated.map((u) => u.reason)).toEqual([
      'managed policy arn:aws:iam::aws:policy/ReadOnlyAccess is not in the template',
    ]);
  });
});
