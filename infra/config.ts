/**
 * Typed stack configuration, read once from CDK context (`-c key=value` or cdk.json) and validated at
 * the edge, so constructs receive plain typed props and never read context themselves.
 */
import type { Node } from 'constructs';
import { AWS_BUFFERING } from '../core/lake.ts';
import { alertSettingsFromJson, parseAlertSettings } from '../core/rules.ts';

export type StreamMode = 'provisioned' | 'on-demand';

export interface PipelineConfig {
  /** Email that receives bot alerts (SNS subscription); none = topic without subscribers. */
  alertEmail?: string;
  /** Email that receives CloudWatch alarm notifications; none = alarms without actions. */
  alarmEmail?: string;
  streamMode: StreamMode;
  /** Shards of the events stream (provisioned mode). */
  eventsShards: number;
  /** Shards of the user-activity stream (provisioned mode); by default enough for the events shards' partials. */
  userActivityShards: number;
  /** Kinesis retention; 24 h is the cheapest and covers a day of consumer outage. */
  streamRetentionHours: number;
  /** Event-time window of the per-user aggregates (LAMBDA_ENV.windowSeconds). */
  windowSeconds: number;
  /** Lambda tumbling window (arrival time), the aggregator's flush cadence. */
  tumblingWindowSeconds: number;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  retryAttempts: number;
  maxRecordAgeSeconds: number;
  /**
   * Reserve Lambda concurrency equal to the shard count (the most a Kinesis mapping with parallelization 1
   * uses). Off by default: Lambda keeps 100 executions of the account unreserved, and new accounts often
   * have a quota of 10, so any reservation fails their first deploy.
   * https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
   */
  reserveConcurrency: boolean;
  /** Alert rules and incident settings (core/rules.ts) as validated JSON for the alerter; none = its defaults. */
  alertRulesJson?: string;
  /** Days to keep DynamoDB items (TTL). */
  ttlDays: number;
  logRetentionDays: number;
  /** Athena per-query scan cutoff. */
  athenaBytesScannedCutoff: number;
  athenaResultsExpirationDays: number;
  /** Firehose buffering interval; dynamic partitioning needs ≥ 60 s and ≥ 64 MiB buffers. */
  firehoseBufferingSeconds: number;
  lakeInfrequentAccessDays: number;
  accessLogsExpirationDays: number;
}

/**
 * Partials per second the aggregator puts on the user-activity stream for each events shard that a
 * `replay --speed max` fills: 1 MiB/s of KPL-packed events at 314 bytes each is 3,343 events/s, times 0.713
 * partials per event, both measured on the real Kaggle sample with test/bench/capacity.ts (README,
 * Capacity), rounded up.
 */
export const PARTIALS_PER_SECOND_PER_EVENTS_SHARD = 2_400;
/** Kinesis: a shard takes 1,000 records/s; partials are ~400 bytes, so records, not bytes, bind. */
const SHARD_RECORDS_PER_SECOND = 1_000;

/** User-activity shards that take the partials of `eventsShards` full events shards. */
export function userActivityShardsFor(eventsShards: number): number {
  return Math.ceil((eventsShards * PARTIALS_PER_SECOND_PER_EVENTS_SHARD) / SHARD_RECORDS_PER_SECOND);
}

const DEFAULT_EVENTS_SHARDS = 2;

