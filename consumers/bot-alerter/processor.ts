/**
 * The bot alerter's record processor: for each user seen on the user-activity stream, read the user's
 * merged windows around the changed ones (never one shard's partial), evaluate the rules over their
 * horizons, and group what breaks into the user's incident (incidents.ts): one email when it opens, a
 * follow-up when it gets worse, a summary when it closes.
 *
 * A partial for window W changes every horizon that holds W: those evaluated at W and at the user's
 * windows up to one horizon after it (core/horizon.ts). So the alerter reads the user's windows from one
 * longest horizon before the earliest changed window to one after the latest, and evaluates each
 * affected window. Whichever partial of a horizon arrives last, its evaluation sees all of them: the
 * aggregator merged each one before putting it on the stream, and the read is consistent.
 *
 * Incidents close on event time: after each batch the alerter raises the watermark (the latest window
 * end seen) and closes the open incidents it has left quiet. The end of a replay is signalled by
 * invoking the handler with `{"endOfStream": true}` (the local pipeline does so when it drains), which
 * closes every open incident.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import type { AlertContext } from '../../core/alert-message.ts';
import { DEFAULT_TTL_DAYS } from '../../core/dynamo-tables.ts';
import { toIsoSeconds } from '../../core/event.ts';
import { DEFAULT_INCIDENT_SETTINGS, type IncidentSettings } from '../../core/incident.ts';
import { type AlertRule, evaluateUserWindows, type HorizonMatch, ruleHorizons } from '../../core/rules.ts';
import { ConsumerError } from '../errors.ts';
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
import { readUserWindows } from '../user-activity-item.ts';
import { createDelivery } from './delivery.ts';
import { createIncidentStore } from './incident-store.ts';
import { createIncidentKeeper, type IncidentCounters } from './incidents.ts';

export const ALERTER_NAME = CONSUMER_SERVICES.alerter;
/** Longer than the alerter's Lambda timeout, so a live invocation never loses its claim. */
export const DEFAULT_CLAIM_LEASE_MS = 120_000;
/** How long the end of a stream waits for emails other invocations are still sending. */
const END_OF_STREAM_WAIT_MS = 60_000;

export interface AlerterConfig extends AlertContext {
  dynamo: DynamoDBDocumentClient;
  sns: SNSClient;
  userActivityTable: string;
  alertDedupeTable: string;
  topicArn: string;
  rules: readonly AlertRule[];
  incidents?: IncidentSettings;
  ttlDays?: number;
  claimLeaseMs?: number;
  /** Users evaluated in parallel. */
  concurrency?: number;
  logger?: Logger;
  /** Powertools Metrics in Lambda; none = no metrics (local runs). */
  metrics?: PublishingMetrics;
  now?: () => number;
}

/** What the handler takes besides Kinesis batches: the end of a replay, to close every open incident. */
export interface EndOfStreamEvent {
  endOfStream: true;
}

export function isEndOfStream(event: unknown): event is EndOfStreamEvent {
  return typeof event === 'object' && event !== null && (event as EndOfStreamEvent).endOfStream === true;
}

export interface AlerterSummary extends Omit<IncidentCounters, 'sent' | 'duplicatesSuppressed'> {
  records: number;
  malformed: number;
  evaluated: number;
  missingTotals: number;
  /** Emails sent, and deliveries found already sent (retries, redeliveries). */
  sent: number;
  duplicatesSuppressed: number;
  failedRecords: number;
}

export interface AlerterProcessor {
  process(event: KinesisStreamEvent): Promise<{ batchItemFailures: KinesisStreamBatchItemFailure[] }>;
  /** Closes every open incident: the replay has ended. */
  endOfStream(): Promise<{ batchItemFailures: KinesisStreamBatchItemFailure[] }>;
  summary(): AlerterSummary;
}

interface PartialKey {
  user_id: string;
  window_start: string;
  /** Epoch ms the window ends at: what the watermark is made of. */
  windowEndMs: number;
}

