/**
 * IAM in the local stack's clients: a function's call is decided against its role in the synthesized
 * template before it is sent, and a refusal fails as AWS fails it. The clients are real SDK clients
 * whose transport answers `{}` without a network, so what reaches the "service" is what IAM let through.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/pipeline-app.ts';
import { AccessDeniedError } from '../../local/iam/denied.ts';
import { createLocalIam } from '../../local/iam/guard.ts';
import { loadIamModel } from '../../local/iam/policy.ts';
import type { AwsEnvironment } from '../../local/template/arns.ts';
import type { CfnTemplate } from '../../local/template/intrinsics.ts';
import { FULL_STACK_CONTEXT } from '../support/infra-context.ts';

const ENV: AwsEnvironment = { partition: 'aws', region: 'us-east-1', account: '000000000000' };
const names = (logicalId: string) => logicalId.replace(/[0-9A-F]{8}$/, '');

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON
type Template = CfnTemplate & { Resources: Record<string, any> };
let template: Template;
let outdir: string;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'local-iam-synth-'));
  template = buildApp({ outdir, context: FULL_STACK_CONTEXT }).app.synth().getStackByName('Clickstream')
    .template as Template;
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const functionId = (prefix: string) => {
  const [id] = Object.entries(template.Resources).find(
    ([logicalId, r]) => logicalId.startsWith(prefix) && r.Type === 'AWS::Lambda::Function',
  ) ?? [undefined];
  if (!id) throw new Error(`no function ${prefix}*`);
  return id;
};
const AGGREGATOR = 'StreamToAggregatorFunction';
const ALERTER = 'UserActivityToAlerterFunction';
const TABLE = 'AggregatorToUserActivityTable';

/** Counts what got past IAM to the "service". */
function transport() {
  const sent: string[] = [];
  return {
    sent,
    config: {
      region: ENV.region,
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
      requestHandler: {
        handle: async (request: { headers: Record<string, string> }) => {
          sent.push(request.headers['x-amz-target'] ?? 'query');
          return {
            response: {
              statusCode: 200,
              headers: { 'content-type': 'application/x-amz-json-1.0' },
              body: Readable.from([Buffer.from('{}')]),
            },
          };
        },
      },
    },
  };
}

function iamOf(source: Template) {
  const denials: string[] = [];
  const iam = createLocalIam(loadIamModel(source, { env: ENV, names }), {
    onDenied: (fn, decision) => denials.push(`${fn} ${decision.action}`),
  });
  return { iam, denials };
}

