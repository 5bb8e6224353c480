/**
 * The window aggregator's record processor: folds a Kinesis batch into the tumbling-window state,
 * and when the window ends (or the state nears Lambda's 1 MB cap) merges the partials into DynamoDB and
 * puts them on the user-activity stream.
 *
 * Records may be KPL aggregates (the producer packs each shard's events into them); each event in one
 * is folded at the position `<sequence number>/<index>`, so flush points and contribution ids stay
 * per event and as deterministic as for plain records.
 *
 * Exactly once: every event carries an id (the producer's event_id), the fold keeps ids rather than
 * counts, and the DynamoDB merge is a union of id sets (user-activity-item.ts). A retried batch, a
 * re-sent final window and an event that a resumed producer sent twice all count once.
 *
 * Failure model:
 * - Malformed records are written to the dead-letter sink and skipped; they never fail the batch
 *   (see dead-letter.ts for why the on-failure destination is not enough).
 * - Any AWS error while flushing (throttling, timeouts) makes the invocation throw. Lambda then retries
 *   the same records with the state of the last successful invocation; the retry adds the same event
 *   ids again, which changes no set, so DynamoDB holds each event exactly once. We do not report
 *   batchItemFailures: with tumbling windows AWS does not document which state a partially failed
 *   batch resumes with, whereas a whole-batch retry from the checkpointed state is documented. This
 *   also holds with BisectBatchOnFunctionError, because flush points are decided per record, not per
 *   batch (core/window.ts).
 * - Without a tumbling window (no `window` in the event) every invocation flushes its own batch; then
 *   a bisected retry would cover different records under different ids, so deploy it with
 *   TumblingWindowInSeconds, or with BisectBatchOnFunctionError off.
 *
 * The parts: fold-batch.ts (records into the window state, malformed ones set aside) and flush.ts
 * (partials merged into DynamoDB, then put on the user-activity stream).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_WINDOW_SECONDS } from '../../core/aggregate.ts';
import { DEFAULT_TTL_DAYS } from '../../core/dynamo-tables.ts';
import { DEFAULT_FLUSH_AT_BYTES, type WindowState } from '../../core/window.ts';
import { type DeadLetterSink, deadLetterKey } from '../dead-letter.ts';
import { ConsumerError } from '../errors.ts';
import { type KinesisWindowEvent, shardIdOf } from '../kinesis-event.ts';
import { type Logger, silentLogger } from '../logger.ts';
import {
  CONSUMER_SERVICES,
  CUSTOM_METRICS,
  countMetric,
  noMetrics,
  type PublishingMetrics,
} from '../metrics.ts';
import type { PutRecordsOptions } from '../put-records.ts';
import { flushPartials } from './flush.ts';
import { foldBatch } from './fold-batch.ts';

export const AGGREGATOR_NAME = CONSUMER_SERVICES.aggregator;
export { DEFAULT_WRITE_CONCURRENCY } from './flush.ts';

export interface AggregatorConfig {
  dynamo: DynamoDBDocumentClient;
  kinesis: KinesisClient;
  /** DynamoDB user-activity table. */
  tableName: string;
  /** The user-activity stream (stream 2). */
  streamName: string;
  deadLetter: DeadLetterSink;
  windowSeconds?: number;
  ttlDays?: number;
  /** Flush the state early once its JSON reaches this many bytes (Lambda's cap is 1 MB). */
  flushAtBytes?: number;
  /** UpdateItem calls in flight per invocation. */
  writeConcurrency?: number;
  /** Bytes of ids one DynamoDB item may hold before it spills (default ITEM_BUDGET_BYTES). */
  itemBudgetBytes?: number;
  putRecords?: PutRecordsOptions;
  logger?: Logger;
  /** Powertools Metrics in Lambda; none = no metrics (local runs). */
  metrics?: PublishingMetrics;
  /** Clock for the TTL attribute. */
  now?: () => number;
}

export interface AggregatorResponse {
  state: WindowState;
  batchItemFailures: [];
}

export interface AggregatorSummary {
  /** Kinesis records. */
  records: number;
  /** Events in them (a KPL aggregated record holds many). */
  events: number;
  accepted: number;
  malformed: number;
  partials: number;
  merged: number;
  /** DynamoDB calls the merges took (one per partial unless an item spilled). */
  mergeCalls: number;
  /** Merges that went to an overflow item (a user-window past the item size limit). */
  spilled: number;
}

export interface AggregatorProcessor {
  process(event: KinesisWindowEvent<unknown>): Promise<AggregatorResponse>;
  /** Running totals over this processor's lifetime (one Lambda execution environment). */
  summary(): AggregatorSummary;
}

export function createAggregatorProcessor(config: AggregatorConfig): AggregatorProcessor {
  const foldSettings = {
    windowSeconds: config.windowSeconds ?? DEFAULT_WINDOW_SECONDS,
    flushAtBytes: config.flushAtBytes ?? DEFAULT_FLUSH_AT_BYTES,
    logger: config.logger ?? silentLogger,
  };
  const expiry = { now: config.now ?? Date.now, ttlSeconds: (config.ttlDays ?? DEFAULT_TTL_DAYS) * 86_400 };
  const logger = foldSettings.logger;
  const metrics = config.metrics ?? noMetrics;
  const totals: AggregatorSummary = {
    records: 0,
    events: 0,
    accepted: 0,
    malformed: 0,
    partials: 0,
    merged: 0,
    mergeCalls: 0,
    spilled: 0,
  };

  return {
    summary: () => ({ ...totals }),
    async process(event) {
      const shardId = shardIdOf(event);
      const { state, partials, malformed, events, closing } = foldBatch(event, shardId, foldSettings);
      try {
        if (malformed.length > 0)
          await config.deadLetter.write(deadLetterKey(AGGREGATOR_NAME, malformed), malformed);
        const counts = await flushPartials(config, partials, expiry);
        totals.records += event.Records.length;
        totals.events += events;
        totals.accepted += events - malformed.length;
        totals.malformed += malformed.length;
        totals.partials += partials.length;
        totals.merged += counts.merged;
        totals.mergeCalls += counts.mergeCalls;
        totals.spilled += counts.spilled;
        if (counts.merged > 0) countMetric(metrics, CUSTOM_METRICS.windowsWritten.name, counts.merged);
        logger.debug('aggregated batch', {
          shardId,
          records: event.Records.length,
          events,
          malformed: malformed.length,
          partials: partials.length,
          ...counts,
          final: closing,
          stateBytes: state.bytes,
        });
        if (counts.spilled > 0) {
          // Explicit, not an error: a user so active in one window that its item passed the size
          // budget; readers merge the overflow items, so its totals stay exact.
          logger.warn('user windows spilled to DynamoDB overflow items', {
            shardId,
            spilled: counts.spilled,
          });
        }
        if (malformed.length > 0) {
          logger.warn('malformed records sent to the dead-letter target', {
            shardId,
            count: malformed.length,
            reasons: countBy(malformed.map((record) => record.reason)),
          });
        }
      } catch (cause) {
        throw new ConsumerError(
          `${AGGREGATOR_NAME}: flushing ${partials.length} partials of ${shardId} failed; Lambda retries the batch and the merge stays idempotent`,
          { cause },
        );
      }
      return { state, batchItemFailures: [] };
    },
  };
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
