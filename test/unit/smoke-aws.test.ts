/**
 * The AWS-only side of `clickstream smoke`, against recorded SDK clients (aws-sdk-client-mock): the
 * stack's outputs read as what smoke checks, the temporary alert queue (its policy lets only the alert
 * topic send; it and its subscription are removed however the run ends, Ctrl-C included), the custom
 * metrics listing and the alarm-topic policy check, on the policy the CDK app synthesizes.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { KinesisClient, ListShardsCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertedUser, openAlertTap, queuePolicy } from '../../analytics/smoke/alert-tap.ts';
import { readDeployedStack, stackFromOutputs } from '../../analytics/smoke/deployed-stack.ts';
import { letsCloudWatchPublish, listedCustomMetrics } from '../../analytics/smoke/probes.ts';
import { smoke } from '../../analytics/smoke/run.ts';
import { createContext } from '../../cli/context.ts';
import { ClickstreamError } from '../../core/errors.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { FULL_STACK_CONTEXT, unvalidatedTemplate } from '../support/infra-context.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:Clickstream-AlertTopic';
const QUEUE_URL = (name: string) => `https://sqs.eu-west-1.amazonaws.com/123456789012/${name}`;
const QUEUE_ARN = (name: string) => `arn:aws:sqs:eu-west-1:123456789012:${name}`;

const cfn = mockClient(CloudFormationClient);
const sqs = mockClient(SQSClient);
const sns = mockClient(SNSClient);
const cloudwatch = mockClient(CloudWatchClient);
const kinesis = mockClient(KinesisClient);

beforeEach(() => {
  for (const mock of [cfn, sqs, sns, cloudwatch, kinesis]) mock.reset();
});
afterEach(() => {
  for (const mock of [cfn, sqs, sns, cloudwatch, kinesis]) mock.reset();
});

function stubQueue() {
  sqs.on(CreateQueueCommand).callsFake((input) => ({ QueueUrl: QUEUE_URL(input.QueueName) }));
  sqs.on(GetQueueAttributesCommand).callsFake((input) => ({
    Attributes: { QueueArn: QUEUE_ARN(String(input.QueueUrl).split('/').pop() ?? '') },
  }));
  sqs.on(SetQueueAttributesCommand).resolves({});
  sqs.on(DeleteQueueCommand).resolves({});
  sns.on(SubscribeCommand).callsFake((input) => ({ SubscriptionArn: `${input.TopicArn}:sub-1` }));
  sns.on(UnsubscribeCommand).resolves({});
}

describe('the stack under test, from its CloudFormation outputs', () => {
  const config = JSON.stringify({
    mode: 'aws',
    region: 'eu-west-1',
    names: { eventsStream: 'Clickstream-Events-1', alertTopic: TOPIC },
  });

  it('reads names, alarm topics, the metrics namespace and the timing settings', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'Clickstream' }).resolves({
      Stacks: [
        {
          StackName: 'Clickstream',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'ClickstreamConfig', OutputValue: config },
            { OutputKey: 'AlarmTopicArns', OutputValue: `${TOPIC}-alarms` },
            { OutputKey: 'MetricsNamespace', OutputValue: 'Clickstream' },
            { OutputKey: 'TumblingWindowSeconds', OutputValue: '30' },
            { OutputKey: 'FirehoseBufferingSeconds', OutputValue: '120' },
          ],
        },
      ],
    });
    const stack = await readDeployedStack(new CloudFormationClient({ region: 'eu-west-1' }), 'Clickstream');
    expect(stack).toEqual({
      origin: 'stack Clickstream (CloudFormation outputs)',
      names: { ...DEFAULT_RESOURCE_NAMES, eventsStream: 'Clickstream-Events-1', alertTopic: TOPIC },
      alarmTopicArns: [`${TOPIC}-alarms`],
      metricsNamespace: 'Clickstream',
      timing: {
        windowSeconds: 60,
        tumblingWindowSeconds: 30,
        maxBatchingWindowSeconds: 5,
        firehoseBufferingSeconds: 120,
      },
    });
  });

  it('ends with one line and a hint when the stack is missing or older than its outputs', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }));
    const missing = readDeployedStack(new CloudFormationClient({ region: 'eu-west-1' }), 'Nope');
    await expect(missing).rejects.toThrow(ClickstreamError);
    await expect(missing).rejects.toMatchObject({
      message: 'stack Nope not found',
      hint: 'deploy it first (npx cdk deploy), or pass --stack NAME and --region of the deployed stack',
    });
    expect(() => stackFromOutputs('Old', { EventsStreamName: 'x' })).toThrow(
      'stack Old has no output ClickstreamConfig',
    );
  });

  it('the synthesized stack has every output smoke reads', () => {
    const outputs = unvalidatedTemplate(FULL_STACK_CONTEXT, 'Clickstream').toJSON().Outputs as Record<
      string,
      unknown
    >;
    for (const key of [
      'ClickstreamConfig',
      'AlarmTopicArns',
      'MetricsNamespace',
      'WindowSeconds',
      'TumblingWindowSeconds',
      'MaxBatchingWindowSeconds',
      'FirehoseBufferingSeconds',
      'SmokePolicyArn',
      'SmokeCommand',
    ])
      expect(outputs, key).toHaveProperty(key);
  });
});

describe('the temporary alert queue', () => {
  it('lets only the alert topic send, subscribes with a filter on the bots, and is removed on close', async () => {
    stubQueue();
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        {
          Body: JSON.stringify({
            Type: 'Notification',
            MessageAttributes: { user_id: { Type: 'String', Value: 'b1' } },
          }),
        },
        { Body: 'not json' },
      ],
    });
    const tap = await openAlertTap({
      sqs: new SQSClient({ region: 'eu-west-1' }),
      sns: new SNSClient({ region: 'eu-west-1' }),
      topicArn: TOPIC,
      botUserIds: ['b1', 'b2'],
      runId: 'r1',
    });
    expect(sqs.commandCalls(CreateQueueCommand)[0]?.args[0].input).toEqual({
      QueueName: 'clickstream-smoke-r1',
      Attributes: { SqsManagedSseEnabled: 'true', MessageRetentionPeriod: '3600' },
    });
    const policy = JSON.parse(
      String(sqs.commandCalls(SetQueueAttributesCommand)[0]?.args[0].input.Attributes?.Policy),
    );
    expect(policy.Statement).toEqual([
      {
        Sid: 'AlertTopicOnly',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: QUEUE_ARN('clickstream-smoke-r1'),
        Condition: { ArnEquals: { 'aws:SourceArn': TOPIC } },
      },
    ]);
    expect(sns.commandCalls(SubscribeCommand)[0]?.args[0].input).toEqual({
      TopicArn: TOPIC,
      Protocol: 'sqs',
      Endpoint: QUEUE_ARN('clickstream-smoke-r1'),
      ReturnSubscriptionArn: true,
      Attributes: { FilterPolicy: '{"user_id":["b1","b2"]}' },
    });
    expect([...(await tap.poll())]).toEqual(['b1']);
    await tap.close();
    expect(sns.commandCalls(UnsubscribeCommand).map((c) => c.args[0].input)).toEqual([
      { SubscriptionArn: `${TOPIC}:sub-1` },
    ]);
    expect(sqs.commandCalls(DeleteQueueCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL('clickstream-smoke-r1') },
    ]);
  });

  it('deletes the queue when the subscription fails', async () => {
    stubQueue();
    sns
      .on(SubscribeCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AuthorizationErrorException' }));
    await expect(
      openAlertTap({
        sqs: new SQSClient({ region: 'eu-west-1' }),
        sns: new SNSClient({ region: 'eu-west-1' }),
        topicArn: TOPIC,
        botUserIds: ['b1'],
        runId: 'r2',
      }),
    ).rejects.toThrow('denied');
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
    expect(sns.commandCalls(UnsubscribeCommand)).toHaveLength(0);
  });

  it('reads the bot of a notification from its user_id attribute', () => {
    expect(alertedUser(JSON.stringify({ MessageAttributes: { user_id: { Value: '42' } } }))).toBe('42');
    expect(alertedUser(JSON.stringify({ Message: 'no attributes' }))).toBeUndefined();
    expect(alertedUser(undefined)).toBeUndefined();
    expect(JSON.parse(queuePolicy('q', 't')).Statement).toHaveLength(1);
  });

  it('Ctrl-C during the replay removes the queue and its subscription, and ends the run', async () => {
    stubQueue();
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Clickstream',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            {
              OutputKey: 'ClickstreamConfig',
              OutputValue: JSON.stringify({ names: { alertTopic: TOPIC } }),
            },
          ],
        },
      ],
    });
    const abort = new AbortController();
    kinesis.on(ListShardsCommand).callsFake(() => {
      // The user presses Ctrl-C as the replay starts.
      abort.abort();
      return {
        Shards: [
          {
            ShardId: 'shardId-000000000000',
            HashKeyRange: { StartingHashKey: '0', EndingHashKey: (2n ** 128n - 1n).toString() },
            SequenceNumberRange: { StartingSequenceNumber: '1' },
          },
        ],
      };
    });
    kinesis.on(PutRecordsCommand).callsFake((input) => ({
      FailedRecordCount: 0,
      Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })),
    }));
    const context = createContext({
      json: true,
      verbose: false,
      signal: abort.signal,
      target: { mode: 'aws', region: 'eu-west-1', names: DEFAULT_RESOURCE_NAMES },
      settings: () => {
        throw new Error('unused');
      },
    });
    await expect(smoke({ seed: 1 }, context)).rejects.toMatchObject({
      message: 'smoke interrupted',
      hint: 'what it created was removed; run it again to check the stack',
    });
    expect(sns.commandCalls(UnsubscribeCommand)).toHaveLength(1);
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
  });
});

interface TopicPolicyProperties {
  Topics: Array<{ Ref: string }>;
  PolicyDocument: unknown;
}

describe('metrics and alarm topics', () => {
  it('lists the custom metrics with the dimensions the dashboard graphs, over every page', async () => {
    cloudwatch
      .on(ListMetricsCommand, { Namespace: 'Clickstream', NextToken: undefined })
      .resolves({
        Metrics: [
          { MetricName: 'WindowsWritten', Dimensions: [{ Name: 'service', Value: 'window-aggregator' }] },
          // The right name with another dimension is another metric: the dashboard would not graph it.
          { MetricName: 'AlertsSent', Dimensions: [{ Name: 'service', Value: 'elsewhere' }] },
        ],
        NextToken: 'page-2',
      })
      .on(ListMetricsCommand, { Namespace: 'Clickstream', NextToken: 'page-2' })
      .resolves({ Metrics: [] });
    const client = new CloudWatchClient({ region: 'eu-west-1' });
    expect(await listedCustomMetrics(client, 'Clickstream')).toEqual(['WindowsWritten']);
    cloudwatch.on(ListMetricsCommand, { Namespace: 'Clickstream', NextToken: 'page-2' }).resolves({
      Metrics: [{ MetricName: 'AlertsSent', Dimensions: [{ Name: 'service', Value: 'bot-alerter' }] }],
    });
    expect(await listedCustomMetrics(client, 'Clickstream')).toEqual(['WindowsWritten', 'AlertsSent']);
  });

  it("passes the synthesized alarm topic's policy and fails a policy of denials only", () => {
    const template = unvalidatedTemplate(FULL_STACK_CONTEXT, 'Clickstream').toJSON();
    const resources = Object.entries(
      template.Resources as Record<string, { Type: string; Properties: TopicPolicyProperties }>,
    );
    const alarmTopic = resources.find(
      ([id, r]) => id.startsWith('AlarmTopic') && r.Type === 'AWS::SNS::Topic',
    )?.[0];
    const alertTopic = resources.find(
      ([id, r]) => id.startsWith('AlertTopic') && r.Type === 'AWS::SNS::Topic',
    )?.[0];
    const policyOf = (topic: string | undefined) => {
      const found = resources.find(
        ([, r]) => r.Type === 'AWS::SNS::TopicPolicy' && r.Properties.Topics.some((t) => t.Ref === topic),
      );
      // As GetTopicAttributes returns it: references resolved to the topic's ARN.
      return JSON.stringify(found?.[1].Properties.PolicyDocument).replaceAll(
        JSON.stringify({ Ref: topic }),
        JSON.stringify(TOPIC),
      );
    };
    expect(letsCloudWatchPublish(policyOf(alarmTopic), TOPIC)).toBe(true);
    // The alert topic's policy only denies plain HTTP: CloudWatch could not publish to it.
    expect(letsCloudWatchPublish(policyOf(alertTopic), TOPIC)).toBe(false);
    expect(letsCloudWatchPublish(undefined, TOPIC)).toBe(false);
  });
});
