/**
 * The topics and their subscriptions one local SNS endpoint holds, and what its actions share.
 */
import type { FilterPolicy } from './filter-policy.ts';
import type { MailQueue } from './mail-queue.ts';
import { SnsRequestError } from './query-protocol.ts';

export type Protocol = 'email' | 'email-json';

export interface Subscription {
  arn: string;
  topicArn: string;
  protocol: Protocol;
  endpoint: string;
  filterPolicyText?: string;
  filterPolicy?: FilterPolicy;
}

export interface Topic {
  arn: string;
  name: string;
  subscriptions: Map<string, Subscription>;
}

/** What the actions of one endpoint work on. */
export interface SnsState {
  region: string;
  accountId: string;
  topics: Map<string, Topic>;
  /** Publish calls accepted. */
  published: number;
  queue: MailQueue;
  /** The endpoint's own URL, for the unsubscribe links in the mails (set once it listens). */
  endpoint: string;
}

export function topicArn(state: SnsState, name: string): string {
  return `arn:aws:sns:${state.region}:${state.accountId}:${name}`;
}

export function requireTopic(state: SnsState, arn: string | null): Topic {
  const topic = arn ? state.topics.get(arn) : undefined;
  if (!topic) throw new SnsRequestError('NotFound', 'Topic does not exist', 404);
  return topic;
}

function findSubscription(state: SnsState, arn: string): Subscription | undefined {
  for (const topic of state.topics.values()) {
    const subscription = topic.subscriptions.get(arn);
    if (subscription) return subscription;
  }
  return undefined;
}

export function removeSubscription(state: SnsState, arn: string): Subscription | undefined {
  const subscription = findSubscription(state, arn);
  if (subscription) state.topics.get(subscription.topicArn)?.subscriptions.delete(subscription.arn);
  return subscription;
}