export const DEFAULT_CONFIG: PipelineConfig = {
  streamMode: 'provisioned',
  eventsShards: DEFAULT_EVENTS_SHARDS,
  userActivityShards: userActivityShardsFor(DEFAULT_EVENTS_SHARDS),
  streamRetentionHours: 24,
  windowSeconds: 60,
  tumblingWindowSeconds: 60,
  batchSize: 500,
  maxBatchingWindowSeconds: 5,
  retryAttempts: 3,
  maxRecordAgeSeconds: 3600,
  reserveConcurrency: false,
  ttlDays: 30,
  logRetentionDays: 30,
  athenaBytesScannedCutoff: 10 * 1024 ** 3,
  athenaResultsExpirationDays: 7,
  firehoseBufferingSeconds: AWS_BUFFERING.intervalSeconds,
  lakeInfrequentAccessDays: 30,
  accessLogsExpirationDays: 90,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Context keys this app reads; anything else under these names is a typo worth failing for. */
export const CONTEXT_KEYS = [
  'alertEmail',
  'alarmEmail',
  'streamMode',
  'eventsShards',
  'userActivityShards',
  'streamRetentionHours',
  'windowSeconds',
  'tumblingWindowSeconds',
  'batchSize',
  'maxBatchingWindowSeconds',
  'retryAttempts',
  'maxRecordAgeSeconds',
  'reserveConcurrency',
  'alertRules',
  'ttlDays',
  'logRetentionDays',
  'athenaBytesScannedCutoff',
  'athenaResultsExpirationDays',
  'firehoseBufferingSeconds',
] as const;

type Context = Partial<Record<(typeof CONTEXT_KEYS)[number], unknown>>;

export function configFromNode(node: Node): PipelineConfig {
  const context: Context = {};
  for (const key of CONTEXT_KEYS) {
    const value = node.tryGetContext(key);
    if (value !== undefined) context[key] = value;
  }
  return parseConfig(context);
}

/** Context values arrive as strings from `-c`, or as JSON values from cdk.json: accept both. */
export function parseConfig(context: Context): PipelineConfig {
  const d = DEFAULT_CONFIG;
  const streamMode = oneOf(
    'streamMode',
    context.streamMode,
    ['provisioned', 'on-demand'] as const,
    d.streamMode,
  );
  const windowSeconds = int('windowSeconds', context.windowSeconds, d.windowSeconds, 1, 86_400);
  // Kinesis: 1..(account quota) shards; 500 is the default per-region quota.
  const eventsShards = int('eventsShards', context.eventsShards, d.eventsShards, 1, 500);
  const config: PipelineConfig = {
    streamMode,
    eventsShards,
    userActivityShards: int(
      'userActivityShards',
      context.userActivityShards,
      Math.min(userActivityShardsFor(eventsShards), 500),
      1,
      500,
    ),
    // Kinesis retention: 24 h .. 365 days.
    streamRetentionHours: int(
      'streamRetentionHours',
      context.streamRetentionHours,
      d.streamRetentionHours,
      24,
      8760,
    ),
    windowSeconds,
    // AWS: TumblingWindowInSeconds ≤ 900.
    tumblingWindowSeconds: int(
      'tumblingWindowSeconds',
      context.tumblingWindowSeconds,
      Math.min(windowSeconds, 900),
      1,
      900,
    ),
    // AWS: Kinesis batch size 1..10,000; batching window 0..300 s; retries -1..10,000; record age 60..604,800 s.
    batchSize: int('batchSize', context.batchSize, d.batchSize, 1, 10_000),
    maxBatchingWindowSeconds: int(
      'maxBatchingWindowSeconds',
      context.maxBatchingWindowSeconds,
      d.maxBatchingWindowSeconds,
      0,
      300,
    ),
    retryAttempts: int('retryAttempts', context.retryAttempts, d.retryAttempts, 0, 10_000),
    maxRecordAgeSeconds: int(
      'maxRecordAgeSeconds',
      context.maxRecordAgeSeconds,
      d.maxRecordAgeSeconds,
      60,
      604_800,
    ),
    reserveConcurrency: bool('reserveConcurrency', context.reserveConcurrency, d.reserveConcurrency),
    ttlDays: int('ttlDays', context.ttlDays, d.ttlDays, 1, 3650),
    logRetentionDays: oneOf(
      'logRetentionDays',
      num(context.logRetentionDays),
      LOG_RETENTION_DAYS,
      d.logRetentionDays,
    ),
    // Athena: BytesScannedCutoffPerQuery ≥ 10 MB.
    athenaBytesScannedCutoff: int(
      'athenaBytesScannedCutoff',
      context.athenaBytesScannedCutoff,
      d.athenaBytesScannedCutoff,
      10_000_000,
      Number.MAX_SAFE_INTEGER,
    ),
    athenaResultsExpirationDays: int(
      'athenaResultsExpirationDays',
      context.athenaResultsExpirationDays,
      d.athenaResultsExpirationDays,
      1,
      3650,
    ),
    // Firehose: buffering interval 60..900 s when dynamic partitioning is on.
    firehoseBufferingSeconds: int(
      'firehoseBufferingSeconds',
      context.firehoseBufferingSeconds,
      d.firehoseBufferingSeconds,
      60,
      900,
    ),
    lakeInfrequentAccessDays: d.lakeInfrequentAccessDays,
    accessLogsExpirationDays: d.accessLogsExpirationDays,
  };
  const alertEmail = email('alertEmail', context.alertEmail);
  if (alertEmail) config.alertEmail = alertEmail;
  const alarmEmail = email('alarmEmail', context.alarmEmail);
  if (alarmEmail) config.alarmEmail = alarmEmail;
  const rules = alertRules(context.alertRules);
  if (rules) config.alertRulesJson = rules;
  return config;
}

/** The values CloudWatch Logs accepts for retention. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653,
] as const;

function num(value: unknown): unknown {
  return typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
}

function int(key: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = num(raw);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`context ${key} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function bool(key: string, raw: unknown, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new ConfigError(`context ${key} must be true or false, got ${JSON.stringify(raw)}`);
}

function oneOf<T extends string | number>(key: string, raw: unknown, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  if (!allowed.includes(raw as T)) {
    throw new ConfigError(`context ${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

function email(key: string, raw: unknown): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(raw)) {
    throw new ConfigError(`context ${key} must be an email address, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/**
 * Rules (and how their alerts group into incidents) travel to the alerter as JSON text in one env var;
 * they are validated here with the alerter's own validator, so a bad threshold or interval fails
 * `cdk synth`, not the deployed alerter. Either a rules array or `{ "rules": [...], "incidents": {...} }`.
 */
function alertRules(raw: unknown): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const settings =
      typeof raw === 'string'
        ? alertSettingsFromJson(raw, 'CDK context alertRules')
        : parseAlertSettings(raw, 'CDK context alertRules');
    return JSON.stringify(settings);
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
}
