/**
 * A temporary SQS queue subscribed to the alert topic, so that smoke sees which alerts SNS really
 * published (an email subscriber would need a person to confirm it). The queue lets only that topic
 * send to it; the subscription's filter policy lets through only the bots this run injected, so alerts
 * of other traffic on the stack never reach it. `close` removes both, and runs however smoke ends.
 */
import { type SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SMOKE_QUEUE_PREFIX } from '../core/resources.ts';

/** SNS filter policies take at most 150 values in all: far above the bots a smoke run injects. */
const MAX_FILTER_VALUES = 150;

export interface AlertTap {
  queueUrl: string;
  subscriptionArn: string;
  /** Receives what has arrived so far (one long poll) and returns every bot seen since the start. */
  poll(): Promise<ReadonlySet<string>>;
  /** Unsubscribes and deletes the queue; safe to call twice. */
  close(): Promise<void>;
}

/**
 * SNS needs the queue's permission to send to it: a queue policy allowing `sqs:SendMessage` to the
 * `sns.amazonaws.com` service, confined to this topic by `aws:SourceArn`
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html). The policy is set before
 * the subscription and before anything is sent, because a new queue policy takes a moment to apply
 * (https://docs.aws.amazon.com/sdkfornet/v4/apidocs/items/SNS/MSNSSubscribeQueueStringICoreSQSString.html).
 */
export function queuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AlertTopicOnly',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  });
}

export async function openAlertTap(options: {
  sqs: SQSClient;
  sns: SNSClient;
  topicArn: string;
  botUserIds: readonly string[];
  runId: string;
}): Promise<AlertTap> {
  const { sqs, sns, topicArn } = options;
  if (options.botUserIds.length > MAX_FILTER_VALUES)
    throw new Error(`at most ${MAX_FILTER_VALUES} bots can be watched, not ${options.botUserIds.length}`);
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    // Each removal is tried even when an earlier one failed; the first failure is reported.
    let failure: unknown;
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => {
        failure ??= error;
      });
    }
    if (failure) throw failure;
  };
  try {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `${SMOKE_QUEUE_PREFIX}${options.runId}`,
        // SSE with SQS-owned keys: no key policy has to let SNS in, unlike a customer key.
        Attributes: { SqsManagedSseEnabled: 'true', MessageRetentionPeriod: '3600' },
      }),
    );
    if (!QueueUrl) throw new Error('CreateQueue returned no QueueUrl');
    cleanups.push(() => sqs.send(new DeleteQueueCommand({ QueueUrl })));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    const queueArn = Attributes?.QueueArn;
    if (!queueArn) throw new Error('GetQueueAttributes returned no QueueArn');
    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl, Attributes: { Policy: queuePolicy(queueArn, topicArn) } }),
    );
    const { SubscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'sqs',
        Endpoint: queueArn,
        // A queue of the topic's own account needs no confirmation; ask for the ARN to remove it by.
        ReturnSubscriptionArn: true,
        Attributes: { FilterPolicy: JSON.stringify({ user_id: [...options.botUserIds] }) },
      }),
    );
    if (!SubscriptionArn) throw new Error('Subscribe returned no SubscriptionArn');
    cleanups.push(() => sns.send(new UnsubscribeCommand({ SubscriptionArn })));
    const seen = new Set<string>();
    return {
      queueUrl: QueueUrl,
      subscriptionArn: SubscriptionArn,
      async poll() {
        const { Messages } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5 }),
        );
        for (const message of Messages ?? []) {
          const user = alertedUser(message.Body);
          if (user) seen.add(user);
        }
        return seen;
      },
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

/** The `user_id` message attribute of an SNS notification as SQS receives it (not raw delivery). */
export function alertedUser(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const envelope = JSON.parse(body) as { MessageAttributes?: Record<string, { Value?: string }> };
    return envelope.MessageAttributes?.user_id?.Value;
  } catch {
    return undefined;
  }
}
