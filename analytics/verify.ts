/**
 * `clickstream verify`: what the pipeline produced, compared with ground truth computed straight from
 * the source CSV (source-truth.ts). The truth side reads the CSV with a reader of its own
 * (source-lines.ts), never the producer's, and folds it with the aggregator's own fold (one window, no
 * shards), a partition of users at a time when the file is big. The producer's
 * reader reads the same file too, and verify fails when the two disagree on how many rows it holds, or
 * when the rows counted plus the rows the producer rejects fall short of them: a reader that swallows
 * rows cannot pass by losing the same rows on both sides.
 */

import { readFile } from 'node:fs/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient, createS3Client } from '../adapters/clients.ts';
import type { RunContext } from '../adapters/run-context.ts';
import { clientOptions } from '../adapters/target.ts';
import { isSpilledWindowItem, totalsOfItems } from '../consumers/user-activity-item.ts';
import { DEFAULT_WINDOW_SECONDS, type UserWindowTotal } from '../core/aggregate.ts';
import { ClickstreamError } from '../core/errors.ts';
import { EVENT_TYPES, type EventType } from '../core/event.ts';
import { parseS3Url } from '../core/resources.ts';
import { SYNTHETIC_TRUTH_FORMAT, type SyntheticTruth } from '../core/synthetic.ts';
import type { QueryEngine } from './engine.ts';
import { runNamedQuery } from './named-queries.ts';
import { createPartitionSpill } from './partition-spill.ts';
import { openEngine } from './query.ts';
import {
  computeSourceTruth,
  type PartitionTruth,
  type SourceTruth,
  userSampler,
  windowKey,
} from './source-truth.ts';

export interface VerifyCheck {
  name: string;
  expected: number | string;
  actual: number | string;
  ok: boolean;
  detail?: string;
}

export interface VerifySummary {
  passed: boolean;
  checks: VerifyCheck[];
  /** Emails and incidents from the alert-dedupe table, scored per bot kind with --truth. */
  alerts: AlertScore;
  source: string;
  durationMs: number;
}

/**
 * Parallel-segment scan, a page at a time: DynamoDB serves each segment from its own partitions, and a
 * caller that keeps only what it needs of each page holds one page per segment, not the table.
 */
async function scanPages(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  onPage: (items: Array<Record<string, unknown>>) => void,
  options: { segments?: number; pageSize?: number } = {},
): Promise<void> {
  const segments = options.segments ?? 4;
  await Promise.all(
    Array.from({ length: segments }, async (_, segment) => {
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await dynamo.send(
          new ScanCommand({
            TableName: tableName,
            Segment: segment,
            TotalSegments: segments,
            ExclusiveStartKey,
            ...(options.pageSize ? { Limit: options.pageSize } : {}),
          }),
        );
        onPage(page.Items ?? []);
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
    }),
  );
}

/** Every item of a table, for the small ones (the alert-dedupe table) and tests. */
export async function scanAll(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  segments = 4,
): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  await scanPages(dynamo, tableName, (page) => items.push(...page), { segments });
  return items;
}

/**
 * Every stored (user, window) total, handed to `visit` one at a time, for readers of the whole
 * user-activity table (verify, the demo): a window that fits one item becomes a total as its page
 * arrives and is dropped, so memory does not grow with the table; only the rare windows that spilled
 * into overflow items are kept until the scan ends, since their items can come in any page.
 * Meant for a table nobody is writing to (after a drain): a scan is no snapshot.
 */
export async function forEachStoredTotal(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  visit: (total: UserWindowTotal) => void,
  options: { segments?: number; pageSize?: number } = {},
): Promise<void> {
  const spilled: Array<Record<string, unknown>> = [];
  await scanPages(
    dynamo,
    tableName,
    (page) => {
      const whole = page.filter((item) => {
        if (!isSpilledWindowItem(item)) return true;
        spilled.push(item);
        return false;
      });
      for (const total of totalsOfItems(whole)) visit(total);
    },
    options,
  );
  for (const total of totalsOfItems(spilled)) visit(total);
}

