/**
 * What a subscriber receives for one Publish: the mail SNS sends an email subscriber (the message and
 * an unsubscribe footer) or an email-json one (the notification JSON).
 */
import type { MessageAttribute } from './filter-policy.ts';
import type { OutgoingMail } from './mail-queue.ts';
import type { Subscription } from './topics.ts';

/** What real SNS sets when Publish has no Subject. */
const DEFAULT_SUBJECT = 'AWS Notification Message';

/** One Publish, as every subscriber's delivery is built from it. */
export interface Notification {
  messageId: string;
  subject: string | null;
  /** The message for this subscriber (MessageStructure=json can differ per protocol). */
  body: string;
  timestamp: string;
  attributes: Map<string, MessageAttribute>;
}

/** The mail for one subscriber; its unsubscribe link points at this endpoint. */
export function mailFor(
  endpoint: string,
  subscription: Subscription,
  notification: Notification,
): OutgoingMail {
  const unsubscribeUrl = `${endpoint}/unsubscribe.html?${new URLSearchParams({
    SubscriptionArn: subscription.arn,
    Endpoint: subscription.endpoint,
  })}`;
  const subscriptionId = subscription.arn.slice(subscription.arn.lastIndexOf(':') + 1);
  return {
    to: subscription.endpoint,
    subject: notification.subject ?? DEFAULT_SUBJECT,
    text:
      subscription.protocol === 'email'
        ? emailText(notification.body, unsubscribeUrl)
        : JSON.stringify(notificationEnvelope(subscription.topicArn, notification, unsubscribeUrl)),
    messageId: `<${notification.messageId}.${subscriptionId}@sns.local>`,
    enqueuedAt: Date.now(),
    attempts: 0,
  };
}

function emailText(message: string, unsubscribeUrl: string): string {
  return (
    `${message}\n\n--\n` +
    'If you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n' +
    `${unsubscribeUrl}\n\n` +
    'Please do not reply directly to this email. If you have any questions or comments regarding this email, ' +
    'please contact us at https://aws.amazon.com/support\n'
  );
}

/**
 * The SNS notification JSON, as email-json subscribers receive it. No Signature fields: there is no
 * AWS signing key locally, and a made-up signature would only look verifiable.
 */
function notificationEnvelope(topicArn: string, notification: Notification, unsubscribeUrl: string) {
  const attributes = Object.fromEntries(
    [...notification.attributes].map(([name, a]) => [
      name,
      { Type: a.DataType, Value: a.StringValue ?? a.BinaryValue ?? '' },
    ]),
  );
  return {
    Type: 'Notification',
    MessageId: notification.messageId,
    TopicArn: topicArn,
    ...(notification.subject !== null ? { Subject: notification.subject } : {}),
    Message: notification.body,
    Timestamp: notification.timestamp,
    UnsubscribeURL: unsubscribeUrl,
    ...(notification.attributes.size > 0 ? { MessageAttributes: attributes } : {}),
  };
}