function readPartialKey(record: KinesisStreamRecord): PartialKey | undefined {
  try {
    const value: unknown = JSON.parse(recordText(record));
    if (typeof value !== 'object' || value === null) return undefined;
    const { user_id, window_start, window_seconds } = value as Record<string, unknown>;
    if (typeof user_id !== 'string' || user_id === '' || typeof window_start !== 'string') return undefined;
    const startMs = Date.parse(window_start);
    if (Number.isNaN(startMs) || typeof window_seconds !== 'number') return undefined;
    return { user_id, window_start, windowEndMs: startMs + window_seconds * 1000 };
  } catch {
    return undefined;
  }
}

export function createAlerterProcessor(config: AlerterConfig): AlerterProcessor {
  const logger = config.logger ?? silentLogger;
  const metrics = config.metrics ?? noMetrics;
  const now = config.now ?? Date.now;
  const ttlSeconds = (config.ttlDays ?? DEFAULT_TTL_DAYS) * 86_400;
  const deliver = createDelivery({
    dynamo: config.dynamo,
    sns: config.sns,
    alertDedupeTable: config.alertDedupeTable,
    topicArn: config.topicArn,
    ttlSeconds,
    leaseMs: config.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS,
    logger,
    now,
  });
  const store = createIncidentStore({
    dynamo: config.dynamo,
    tableName: config.alertDedupeTable,
    ttlSeconds,
    now,
  });
  const keeper = createIncidentKeeper({
    config,
    settings: config.incidents ?? DEFAULT_INCIDENT_SETTINGS,
    store,
    deliver,
    logger,
    now,
  });
  const totals = { records: 0, malformed: 0, evaluated: 0, missingTotals: 0, failedRecords: 0 };

  async function evaluateUser(group: UserGroup): Promise<number> {
    totals.evaluated += group.changed.size;
    const { matches, missing } = await evaluateStoredUser(config, group.userId, group.changed);
    for (const start of missing) {
      // The aggregator merges before it puts the partial, so only TTL expiry gets here.
      totals.missingTotals++;
      logger.warn('no merged total for partial (expired?)', { user_id: group.userId, window_start: start });
    }
    return matches.length > 0 ? keeper.apply(group.userId, matches) : 0;
  }

  function reportSent(sent: number): void {
    if (sent > 0) countMetric(metrics, CUSTOM_METRICS.alertsSent.name, sent);
  }

  return {
    summary: () => {
      const incidents = keeper.counters();
      return { ...totals, ...incidents };
    },

    async process(event) {
      const groups = new Map<string, UserGroup>();
      let watermarkMs = Number.NEGATIVE_INFINITY;
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
        watermarkMs = Math.max(watermarkMs, key.windowEndMs);
      }
      const failures: KinesisStreamBatchItemFailure[] = [];
      let sent = 0;
      // Each group catches its own failure, so every group has finished when map resolves.
      await pLimit(config.concurrency ?? 8).map([...groups.values()], async (group) => {
        try {
          // Not `sent += await …`: that reads `sent` before the await and loses concurrent additions.
          const emails = await evaluateUser(group);
          sent += emails;
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
      if (groups.size > 0) {
        // A failure here fails the whole batch: its records are retried, and everything above is
        // idempotent, so the retry redoes only what did not happen.
        const watermark = await store.advanceWatermark(watermarkMs);
        const closed = await keeper.closeQuiet(watermark, false);
        sent += closed.sent;
        logger.debug('watermark', { watermark: toIsoSeconds(watermark) });
      }
      reportSent(sent);
      return { batchItemFailures: failures };
    },

    async endOfStream() {
      let sent = 0;
      const deadline = now() + END_OF_STREAM_WAIT_MS;
      for (let round = 0; ; round++) {
        const closed = await keeper.closeQuiet(Number.POSITIVE_INFINITY, true);
        sent += closed.sent;
        if (closed.pending === 0) break;
        // Another invocation (a timed-out one's late work, say) holds an email of these incidents.
        if (now() >= deadline) {
          reportSent(sent);
          throw new ConsumerError(
            `${closed.pending} incidents could not close: their emails are being sent elsewhere; invoke again`,
          );
        }
        await sleep(Math.min(2_000, 100 * 2 ** round));
      }
      reportSent(sent);
      logger.info('end of stream: open incidents closed', { emails: sent });
      return { batchItemFailures: [] };
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