/** What the user-activity table holds, summed without holding it: the demo's aggregate line. */
export interface StoredTotalsSummary {
  byType: Record<EventType, number>;
  windows: number;
  /** A user with a stored window (the first scanned), for sample queries; undefined when empty. */
  someUser: string | undefined;
}

export async function summarizeStoredTotals(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
): Promise<StoredTotalsSummary> {
  const summary: StoredTotalsSummary = { byType: emptyCountsByType(), windows: 0, someUser: undefined };
  await forEachStoredTotal(dynamo, tableName, (total) => {
    addToCountsByType(summary.byType, total);
    summary.windows++;
    summary.someUser ??= total.user_id;
  });
  return summary;
}

/** One alert email the alerter marked sent, from the alert-dedupe table. */
export interface SentAlert {
  user_id: string;
  /** The incident the email belongs to. */
  incident_id: string;
}

/** Every alert email marked sent (a claim still `sending` was not, or not yet, sent). */
export async function readSentAlerts(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
): Promise<SentAlert[]> {
  const sent: SentAlert[] = [];
  for (const item of await scanAll(dynamo, tableName)) {
    if (item.status !== 'sent') continue;
    const userId = typeof item.user_id === 'string' ? item.user_id : '';
    sent.push({
      user_id: userId,
      incident_id: typeof item.incident_id === 'string' ? item.incident_id : userId,
    });
  }
  return sent;
}

/** How the alerts score against the generator's ground truth (null without one). */
export interface AlertScore {
  emails: number;
  incidents: number;
  /** Per bot kind: bots injected, and how many of them have an incident. */
  byKind: Record<string, { injected: number; alerted: number }> | null;
  /** Incidents of users who are not bots (heavy shoppers included). */
  falseAlerts: number | null;
}

export function scoreAlerts(sent: readonly SentAlert[], groundTruth?: SyntheticTruth): AlertScore {
  const incidents = new Map<string, string>();
  for (const alert of sent) incidents.set(alert.incident_id, alert.user_id);
  const score: AlertScore = {
    emails: sent.length,
    incidents: incidents.size,
    byKind: null,
    falseAlerts: null,
  };
  if (!groundTruth) return score;
  const alerted = new Set(incidents.values());
  const byKind: Record<string, { injected: number; alerted: number }> = {};
  for (const kind of groundTruth.botKinds) byKind[kind.kind] = { injected: 0, alerted: 0 };
  for (const bot of groundTruth.bots) {
    const entry = byKind[bot.kind] ?? { injected: 0, alerted: 0 };
    byKind[bot.kind] = entry;
    entry.injected++;
    if (alerted.has(bot.user_id)) entry.alerted++;
  }
  const bots = new Set(groundTruth.bots.map((bot) => bot.user_id));
  score.byKind = byKind;
  score.falseAlerts = [...incidents.values()].filter((user) => !bots.has(user)).length;
  return score;
}

export async function alertScore(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  groundTruth?: SyntheticTruth,
): Promise<AlertScore> {
  return scoreAlerts(await readSentAlerts(dynamo, tableName), groundTruth);
}

/** One check per bot kind (all injected bots alerted) and one for false alerts. */
export function alertChecks(
  score: AlertScore,
  sent: readonly SentAlert[],
  groundTruth: SyntheticTruth,
): VerifyCheck[] {
  const checks = Object.entries(score.byKind ?? {})
    .filter(([, entry]) => entry.injected > 0)
    .map(([kind, entry]) => check(`injected bots alerted: ${kind}`, entry.injected, entry.alerted));
  const bots = new Set(groundTruth.bots.map((bot) => bot.user_id));
  const falseUser = sent.find((alert) => !bots.has(alert.user_id))?.user_id;
  checks.push({
    ...check('false alerts (incidents of normal users)', 0, score.falseAlerts ?? 0),
    ...(falseUser ? { detail: `e.g. user ${falseUser}` } : {}),
  });
  return checks;
}

