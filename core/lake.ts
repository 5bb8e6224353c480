/**
 * The lake layout, shared by the AWS delivery streams (CDK) and the local Firehose, so both write the
 * same keys, format and types that the Glue tables in core/tables.ts declare.
 *
 * Format: Parquet with GZIP, not gzip JSON lines. Athena bills bytes scanned; on Parquet it reads only
 * the column chunks a query references (the named queries touch 1-3 of 10 event columns), and columns
 * compress far better than JSON text. GZIP rather than Snappy (Firehose's ParquetSerDe offers both):
 * Athena bills compressed bytes, and on the Kaggle sample GZIP scans 40-45% fewer bytes for the
 * session-heavy queries (test/bench/scan-bytes.ts, before dictionary encoding: 9.5x vs 5.4x fewer
 * bytes than the raw CSV); the extra CPU is Firehose's and Athena's, not billed per byte. In AWS, Firehose's record format
 * conversion turns the JSON records into Parquet with the Glue table's schema (Hive JSON SerDe in,
 * Parquet SerDe out); locally, DuckDB writes the same schema with COPY ... (FORMAT PARQUET).
 *
 * Partitioning is by EVENT date (dt = first 10 characters of the record's event time), through
 * Firehose dynamic partitioning with a JQ query, not by arrival time: a replay of October data in 2025
 * must land in dt=2019-10-xx, where the queries' date predicates and partition projection find it.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { type LakeTableName, TABLES, type TableDef } from './tables.ts';

export interface LakeLayout {
  table: TableDef;
  /** The record field whose first 10 characters (YYYY-MM-DD) are the partition. */
  partitionField: string;
  /** Firehose dynamic partitioning: the JQ-1.6 metadata extraction query. */
  partitionQuery: string;
  /** Firehose S3 prefix with the partition key placeholder. */
  prefixTemplate: string;
  /** Firehose error output prefix; `!{firehose:error-output-type}` is required with dynamic partitioning. */
  errorPrefixTemplate: string;
}

function layout(name: LakeTableName, partitionField: 'event_time' | 'window_start'): LakeLayout {
  const table = TABLES[name];
  return {
    table,
    partitionField,
    partitionQuery: `{dt: .${partitionField}[0:10]}`,
    prefixTemplate: `${table.prefix}dt=!{partitionKeyFromQuery:dt}/`,
    errorPrefixTemplate: `${ERRORS_PREFIX}${table.prefix}!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
  };
}

export const ERRORS_PREFIX = 'errors/';

export const LAKE_LAYOUTS: Readonly<Record<LakeTableName, LakeLayout>> = {
  events: layout('events', 'event_time'),
  user_activity: layout('user_activity', 'window_start'),
};

export const LAKE_FILE_FORMAT = 'parquet' as const;
export const LAKE_COMPRESSION = 'GZIP' as const;
/**
 * Dictionary encoding of the Parquet columns, which Firehose's ParquetSerDe leaves off unless asked.
 * The columns the named queries lean on repeat values within a file (sessions, users, products, the
 * few contribution ids of a flush), and a dictionary plus small indices is what brings the session-
 * heavy queries under a tenth of the raw CSV's bytes. Firehose writes with parquet-mr, which keeps a
 * column's dictionary until its page passes 1 MiB and then falls back to plain; the local writer
 * (DuckDB) is set to the same limit.
 */
export const LAKE_DICTIONARY = { enabled: true, maxPageBytes: 1024 * 1024 } as const;
/** Firehose's optional S3 FileExtension; without it converted objects have no extension. */
export const LAKE_FILE_EXTENSION = '.parquet';

/**
 * Firehose's Hive JSON SerDe (Joda patterns): our records carry `2019-10-01T00:00:00Z`, and
 * `replayed_at` has milliseconds; the default (java.sql.Timestamp.valueOf) would reject both.
 */
export const FIREHOSE_TIMESTAMP_FORMATS = [
  "yyyy-MM-dd'T'HH:mm:ss'Z'",
  "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'",
] as const;

/**
 * AWS buffering: 64 MiB is the minimum Firehose accepts with format conversion or dynamic partitioning,
 * and bigger Parquet files compress better; 60 s keeps the lake about a minute behind the stream.
 */
export const AWS_BUFFERING = { sizeMiB: 64, intervalSeconds: 60 } as const;
/** Buffering of a local Firehose started on its own (tests); the local pipeline passes the template's. */
export const LOCAL_BUFFERING = { bytes: 1024 * 1024, ms: 5000 } as const;

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/**
 * The dt partition of a record, as the JQ query extracts it, or undefined when the record has no
 * usable date (Firehose then sends it to the error prefix as `partitioning-failed`). We also reject a
 * string that is not a date: Firehose would write it under a prefix that projection never reads.
 */
export function partitionOf(layoutOf: LakeLayout, record: unknown): string | undefined {
  if (record === null || typeof record !== 'object') return undefined;
  const value = (record as Record<string, unknown>)[layoutOf.partitionField];
  if (typeof value !== 'string') return undefined;
  const dt = value.slice(0, 10);
  return DATE.test(dt) ? dt : undefined;
}

/** `events/dt=2019-10-01/`: the prefix template with its partition key filled in, as Firehose does. */
export function partitionPrefix(layoutOf: LakeLayout, dt: string): string {
  return layoutOf.prefixTemplate.replace(/!\{partitionKeyFromQuery:[^}]+\}/, dt);
}

/** Firehose's `yyyy-MM-dd-HH-mm-ss` in object names (UTC delivery time). */
export function firehoseTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19).replace('T', '-').replaceAll(':', '-');
}

/**
 * Firehose's object name: `<prefix><DeliveryStreamName>-<DeliveryStreamVersion>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`
 * plus the configured extension.
 */
export function objectKey(
  prefix: string,
  deliveryStreamName: string,
  epochMs: number,
  uuid: string,
  extension: string,
): string {
  return `${prefix}${deliveryStreamName}-1-${firehoseTimestamp(epochMs)}-${uuid}${extension}`;
}

/** Resolves the error prefix template as Firehose does for one error type and delivery time. */
export function errorPrefix(layoutOf: LakeLayout, errorType: FirehoseErrorType, epochMs: number): string {
  const day = new Date(epochMs).toISOString().slice(0, 10).replaceAll('-', '/');
  return layoutOf.errorPrefixTemplate
    .replace('!{firehose:error-output-type}', errorType)
    .replace('!{timestamp:yyyy/MM/dd}', day);
}

export type FirehoseErrorType = 'partitioning-failed' | 'format-conversion-failed';

/** One line of a Firehose error object (the fields Firehose writes for failed records). */
export interface FirehoseErrorRecord {
  attemptsMade: number;
  arrivalTimestamp: number;
  errorCode: string;
  errorMessage: string;
  /** The record as received, base64. */
  rawData: string;
}
