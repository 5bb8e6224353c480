/**
 * Sends one alert email exactly once, as far as SNS allows. A standard topic (email needs one) has no
 * deduplication, so each email has a claim item in the alert-dedupe table, keyed by incident and step
 * (`<incident>#open`, `#follow-up-1`, `#close`), with a state machine:
 *   1. claim: PutItem `status = sending` with a fresh token, only if no item exists or the existing
 *      claim is `sending` and older than the lease (its owner died before finishing) or already ours
 *      (a retried PutItem whose first attempt was written but answered with an error);
 *   2. Publish;
 *   3. mark: `status = sent` (conditional on our token).
 * If Publish fails, the claim is deleted and the caller fails the record, so the retry claims again and
 * sends: no lost email, no duplicate. A fresh claim held by someone else is waited on for a few
 * seconds, polling: the holder is almost always a live invocation about to finish (a close pass
 * sweeping the same incident's outbox), and its email then counts as already sent. Only a claim still
 * held after the wait is reported as claimed elsewhere, and the caller fails the record (retried
 * later), so an invocation that dies between claim and Publish does not lose the email: once its lease
 * runs out the retry takes over. Failing at once instead could spend the event source's few retries
 * (MaximumRetryAttempts; AWS documents no delay between them, the local runner waits 5 ms) while the
 * holder is still publishing, and the batch would go to the on-failure destination.
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 *
 * The one window left is a function that dies after SNS accepted the message and before the mark: the
 * takeover then sends a second email. We prefer that duplicate to a lost one.
 *
 * The claim and the mark are retried patiently (the same request, so the same token) when DynamoDB is
 * briefly unreachable: a claim whose write landed but whose answer was lost would otherwise hold the
 * email for a whole lease, and a mark that never lands leaves an email that was sent looking unsent.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AlertMessage } from '../../core/alert-message.ts';
import { ALERT_DEDUPE_KEY, TTL_ATTRIBUTE } from '../../core/dynamo-tables.ts';
import { isAwsError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export type AlertOutcome = 'sent' | 'already-sent' | 'claimed-elsewhere';

/** Answers that retrying the same request cannot change. */
const FINAL_ERRORS = ['ConditionalCheckFailedException', 'ValidationException', 'ResourceNotFoundException'];
/** About 15 s in all: longer than a restarting DynamoDB emulator takes, well within a Lambda timeout. */
const PATIENT_DELAYS_MS = [200, 400, 800, 1_600, 3_200, 4_000, 4_000];
/**
 * Polls of a claim another live attempt holds, about 14 s in all: a Publish and a mark take well under
 * a second, even retried, and the alerter's Lambda timeout (60 s) leaves room for the rest of the batch.
 */
const HOLDER_POLL_DELAYS_MS = [50, 100, 200, 400, 800, 1_600, 3_200, 4_000, 4_000];

/**
 * `wait`: poll a claim held by another attempt until it is sent or let go (the default). A pass that
 * only sweeps up after others (closing quiet incidents) does not wait: the holder finishes the email.
 */
export interface DeliverOptions {
  wait?: boolean;
}

/** Sends `call` again after transient failures (network, 5xx, throttling); other errors go up at once. */
async function patiently<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const delay = PATIENT_DELAYS_MS[attempt];
      if (delay === undefined || isAwsError(error, ...FINAL_ERRORS)) throw error;
      await sleep(delay);
    }
  }
}

export interface DeliveryConfig {
  dynamo: DynamoDBDocumentClient;
  sns: SNSClient;
  alertDedupeTable: string;
  topicArn: string;
  ttlSeconds: number;
  leaseMs: number;
  logger: Logger;
  now: () => number;
}

export type Deliver = (
  claimId: string,
  message: AlertMessage,
  options?: DeliverOptions,
) => Promise<AlertOutcome>;