/** True when a stored window total equals the source's in every compared field (revenue to 1e-6). */
export function sameWindowTotal(actual: UserWindowTotal, expected: UserWindowTotal): boolean {
  return TOTAL_FIELDS.every((field) => Math.abs(actual[field] - expected[field]) <= 1e-6);
}

const TOTAL_FIELDS = [
  'view_count',
  'cart_count',
  'remove_from_cart_count',
  'purchase_count',
  'total_count',
  'distinct_sessions',
  'distinct_products',
  'revenue',
] as const;

export interface VerifyInputs {
  truth: SourceTruth;
  dynamo: DynamoDBDocumentClient;
  userActivityTable: string;
  alertDedupeTable: string;
  engine: QueryEngine;
  groundTruth?: SyntheticTruth;
  sampleShare?: number;
  signal?: AbortSignal;
  /** Told each partition of users compared (only when the truth has more than one). */
  onPartitionCompared?: (done: number, total: number) => void;
}

export async function runChecks(inputs: VerifyInputs): Promise<VerifyCheck[]> {
  const { truth } = inputs;
  const checks: VerifyCheck[] = [];
  const sampled = userSampler(inputs.sampleShare ?? 1);
  const dynamoByType = emptyCountsByType();
  const windows = createWindowComparison();
  const visitorsPerDay = new Map<string, number>();
  const addVisitors = (partition: PartitionTruth) => {
    for (const [day, users] of partition.visitorsPerDay)
      visitorsPerDay.set(day, (visitorsPerDay.get(day) ?? 0) + users);
  };
  if (truth.partitions === 1) {
    // Compared as the scan goes: verify holds the source's totals and the keys it found, never the table.
    const expected = await truth.partition(0);
    addVisitors(expected);
    await forEachStoredTotal(inputs.dynamo, inputs.userActivityTable, (actual) => {
      addToCountsByType(dynamoByType, actual);
      if (sampled(actual.user_id)) windows.compare(actual, expected.windows);
    });
    windows.endPartition(expected.windows);
  } else {
    // A big source: the stored totals are parked by user partition as the scan goes, then each
    // partition's are compared with that partition's truth, one partition in memory at a time.
    const stored = createPartitionSpill(truth.partitions, 'verify-stored');
    try {
      await forEachStoredTotal(inputs.dynamo, inputs.userActivityTable, (actual) => {
        addToCountsByType(dynamoByType, actual);
        if (sampled(actual.user_id)) stored.add(truth.partitionOf(actual.user_id), JSON.stringify(actual));
      });
      for (let index = 0; index < truth.partitions; index++) {
        // Ctrl-C stops between partitions: a full month has hundreds of them.
        inputs.signal?.throwIfAborted();
        const expected = await truth.partition(index);
        addVisitors(expected);
        for await (const line of stored.lines(index))
          windows.compare(JSON.parse(line) as UserWindowTotal, expected.windows);
        windows.endPartition(expected.windows);
        inputs.onPartitionCompared?.(index + 1, truth.partitions);
      }
    } finally {
      stored.dispose();
    }
  }
  checks.push({
    ...check("source rows (verify's reader = the producer's)", truth.rows, truth.producer.rows),
    ...(truth.rows !== truth.producer.rows
      ? {
          detail: `read line by line, the file holds ${truth.rows} rows; the producer's reader sees ${truth.producer.rows}, so ${Math.abs(truth.rows - truth.producer.rows)} rows are lost or made up before any counting`,
        }
      : {}),
  });
  const counted = EVENT_TYPES.reduce((sum, type) => sum + dynamoByType[type], 0);
  checks.push({
    ...check('source rows = counted + rejected', truth.rows, counted + truth.producer.rejected),
    ...(truth.rows !== counted + truth.producer.rejected
      ? {
          detail: `${counted} events counted in DynamoDB + ${truth.producer.rejected} rows the producer rejects`,
        }
      : {}),
  });
  for (const type of EVENT_TYPES) {
    checks.push(check(`DynamoDB ${type} events`, truth.byType[type], dynamoByType[type]));
  }

  checks.push(windows.check(inputs.sampleShare ?? 1));

  // Distinct ids: an event a resumed producer sent twice is in the lake twice, and counts once.
  const lakeTypes = await inputs.engine.query(
    'SELECT event_type, count(DISTINCT event_id) AS n FROM events GROUP BY event_type',
    {
      ...(inputs.signal ? { signal: inputs.signal } : {}),
    },
  );
  const lakeByType = new Map(lakeTypes.rows.map((row) => [String(row.event_type), Number(row.n)]));
  checks.push(
    check(
      'lake events',
      truth.accepted,
      [...lakeByType.values()].reduce((a, b) => a + b, 0),
    ),
  );

  const visitors = await runNamedQuery(
    inputs.engine,
    'unique_visitors_per_day',
    {},
    inputs.signal ? { signal: inputs.signal } : {},
  );
  const lakeVisitors = new Map(
    visitors.rows.map((row) => [String(row.event_date), Number(row.unique_visitors)]),
  );
  for (const [day, expected] of [...visitorsPerDay].sort()) {
    checks.push(check(`unique visitors ${day}`, expected, lakeVisitors.get(day) ?? 0));
  }

  if (inputs.groundTruth) {
    const sent = await readSentAlerts(inputs.dynamo, inputs.alertDedupeTable);
    checks.push(...alertChecks(scoreAlerts(sent, inputs.groundTruth), sent, inputs.groundTruth));
  }
  return checks;
}

