/**
 * The bot alerter's record processor: for each (user, window) seen on the user-activity stream, read
 * the merged total (never one shard's partial), evaluate the rules, and send each broken rule's alert
 * once.
 *
 * Exactly one email per (user, window, rule), as far as SNS allows. A standard topic (email needs one)
 * has no deduplication, so the alert-dedupe item is a claim with a state machine:
 *   1. claim: PutItem `status = sending` with a fresh token, only if no item exists or the existing
 *      claim is `sending` and older than the lease (its owner died before finishing) or already ours
 *      (a retried PutItem whose first attempt was written but answered with an error);
 *   2. Publish;
 *   3. mark: `status = sent` (conditional on our token).
 * If Publish fails, the claim is deleted and the record is reported in batchItemFailures, so the retry
 * claims again and sends: no lost alert, no duplicate. A fresh claim held by someone else fails the
 * record too (retried later), so an invocation that dies between claim and Publish does not lose the
 * alert: once its lease runs out the retry takes over. The one window left is a function that dies
 * after SNS accepted the message and before the mark: the takeover then sends a second email. We
 * prefer that duplicate to a lost alert.
 */

import { randomUUID } from 'node:crypto';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import type { UserWindowPartial, UserWindowTotal } from '../../core/aggregate.ts';
import { type AlertContext, buildAlertMessage } from '../../core/alert-message.ts';
import { type AlertRule, evaluateRules, type RuleMatch } from '../../core/rules.ts';
import { ConsumerError, isAwsError } from '../errors.ts';
import type {
  KinesisStreamBatchItemFailure,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from '../kinesis-event.ts';
import { recordText } from '../kinesis-event.ts';
import { type Logger, silentLogger } from '../logger.ts';
import {
  CONSUMER_SERVICES,
  CUSTOM_METRICS,
  countMetric,
  noMetrics,
  type PublishingMetrics,
} from '../metrics.ts';
import { ALERT_DEDUPE_KEY, DEFAULT_TTL_DAYS, TTL_ATTRIBUTE } from '../tables.ts';
import { readUserWindowTotals, userWindowKey } from '../user-activity-item.ts';

export const ALERTER_NAME = CONSUMER_SERVICES.alerter;
/** Longer than the alerter's Lambda timeout, so a live invocation never loses its claim. */
export const DEFAULT_CLAIM_LEASE_MS = 120_000;

export interface AlerterConfig extends AlertContext {
  dynamo: DynamoDBDocumentClient;
  sns: SNSClient;
  userActivityTable: string;
  alertDedupeTable: string;
  topicArn: string;
  rules: readonly AlertRule[];
  ttlDays?: number;
  claimLeaseMs?: number;
  /** (user, window) groups evaluated in parallel. */
  concurrency?: number;
  logger?: Logger;
  /** Powertools Metrics in Lambda; none = no metrics (local runs). */
  metrics?: PublishingMetrics;
  now?: () => number;
}

export type AlertOutcome = 'sent' | 'already-sent' | 'claimed-elsewhere';

export interface AlerterSummary {
  records: number;
  malformed: number;
  evaluated: number;
  missingTotals: number;
  sent: number;
  duplicatesSuppressed: number;
  failedRecords: number;
}

export interface AlerterProcessor {
  process(event: KinesisStreamEvent): Promise<{ batchItemFailures: KinesisStreamBatchItemFailure[] }>;
  summary(): AlerterSummary;
}

export function alertId(userId: string, windowStart: string, ruleId: string): string {
  return `${userId}#${windowStart}#${ruleId}`;
}

type PartialKey = Pick<UserWindowPartial, 'user_id' | 'window_start'>;

function readPartialKey(record: KinesisStreamRecord): PartialKey | undefined {
  try {
    const value: unknown = JSON.parse(recordText(record));
    if (typeof value !== 'object' || value === null) return undefined;
    const { user_id, window_start } = value as Record<string, unknown>;
    if (typeof user_id !== 'string' || user_id === '' || typeof window_start !== 'string') return undefined;
    return { user_id, window_start };
  } catch {
    return undefined;
  }
}

export function createAlerterProcessor(config: AlerterConfig): AlerterProcessor {
  const logger = config.logger ?? silentLogger;
  const metrics = config.metrics ?? noMetrics;
  const now = config.now ?? Date.now;
  const leaseMs = config.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  const ttlSeconds = (config.ttlDays ?? DEFAULT_TTL_DAYS) * 86_400;
  const totals: AlerterSummary = {
    records: 0,
    malformed: 0,
    evaluated: 0,
    missingTotals: 0,
    sent: 0,
    duplicatesSuppressed: 0,
    failedRecords: 0,
  };

  async function claim(
    id: string,
    match: RuleMatch,
    total: UserWindowTotal,
    token: string,
  ): Promise<boolean> {
    const at = now();
    try {
      await config.dynamo.send(
        new PutCommand({
          TableName: config.alertDedupeTable,
          Item: {
            [ALERT_DEDUPE_KEY.partition]: id,
            status: 'sending',
            claim_token: token,
            claimed_at: at,
            user_id: total.user_id,
            window_start: total.window_start,
            rule_id: match.rule.id,
            severity: match.rule.severity,
            value: match.value,
            [TTL_ATTRIBUTE]: Math.floor(at / 1000) + ttlSeconds,
          },
          // `#token = :token`: when our PutItem was written but answered with an error, the SDK's retry
          // finds our own claim, which is ours to keep, not "claimed elsewhere".
          ConditionExpression:
            'attribute_not_exists(#id) OR (#status = :sending AND (#claimedAt < :staleBefore OR #token = :token))',
          ExpressionAttributeNames: {
            '#id': ALERT_DEDUPE_KEY.partition,
            '#status': 'status',
            '#claimedAt': 'claimed_at',
            '#token': 'claim_token',
          },
          ExpressionAttributeValues: { ':sending': 'sending', ':staleBefore': at - leaseMs, ':token': token },
        }),
      );
      return true;
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }

  /** Why a claim failed: the alert was sent, or someone holds a live claim on it. */
  async function claimHolder(id: string): Promise<'sent' | 'sending'> {
    const result = await config.dynamo.send(
      new GetCommand({
        TableName: config.alertDedupeTable,
        Key: { [ALERT_DEDUPE_KEY.partition]: id },
        ConsistentRead: true,
      }),
    );
    return result.Item?.status === 'sent' ? 'sent' : 'sending';
  }

  async function deliver(match: RuleMatch, total: UserWindowTotal): Promise<AlertOutcome> {
    const id = alertId(total.user_id, total.window_start, match.rule.id);
    const token = randomUUID();
    if (!(await claim(id, match, total, token))) {
      return (await claimHolder(id)) === 'sent' ? 'already-sent' : 'claimed-elsewhere';
    }
    const message = buildAlertMessage(match, total, config);
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
      // Release the claim so the retry sends the alert; keep it if even that fails (the lease expires).
      await config.dynamo
        .send(
          new DeleteCommand({
            TableName: config.alertDedupeTable,
            Key: { [ALERT_DEDUPE_KEY.partition]: id },
            ConditionExpression: 'claim_token = :token',
            ExpressionAttributeValues: { ':token': token },
          }),
        )
        .catch((error: unknown) =>
          logger.warn('could not release alert claim', { alertId: id, error: String(error) }),
        );
      throw publishError;
    }
    try {
      await config.dynamo.send(
        new UpdateCommand({
          TableName: config.alertDedupeTable,
          Key: { [ALERT_DEDUPE_KEY.partition]: id },
          UpdateExpression: 'SET #status = :sent, message_id = :messageId, sent_at = :sentAt',
          ConditionExpression: 'claim_token = :token',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':sent': 'sent',
            ':messageId': messageId ?? '',
            ':sentAt': now(),
            ':token': token,
          },
        }),
      );
    } catch (error) {
      // The email is out; failing the record now would only resend it once the lease expires.
      logger.error('alert sent but not marked; a takeover after the lease would send it again', {
        alertId: id,
        error: String(error),
      });
    }
    logger.info('alert sent', { alertId: id, severity: match.rule.severity, value: match.value, messageId });
    return 'sent';
  }

  /** `invocation` counts this invocation's alerts (the handler may run for several shards at once). */
  async function evaluateGroup(
    key: PartialKey,
    total: UserWindowTotal | undefined,
    invocation: { sent: number },
  ): Promise<void> {
    totals.evaluated++;
    if (!total) {
      // The aggregator merges before it puts the partial, so only TTL expiry gets here.
      totals.missingTotals++;
      logger.warn('no merged total for partial (expired?)', { ...key });
      return;
    }
    let pendingElsewhere = 0;
    for (const match of evaluateRules(config.rules, total)) {
      const outcome = await deliver(match, total);
      if (outcome === 'sent') {
        totals.sent++;
        invocation.sent++;
      } else if (outcome === 'already-sent') totals.duplicatesSuppressed++;
      else pendingElsewhere++;
    }
    if (pendingElsewhere > 0) {
      throw new ConsumerError(
        `${pendingElsewhere} alerts for ${key.user_id} ${key.window_start} are claimed by a live attempt`,
      );
    }
  }

  return {
    summary: () => ({ ...totals }),
    async process(event) {
      const groups = new Map<string, { key: PartialKey; sequenceNumbers: string[] }>();
      for (const record of event.Records) {
        const key = readPartialKey(record);
        if (!key) {
          // Our own aggregator wrote stream 2, so this is a bug, not input: log it, do not block the shard.
          totals.malformed++;
          logger.error('malformed user-activity record skipped', {
            sequenceNumber: record.kinesis.sequenceNumber,
            data: record.kinesis.data,
          });
          continue;
        }
        const id = userWindowKey(key.user_id, key.window_start);
        const group = groups.get(id) ?? { key, sequenceNumbers: [] };
        group.sequenceNumbers.push(record.kinesis.sequenceNumber);
        groups.set(id, group);
      }
      const failures: KinesisStreamBatchItemFailure[] = [];
      const invocation = { sent: 0 };
      let merged: Map<string, UserWindowTotal>;
      try {
        merged = await readUserWindowTotals(
          config.dynamo,
          config.userActivityTable,
          [...groups.values()].map((g) => g.key),
        );
      } catch (error) {
        // Without the totals nothing can be evaluated: the whole batch is retried.
        logger.warn('reading merged totals failed; the batch will be retried', { error: String(error) });
        throw error;
      }
      // Each group catches its own failure, so every group has finished when map resolves.
      await pLimit(config.concurrency ?? 8).map([...groups.entries()], async ([id, group]) => {
        try {
          await evaluateGroup(group.key, merged.get(id), invocation);
        } catch (error) {
          logger.warn('alert evaluation failed; the records will be retried', {
            ...group.key,
            error: String(error),
          });
          for (const sequenceNumber of group.sequenceNumbers)
            failures.push({ itemIdentifier: sequenceNumber });
        }
      });
      totals.records += event.Records.length;
      totals.failedRecords += failures.length;
      if (invocation.sent > 0) countMetric(metrics, CUSTOM_METRICS.alertsSent.name, invocation.sent);
      return { batchItemFailures: failures };
    },
  };
}