export function createDelivery(config: DeliveryConfig): Deliver {
  const { dynamo, logger, now } = config;
  const key = (claimId: string) => ({ [ALERT_DEDUPE_KEY.partition]: claimId });

  async function claim(claimId: string, message: AlertMessage, token: string): Promise<boolean> {
    const at = now();
    const { incident_id, step, rule, severity, user_id } = message.attributes;
    // One command object: every attempt sends the same token.
    try {
      const put = new PutCommand({
        TableName: config.alertDedupeTable,
        Item: {
          ...key(claimId),
          status: 'sending',
          claim_token: token,
          claimed_at: at,
          user_id,
          incident_id,
          step,
          rule_id: rule,
          severity,
          [TTL_ATTRIBUTE]: Math.floor(at / 1000) + config.ttlSeconds,
        },
        // `#token = :token`: when our PutItem was written but answered with an error, the retry finds
        // our own claim, which is ours to keep, not "claimed elsewhere".
        ConditionExpression:
          'attribute_not_exists(#id) OR (#status = :sending AND (#claimedAt < :staleBefore OR #token = :token))',
        ExpressionAttributeNames: {
          '#id': ALERT_DEDUPE_KEY.partition,
          '#status': 'status',
          '#claimedAt': 'claimed_at',
          '#token': 'claim_token',
        },
        ExpressionAttributeValues: {
          ':sending': 'sending',
          ':staleBefore': at - config.leaseMs,
          ':token': token,
        },
      });
      await patiently(() => dynamo.send(put));
      return true;
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }

  /** Why a claim failed: the email was sent, or someone holds a live claim on it. */
  async function claimHolder(claimId: string): Promise<'sent' | 'sending'> {
    const result = await dynamo.send(
      new GetCommand({ TableName: config.alertDedupeTable, Key: key(claimId), ConsistentRead: true }),
    );
    return result.Item?.status === 'sent' ? 'sent' : 'sending';
  }

  /**
   * Claims the email; a claim held elsewhere is polled (see HOLDER_POLL_DELAYS_MS) until it is sent,
   * let go (a failed Publish releases it) or stale, whichever comes first. Returns the token we hold,
   * or why we hold none.
   */
  async function claimOrWait(
    claimId: string,
    message: AlertMessage,
    wait: boolean,
  ): Promise<{ token: string } | { outcome: Exclude<AlertOutcome, 'sent'> }> {
    const delays = wait ? HOLDER_POLL_DELAYS_MS : [];
    for (let poll = 0; ; poll++) {
      const token = randomUUID();
      if (await claim(claimId, message, token)) return { token };
      if ((await claimHolder(claimId)) === 'sent') return { outcome: 'already-sent' };
      const delay = delays[poll];
      if (delay === undefined) return { outcome: 'claimed-elsewhere' };
      await sleep(delay);
    }
  }

  return async (claimId, message, options = {}) => {
    const claimed = await claimOrWait(claimId, message, options.wait ?? true);
    if ('outcome' in claimed) return claimed.outcome;
    const { token } = claimed;
    let messageId: string | undefined;
    try {
      const published = await config.sns.send(
        new PublishCommand({
          TopicArn: config.topicArn,
          Subject: message.subject,
          Message: message.body,
          MessageAttributes: Object.fromEntries(
            Object.entries(message.attributes).map(([name, value]) => [
              name,
              { DataType: 'String', StringValue: value },
            ]),
          ),
        }),
      );
      messageId = published.MessageId;
    } catch (publishError) {
      // Release the claim so the retry sends the email; keep it if even that fails (the lease expires).
      await dynamo
        .send(
          new DeleteCommand({
            TableName: config.alertDedupeTable,
            Key: key(claimId),
            ConditionExpression: 'claim_token = :token',
            ExpressionAttributeValues: { ':token': token },
          }),
        )
        .catch((error: unknown) =>
          logger.warn('could not release alert claim', { alertId: claimId, error: String(error) }),
        );
      throw publishError;
    }
    try {
      const mark = new UpdateCommand({
        TableName: config.alertDedupeTable,
        Key: key(claimId),
        UpdateExpression: 'SET #status = :sent, message_id = :messageId, sent_at = :sentAt',
        ConditionExpression: 'claim_token = :token',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':sent': 'sent',
          ':messageId': messageId ?? '',
          ':sentAt': now(),
          ':token': token,
        },
      });
      await patiently(() => dynamo.send(mark));
    } catch (error) {
      // The email is out; failing the record now would only resend it once the lease expires.
      logger.error('alert sent but not marked; a takeover after the lease would send it again', {
        alertId: claimId,
        error: String(error),
      });
    }
    logger.info('alert sent', {
      alertId: claimId,
      severity: message.attributes.severity,
      step: message.attributes.step,
      messageId,
    });
    return 'sent';
  };
}