/**
 * The per-user window check, fed a partition of users at a time: every stored total of a sampled user
 * is compared with the source's, and what the source has that was not stored is missing. Holds only the
 * keys found in the current partition.
 */
function createWindowComparison() {
  let found = new Set<string>();
  let expectedWindows = 0;
  let mismatched = 0;
  let extra = 0;
  let firstMismatch: string | undefined;
  return {
    compare(actual: UserWindowTotal, expected: ReadonlyMap<string, UserWindowTotal>): void {
      const key = windowKey(actual.user_id, actual.window_start);
      const total = expected.get(key);
      if (!total) {
        extra++;
        return;
      }
      found.add(key);
      if (!sameWindowTotal(actual, total)) {
        mismatched++;
        firstMismatch ??= `${key}: expected ${JSON.stringify(pick(total))}, got ${JSON.stringify(pick(actual))}`;
      }
    },
    /** The partition's windows that were never stored count as mismatched. */
    endPartition(expected: ReadonlyMap<string, UserWindowTotal>): void {
      expectedWindows += expected.size;
      for (const [key, total] of expected) {
        if (found.has(key)) continue;
        mismatched++;
        firstMismatch ??= `${key}: expected ${JSON.stringify(pick(total))}, got nothing`;
      }
      found = new Set();
    },
    check(sampleShare: number): VerifyCheck {
      return {
        name: `per-user window totals${sampleShare < 1 ? ` (sample ${sampleShare})` : ''}`,
        expected: expectedWindows,
        actual: expectedWindows - mismatched + extra,
        ok: mismatched === 0 && extra === 0,
        ...(firstMismatch
          ? { detail: firstMismatch }
          : extra
            ? { detail: `${extra} windows not in the source` }
            : {}),
      };
    },
  };
}

function emptyCountsByType(): Record<EventType, number> {
  return Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
}

/** Adds a stored total to the per-type sums: what the pipeline counted. */
function addToCountsByType(byType: Record<EventType, number>, total: UserWindowTotal): void {
  byType.view += total.view_count;
  byType.cart += total.cart_count;
  byType.remove_from_cart += total.remove_from_cart_count;
  byType.purchase += total.purchase_count;
}

function check(name: string, expected: number, actual: number): VerifyCheck {
  return { name, expected, actual, ok: expected === actual };
}