describe('a function client in the local stack', () => {
  it('lets through what the role allows, and counts each decision', async () => {
    const { iam } = iamOf(template);
    const wire = transport();
    const dynamo = DynamoDBDocumentClient.from(
      iam.guard(new DynamoDBClient(wire.config), functionId(AGGREGATOR)),
    );
    await dynamo.send(
      new UpdateCommand({
        TableName: names(TABLE),
        Key: { pk: 'u#1', sk: 'w#1' },
        UpdateExpression: 'ADD v :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const alerter = DynamoDBDocumentClient.from(
      iam.guard(new DynamoDBClient(wire.config), functionId(ALERTER)),
    );
    // The alerter reads a user's windows with a Query (consumers/user-activity-item.ts).
    await alerter.send(
      new QueryCommand({
        TableName: names(TABLE),
        KeyConditionExpression: 'pk = :user AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':user': 'u#1', ':from': 'w#1', ':to': 'w#2' },
      }),
    );
    expect(wire.sent).toEqual(['DynamoDB_20120810.UpdateItem', 'DynamoDB_20120810.Query']);
    expect(iam.tally).toMatchObject({ checked: 2, denied: 0 });
  });

  it('refuses what the role does not allow, as AWS does, before anything is sent', async () => {
    const { iam, denials } = iamOf(template);
    const wire = transport();
    const sns = iam.guard(new SNSClient(wire.config), functionId(AGGREGATOR));
    const topic = `arn:aws:sns:${ENV.region}:${ENV.account}:AlertsTopic`;
    const refused = await sns.send(new PublishCommand({ TopicArn: topic, Message: 'x' })).catch((e) => e);
    expect(refused).toBeInstanceOf(AccessDeniedError);
    expect(refused.name).toBe('AuthorizationError');
    expect(refused.$metadata.httpStatusCode).toBe(403);
    expect(refused.message).toContain('sns:Publish');
    expect(refused.message).toContain(topic);
    expect(wire.sent).toEqual([]);
    expect(iam.tally).toMatchObject({ checked: 1, denied: 1 });
    expect(denials).toEqual([`${functionId(AGGREGATOR)} sns:Publish`]);
  });

  it('fails the aggregator on a template whose role lost dynamodb:UpdateItem, naming it', async () => {
    const edited = structuredClone(template);
    let removed = 0;
    for (const resource of Object.values(edited.Resources)) {
      if (resource.Type !== 'AWS::IAM::Policy') continue;
      for (const statement of resource.Properties.PolicyDocument.Statement) {
        const actions = [statement.Action].flat();
        if (!actions.includes('dynamodb:UpdateItem')) continue;
        statement.Action = actions.filter((action: string) => action !== 'dynamodb:UpdateItem');
        removed++;
      }
    }
    expect(removed).toBeGreaterThan(0);
    const { iam, denials } = iamOf(edited);
    const wire = transport();
    const dynamo = DynamoDBDocumentClient.from(
      iam.guard(new DynamoDBClient(wire.config), functionId(AGGREGATOR)),
    );
    const refused = await dynamo
      .send(
        new UpdateCommand({
          TableName: names(TABLE),
          Key: { pk: 'u#1', sk: 'w#1' },
          UpdateExpression: 'ADD v :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      )
      .catch((e) => e);
    expect(refused.name).toBe('AccessDeniedException');
    expect(refused.message).toMatch(
      /is not authorized to perform: dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/AggregatorToUserActivityTable/,
    );
    expect(denials).toEqual([`${functionId(AGGREGATOR)} dynamodb:UpdateItem`]);
    expect(wire.sent).toEqual([]);
  });

  it("decides what Lambda does with a function's role when its mapping starts", () => {
    const { iam } = iamOf(template);
    iam.checkServiceAccess(functionId(AGGREGATOR));
    // Reading the events stream (5 actions) and sending a failed batch to its queue.
    expect(iam.tally).toMatchObject({ checked: 6, denied: 0 });

    const edited = structuredClone(template);
    for (const resource of Object.values(edited.Resources)) {
      if (resource.Type !== 'AWS::IAM::Policy') continue;
      for (const statement of resource.Properties.PolicyDocument.Statement)
        statement.Action = [statement.Action]
          .flat()
          .filter((action: string) => action !== 'kinesis:GetRecords');
    }
    const refusing = iamOf(edited).iam;
    expect(() => refusing.checkServiceAccess(functionId(AGGREGATOR))).toThrow(/kinesis:GetRecords/);
  });

  it('keeps Kinesis writes to the stream the role names', async () => {
    const { iam } = iamOf(template);
    const wire = transport();
    const kinesis = iam.guard(new KinesisClient(wire.config), functionId(AGGREGATOR));
    const own = await kinesis
      .send(
        new PutRecordsCommand({
          StreamName: 'StreamsUserActivity',
          Records: [{ Data: new Uint8Array(1), PartitionKey: 'a' }],
        }),
      )
      .then(
        () => 'sent',
        (e) => e.name,
      );
    const other = await kinesis
      .send(
        new PutRecordsCommand({
          StreamName: 'StreamsEvents',
          Records: [{ Data: new Uint8Array(1), PartitionKey: 'a' }],
        }),
      )
      .then(
        () => 'sent',
        (e) => e.name,
      );
    expect([own, other]).toEqual(['sent', 'AccessDeniedException']);
  });
});
