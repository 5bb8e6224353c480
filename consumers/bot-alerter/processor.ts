/**
 * The bot alerter's record processor: for each user seen on the user-activity stream, read the user's
 * merged windows around the changed ones (never one shard's partial), evaluate the rules over their
 * horizons, and send each broken rule's alert once.
 *
 * A partial for window W changes every horizon that holds W: those evaluated at W and at the user's
 * windows up to one horizon after it (core/horizon.ts). So the alerter reads the user's windows from one
 * longest horizon before the earliest changed window to one after the latest, and evaluates each
 * affected window. Whichever partial of a horizon arrives last, its evaluation sees all of them: the
 * aggregator merged each one before putting it on the stream, and the read is consistent.
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
import type { UserWindowPartial } from '../../core/aggregate.ts';
import { type AlertContext, buildAlertMessage } from '../../core/alert-message.ts';
import { toIsoSeconds } from '../../core/event.ts';
import { type AlertRule, evaluateUserWindows, type HorizonMatch, ruleHorizons } from '../../core/rules.ts';
import { forEachLimited } from '../concurrency.ts';
import { ConsumerError, isAwsError } from '../errors.ts';
import type {
  KinesisStreamBatchItemFailure,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from '../kinesis-event.ts';
import { recordText } from '../kinesis-event.ts';
import { type Logger, silentLogger } from '../logger.ts';
import { emfCount, METRIC_NAMES } from '../metrics.ts';
import { ALERT_DEDUPE_KEY, DEFAULT_TTL_DAYS, TTL_ATTRIBUTE } from '../tables.ts';
import { readUserWindows } from '../user-activity-item.ts';

export const ALERTER_NAME = 'bot-alerter';
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
  /** Users evaluated in parallel. */
  concurrency?: number;
  logger?: Logger;
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

  async function claim(id: string, match: HorizonMatch, token: string): Promise<boolean> {
    const total = match.total;
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
            horizon_minutes: total.horizon_minutes,
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

  async function deliver(match: HorizonMatch): Promise<AlertOutcome> {
    const total = match.total;
    const id = alertId(total.user_id, total.window_start, match.rule.id);
    const token = randomUUID();
    if (!(await claim(id, match, token))) {
      return (await claimHolder(id)) === 'sent' ? 'already-sent' : 'claimed-elsewhere';
    }
    const message = buildAlertMessage(match, config);
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
  async function evaluateUser(group: UserGroup, invocation: { sent: number }): Promise<void> {
    totals.evaluated += group.changed.size;
    const { matches, missing } = await evaluateStoredUser(config, group.userId, group.changed);
    for (const start of missing) {
      // The aggregator merges before it puts the partial, so only TTL expiry gets here.
      totals.missingTotals++;
      logger.warn('no merged total for partial (expired?)', { user_id: group.userId, window_start: start });
    }
    let pendingElsewhere = 0;
    for (const match of matches) {
      const outcome = await deliver(match);
      if (outcome === 'sent') {
        totals.sent++;
        invocation.sent++;
      } else if (outcome === 'already-sent') totals.duplicatesSuppressed++;
      else pendingElsewhere++;
    }
    if (pendingElsewhere > 0) {
      throw new ConsumerError(`${pendingElsewhere} alerts for ${group.userId} are claimed by a live attempt`);
    }
  }

  return {
    summary: () => ({ ...totals }),
    async process(event) {
      const groups = new Map<string, UserGroup>();
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
        let group = groups.get(key.user_id);
        if (!group) {
          group = { userId: key.user_id, changed: new Set(), sequenceNumbers: [] };
          groups.set(key.user_id, group);
        }
        group.changed.add(key.window_start);
        group.sequenceNumbers.push(record.kinesis.sequenceNumber);
      }
      const failures: KinesisStreamBatchItemFailure[] = [];
      const invocation = { sent: 0 };
      await forEachLimited([...groups.values()], config.concurrency ?? 8, async (group) => {
        try {
          await evaluateUser(group, invocation);
        } catch (error) {
          logger.warn('alert evaluation failed; the records will be retried', {
            user_id: group.userId,
            error: String(error),
          });
          for (const sequenceNumber of group.sequenceNumbers)
            failures.push({ itemIdentifier: sequenceNumber });
        }
      });
      totals.records += event.Records.length;
      totals.failedRecords += failures.length;
      if (invocation.sent > 0)
        logger.info('alerts sent', emfCount(METRIC_NAMES.alertsSent, invocation.sent, now()));
      return { batchItemFailures: failures };
    },
  };
}

/**
 * The stream path's verdict on one user: the user's merged windows read around the changed ones, and
 * every rule broken at a window whose horizon holds a change. `missing` are changed windows with no
 * stored total.
 */
export async function evaluateStoredUser(
  config: Pick<AlerterConfig, 'dynamo' | 'userActivityTable' | 'rules'>,
  userId: string,
  changed: ReadonlySet<string>,
): Promise<{ matches: HorizonMatch[]; missing: string[] }> {
  const { readFrom, readTo } = readRange(changed, Math.max(...ruleHorizons(config.rules)));
  const windows = await readUserWindows(config.dynamo, config.userActivityTable, userId, readFrom, readTo);
  const stored = new Set(windows.map((window) => window.total.window_start));
  const present = new Set([...changed].filter((start) => stored.has(start)));
  const missing = [...changed].filter((start) => !stored.has(start));
  return { matches: evaluateUserWindows(config.rules, windows, present), missing };
}

/** One user's records in a batch and the windows they changed. */
interface UserGroup {
  userId: string;
  changed: Set<string>;
  sequenceNumbers: string[];
}

/**
 * The window starts a change can matter to: one longest horizon before the earliest changed window
 * (the horizons evaluated at it) to one after the latest (the horizons that hold it). Bounds need not
 * be window starts: the Query compares ISO-8601 strings.
 */
export function readRange(
  changed: ReadonlySet<string>,
  horizonMinutes: number,
): { readFrom: string; readTo: string } {
  const starts = [...changed].map((start) => Date.parse(start));
  const reach = horizonMinutes * 60_000 - 1000;
  return {
    readFrom: toIsoSeconds(Math.min(...starts) - reach),
    readTo: toIsoSeconds(Math.max(...starts) + reach),
  };
}