function pick(total: UserWindowTotal) {
  return Object.fromEntries(TOTAL_FIELDS.map((field) => [field, total[field]]));
}

export async function loadGroundTruth(location: string, s3?: S3Client): Promise<SyntheticTruth> {
  const url = parseS3Url(location);
  const text = url
    ? await (
        await s3!.send(new GetObjectCommand({ Bucket: url.bucket, Key: url.key }))
      ).Body!.transformToString()
    : await readFile(location, 'utf8');
  let truth: Partial<SyntheticTruth> | undefined;
  try {
    truth = JSON.parse(text);
  } catch {
    truth = undefined;
  }
  if (truth?.format !== SYNTHETIC_TRUTH_FORMAT) {
    const found = typeof truth?.format === 'string' ? `format ${truth.format}` : 'no ground-truth file';
    throw new ClickstreamError(
      `${location} is ${found}; verify reads ${SYNTHETIC_TRUTH_FORMAT}`,
      'regenerate the data with `clickstream generate`: it writes the truth file next to the CSV',
    );
  }
  return truth as SyntheticTruth;
}

export interface VerifyOptions {
  source?: string;
  truth?: string;
  sample?: string;
  windowSeconds?: string;
  engine?: string;
}

export async function verify(options: VerifyOptions, context: RunContext): Promise<VerifySummary> {
  const started = performance.now();
  if (!options.source)
    throw new ClickstreamError(
      '--source is required',
      'the CSV that was replayed, e.g. --source s3://bucket/2019-Oct.csv',
    );
  const sampleShare = options.sample === undefined ? 1 : Number(options.sample);
  if (!(sampleShare > 0 && sampleShare <= 1)) {
    throw new ClickstreamError(
      `--sample must be a share in (0, 1], got "${options.sample}"`,
      'e.g. --sample 0.01 checks 1% of users',
    );
  }
  const windowSeconds = Number(options.windowSeconds ?? DEFAULT_WINDOW_SECONDS);
  const target = await context.target();
  const s3 = createS3Client(clientOptions(target, 's3'));
  const dynamo = createDynamoClient(clientOptions(target, 'dynamodb'));
  const { engine } = await openEngine(options.engine ? { engine: options.engine } : {}, target);
  let truth: SourceTruth | undefined;
  try {
    context.info(`computing ground truth from ${options.source}…`);
    const reading = context.progress('verify: reading the source', { unit: 'MB' });
    try {
      truth = await computeSourceTruth({
        source: options.source,
        s3,
        windowSeconds,
        sampleShare,
        signal: context.signal,
        onSourceRead: (read, total) => {
          if (total) reading.setTotal(Math.max(1, Math.round(total / 1e6)));
          reading.update(Math.round(read / 1e6));
        },
      });
    } finally {
      reading.stop();
    }
    if (truth.partitions > 1)
      context.info(
        `the source's users are compared in ${truth.partitions} partitions, one in memory at a time (${Math.round(truth.spilledBytes / 1e6)} MB parked on disk)`,
      );
    const groundTruth = options.truth ? await loadGroundTruth(options.truth, s3) : undefined;
    const comparing =
      truth.partitions > 1
        ? context.progress('verify: comparing', { total: truth.partitions, unit: 'partitions' })
        : undefined;
    let checks: VerifyCheck[];
    try {
      checks = await runChecks({
        truth,
        dynamo,
        userActivityTable: target.names.userActivityTable,
        alertDedupeTable: target.names.alertDedupeTable,
        engine,
        sampleShare,
        signal: context.signal,
        ...(groundTruth ? { groundTruth } : {}),
        ...(comparing ? { onPartitionCompared: (done: number) => comparing.update(done) } : {}),
      });
    } finally {
      comparing?.stop();
    }
    return {
      passed: checks.every((c) => c.ok),
      checks,
      alerts: await alertScore(dynamo, target.names.alertDedupeTable, groundTruth),
      source: options.source,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    truth?.dispose();
    await engine.close();
    s3.destroy();
    dynamo.destroy();
  }
}
