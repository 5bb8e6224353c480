/**
 * The SNS actions the local endpoint answers: topics, email and email-json subscriptions (with filter
 * policies), Publish. Each returns the inside of its `<ActionResult>` element, or undefined when it
 * has none.
 */
import { randomUUID } from 'node:crypto';
import { matchesFilterPolicy, parseFilterPolicy, parseMessageAttributes } from './filter-policy.ts';
import { mailFor } from './notifications.ts';
import {
  invalidParameter,
  mapEntries,
  nextToken,
  paginate,
  required,
  SnsRequestError,
  xml,
} from './query-protocol.ts';
import { removeSubscription, requireTopic, type SnsState, type Subscription, topicArn } from './topics.ts';

/** SNS limits: 256 KiB per message, 100 characters per subject. */
const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_SUBJECT_LENGTH = 100;

export const SNS_ACTIONS: Record<string, (state: SnsState, params: URLSearchParams) => string | undefined> = {
  CreateTopic(state, params) {
    const name = required(params, 'Name');
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) {
      throw invalidParameter('Topic Name');
    }
    const arn = topicArn(state, name);
    // Idempotent by name, as in SNS.
    if (!state.topics.has(arn)) state.topics.set(arn, { arn, name, subscriptions: new Map() });
    return `<TopicArn>${xml(arn)}</TopicArn>`;
  },

  ListTopics(state, params) {
    const page = paginate([...state.topics.keys()], params.get('NextToken'));
    const members = page.items.map((arn) => `<member><TopicArn>${xml(arn)}</TopicArn></member>`).join('');
    return `<Topics>${members}</Topics>${nextToken(page.next)}`;
  },

  DeleteTopic(state, params) {
    // Deleting a topic that does not exist is not an error in SNS.
    state.topics.delete(required(params, 'TopicArn'));
    return undefined;
  },

  Subscribe(state, params) {
    const topic = requireTopic(state, required(params, 'TopicArn'));
    const protocol = required(params, 'Protocol');
    if (protocol !== 'email' && protocol !== 'email-json') {
      throw invalidParameter(
        `Invalid protocol type: ${protocol} (the local endpoint delivers email and email-json)`,
      );
    }
    const address = required(params, 'Endpoint');
    if (!/^[^\s@<>]+@[^\s@<>]+$/.test(address)) throw invalidParameter('Email address');
    const attributes = mapEntries(params, 'Attributes', 'key', 'value');
    const scope = attributes.get('FilterPolicyScope');
    if (scope !== undefined && scope !== 'MessageAttributes') {
      throw invalidParameter('FilterPolicyScope: only MessageAttributes is supported locally');
    }
    const filterPolicyText = attributes.get('FilterPolicy');
    const filterPolicy = filterPolicyText === undefined ? undefined : parseFilterPolicy(filterPolicyText);
    for (const existing of topic.subscriptions.values()) {
      if (existing.protocol !== protocol || existing.endpoint !== address) continue;
      if (existing.filterPolicyText !== filterPolicyText) {
        throw invalidParameter('Attributes Reason: Subscription already exists with different attributes');
      }
      return `<SubscriptionArn>${xml(existing.arn)}</SubscriptionArn>`;
    }
    // Confirmed at once: locally there is no confirmation mail round-trip, so the real ARN is
    // returned instead of "pending confirmation" and the first Publish already reaches the inbox.
    const subscription: Subscription = {
      arn: `${topic.arn}:${randomUUID()}`,
      topicArn: topic.arn,
      protocol,
      endpoint: address,
      ...(filterPolicyText !== undefined && filterPolicy ? { filterPolicyText, filterPolicy } : {}),
    };
    topic.subscriptions.set(subscription.arn, subscription);
    return `<SubscriptionArn>${xml(subscription.arn)}</SubscriptionArn>`;
  },

  ListSubscriptionsByTopic(state, params) {
    const topic = requireTopic(state, required(params, 'TopicArn'));
    const page = paginate([...topic.subscriptions.values()], params.get('NextToken'));
    const members = page.items
      .map(
        (s) =>
          `<member><TopicArn>${xml(s.topicArn)}</TopicArn><Protocol>${s.protocol}</Protocol>` +
          `<SubscriptionArn>${xml(s.arn)}</SubscriptionArn><Owner>${state.accountId}</Owner>` +
          `<Endpoint>${xml(s.endpoint)}</Endpoint></member>`,
      )
      .join('');
    return `<Subscriptions>${members}</Subscriptions>${nextToken(page.next)}`;
  },

  Unsubscribe(state, params) {
    if (!removeSubscription(state, required(params, 'SubscriptionArn'))) {
      throw new SnsRequestError('NotFound', 'Subscription does not exist', 404);
    }
    return undefined;
  },

  Publish(state, params) {
    const topic = requireTopic(state, params.get('TopicArn') ?? params.get('TargetArn'));
    const message = params.get('Message');
    if (!message) throw invalidParameter('Empty message');
    if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) throw invalidParameter('Message too long');
    const subject = params.get('Subject');
    if (subject !== null && !isValidSubject(subject)) throw invalidParameter('Subject');
    const attributes = parseMessageAttributes(params);
    const perProtocol =
      params.get('MessageStructure') === 'json' ? parseStructuredMessage(message) : undefined;

    const notification = {
      messageId: randomUUID(),
      subject,
      timestamp: new Date().toISOString(),
      attributes,
    };
    state.published++;
    for (const subscription of topic.subscriptions.values()) {
      if (subscription.filterPolicy && !matchesFilterPolicy(subscription.filterPolicy, attributes)) continue;
      const body = perProtocol ? (perProtocol[subscription.protocol] ?? perProtocol.default) : message;
      state.queue.enqueue(mailFor(state.endpoint, subscription, { ...notification, body }));
    }
    return `<MessageId>${notification.messageId}</MessageId>`;
  },
};

type StructuredMessage = { default: string } & Record<string, string | undefined>;

function parseStructuredMessage(message: string): StructuredMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    throw invalidParameter('Message Structure - JSON message body failed to parse');
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof (parsed as { default?: unknown }).default !== 'string'
  ) {
    throw invalidParameter('Message Structure - No default entry in JSON message body');
  }
  return parsed as StructuredMessage;
}

function isValidSubject(subject: string): boolean {
  // SNS: ASCII, starting with a letter, digit or punctuation, no line breaks or control characters.
  return (
    subject.length > 0 && subject.length <= MAX_SUBJECT_LENGTH && /^[\x21-\x7e][\x20-\x7e]*$/.test(subject)
  );
}
