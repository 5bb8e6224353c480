/**
 * The tables of the pipeline, defined once: the Glue tables (CDK), the Athena DDL in sql/ddl, the local
 * DuckDB views and the local Firehose's Parquet writer are all generated from these definitions.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { CSV_COLUMNS } from './event.ts';

/** The Glue/Hive types the tables use. */
export type HiveType =
  | 'string'
  | 'bigint'
  | 'int'
  | 'double'
  | 'boolean'
  | 'timestamp'
  | 'date'
  | 'array<string>';

export interface ColumnDef {
  name: string;
  type: HiveType;
  comment: string;
}

export type TableName = 'raw_events' | 'events' | 'user_activity';
export type LakeTableName = Exclude<TableName, 'raw_events'>;

/** How Glue/Athena read the objects (Glue StorageDescriptor / Athena ROW FORMAT + STORED AS). */
export interface StorageFormat {
  inputFormat: string;
  outputFormat: string;
  serializationLibrary: string;
  serdeParameters: Record<string, string>;
  /** Glue's `classification` table parameter. */
  classification: 'csv' | 'parquet';
}

export interface TableDef {
  name: TableName;
  description: string;
  /** Which bucket of ResourceNames holds the objects. */
  bucket: 'rawBucket' | 'lakeBucket';
  /** Key prefix of the table's objects in that bucket (ends with `/`). */
  prefix: string;
  columns: readonly ColumnDef[];
  partitionKeys: readonly ColumnDef[];
  storage: StorageFormat;
  /** Table parameters besides partition projection (e.g. header skipping). */
  parameters: Record<string, string>;
}

/** Raw uploads go here (`s3://<raw bucket>/kaggle/2019-Oct.csv`): Athena reads every object of a table's folder. */
export const RAW_EVENTS_PREFIX = 'kaggle/';

const CSV_STORAGE: StorageFormat = {
  inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
  // OpenCSVSerde reads every column as string, which is what we want for raw text, and handles quotes.
  serializationLibrary: 'org.apache.hadoop.hive.serde2.OpenCSVSerde',
  serdeParameters: { separatorChar: ',', quoteChar: '"', escapeChar: '\\' },
  classification: 'csv',
};

const PARQUET_STORAGE: StorageFormat = {
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
  serdeParameters: { 'serialization.format': '1' },
  classification: 'parquet',
};

const DT: ColumnDef = {
  name: 'dt',
  type: 'string',
  comment: 'Event date (UTC), YYYY-MM-DD: the partition, chosen by event time, not arrival',
};

const RAW_EVENTS: TableDef = {
  name: 'raw_events',
  description: 'The Kaggle CSV files as uploaded to the raw bucket, every column as text',
  bucket: 'rawBucket',
  prefix: RAW_EVENTS_PREFIX,
  // Text on purpose: `2019-10-01 00:00:00 UTC` is not a Hive timestamp, and DuckDB would auto-cast it.
  columns: CSV_COLUMNS.map((name) => ({ name, type: 'string' as const, comment: `CSV column ${name}` })),
  partitionKeys: [],
  storage: CSV_STORAGE,
  parameters: { 'skip.header.line.count': '1' },
};

const EVENTS: TableDef = {
  name: 'events',
  description: 'Every accepted event from the events stream, delivered by Firehose into the lake',
  bucket: 'lakeBucket',
  prefix: 'events/',
  columns: [
    { name: 'event_time', type: 'timestamp', comment: 'When the event happened (UTC)' },
    { name: 'event_type', type: 'string', comment: 'view, cart, remove_from_cart or purchase' },
    // Ids stay text: category_id exceeds 2^53 and ids are compared, never computed with.
    { name: 'product_id', type: 'string', comment: 'Product id' },
    { name: 'category_id', type: 'string', comment: 'Category id (19 digits)' },
    {
      name: 'category_code',
      type: 'string',
      comment: 'Category path like electronics.smartphone; often null',
    },
    { name: 'brand', type: 'string', comment: 'Brand; often null' },
    { name: 'price', type: 'double', comment: 'Price in the source currency' },
    { name: 'user_id', type: 'string', comment: 'User id' },
    { name: 'user_session', type: 'string', comment: 'Session id; null for a few rows' },
    {
      name: 'event_id',
      type: 'string',
      comment: 'Source tag and line of the event: a row twice is one event sent twice; count distinct ids',
    },
    { name: 'replayed_at', type: 'timestamp', comment: 'When the producer sent the event (UTC)' },
  ],
  partitionKeys: [DT],
  storage: PARQUET_STORAGE,
  parameters: {},
};

/**
 * The partials carry event ids, not counts, so the lake counts like DynamoDB does: distinct ids over a
 * window's partials. A partial Kinesis delivered twice, and an event a resumed producer sent twice
 * (same id, in another partial), both count once. Counting columns would double count the latter,
 * and deriving windows from the events table instead would scan every event's columns.
 */
const USER_ACTIVITY: TableDef = {
  name: 'user_activity',
  description: 'Per-shard partial aggregates per user and event-time window, from the user-activity stream',
  bucket: 'lakeBucket',
  prefix: 'user_activity/',
  columns: [
    { name: 'user_id', type: 'string', comment: 'User id' },
    { name: 'window_start', type: 'timestamp', comment: 'Start of the event-time window (UTC)' },
    { name: 'window_seconds', type: 'int', comment: 'Window length in seconds' },
    {
      name: 'contribution_id',
      type: 'string',
      comment: 'Deterministic id of the flush this partial came from; duplicates are redeliveries',
    },
    {
      name: 'view_ids',
      type: 'array<string>',
      comment: 'Event ids of the views; count distinct over partials',
    },
    { name: 'cart_ids', type: 'array<string>', comment: 'Event ids of the carts' },
    { name: 'remove_from_cart_ids', type: 'array<string>', comment: 'Event ids of the cart removals' },
    {
      name: 'purchases',
      type: 'array<string>',
      comment: 'One <event id>:<price in cents> per purchase; revenue sums the distinct entries',
    },
    { name: 'sessions', type: 'array<string>', comment: 'Distinct session ids in this partial' },
    { name: 'products', type: 'array<string>', comment: 'Distinct product ids in this partial' },
    { name: 'first_event_time', type: 'timestamp', comment: 'Earliest event of this partial' },
    { name: 'last_event_time', type: 'timestamp', comment: 'Latest event of this partial' },
  ],
  partitionKeys: [DT],
  storage: PARQUET_STORAGE,
  parameters: {},
};

export const TABLES: Readonly<Record<TableName, TableDef>> = {
  raw_events: RAW_EVENTS,
  events: EVENTS,
  user_activity: USER_ACTIVITY,
};

export const TABLE_NAMES = Object.keys(TABLES) as TableName[];
export const LAKE_TABLE_NAMES: readonly LakeTableName[] = ['events', 'user_activity'];

/** First date partition projection enumerates; the Kaggle data starts in October 2019. */
export const PROJECTION_START_DATE = '2019-01-01';

/**
 * Partition projection for a lake table: Athena computes the dt partitions from the query's predicate
 * instead of asking Glue, so Firehose never needs to register partitions and no crawler runs.
 */
export function projectionParameters(table: TableDef, bucket: string): Record<string, string> {
  if (table.partitionKeys.length === 0) return {};
  return {
    'projection.enabled': 'true',
    'projection.dt.type': 'date',
    'projection.dt.format': 'yyyy-MM-dd',
    'projection.dt.range': `${PROJECTION_START_DATE},NOW`,
    'projection.dt.interval': '1',
    'projection.dt.interval.unit': 'DAYS',
    'storage.location.template': `s3://${bucket}/${table.prefix}dt=\${dt}/`,
  };
}

/** Every table parameter (Glue `Parameters`, Athena TBLPROPERTIES) for the table in `bucket`. */
export function tableParameters(table: TableDef, bucket: string): Record<string, string> {
  return {
    classification: table.storage.classification,
    ...table.parameters,
    ...projectionParameters(table, bucket),
  };
}

/** `s3://bucket/events/`: the table's LOCATION. */
export function tableLocation(table: TableDef, bucket: string): string {
  return `s3://${bucket}/${table.prefix}`;
}

/** A record that does not fit a table's columns, as Firehose's format conversion would reject it. */
export class RowConformError extends Error {
  override name = 'RowConformError';
}

export type LakeValue = string | number | boolean | string[] | null;

// The two forms FIREHOSE_TIMESTAMP_FORMATS (core/lake.ts) lets Firehose parse: seconds, or milliseconds.
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/**
 * Checks a JSON record against a table's (non-partition) columns and returns the row in column order.
 * Missing fields become null, like the Hive JSON SerDe does; a value of the wrong type is an error,
 * like Firehose's record format conversion (which sends the record to the error prefix).
 */
export function conformRow(table: TableDef, record: unknown): Record<string, LakeValue> {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new RowConformError('record is not a JSON object');
  }
  const source = record as Record<string, unknown>;
  const row: Record<string, LakeValue> = {};
  for (const column of table.columns) {
    row[column.name] = conformValue(column, source[column.name]);
  }
  return row;
}

function conformValue(column: ColumnDef, value: unknown): LakeValue {
  if (value === undefined || value === null) return null;
  const bad = () =>
    new RowConformError(`${column.name}: ${JSON.stringify(value)?.slice(0, 40)} is not a ${column.type}`);
  switch (column.type) {
    case 'string':
      if (typeof value === 'string') return value;
      // The Hive JSON SerDe reads a JSON number into a string column as its text.
      if (typeof value === 'number') return String(value);
      throw bad();
    case 'bigint':
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw bad();
    case 'double':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      throw bad();
    case 'boolean':
      if (typeof value === 'boolean') return value;
      throw bad();
    case 'timestamp':
      if (typeof value === 'string' && ISO_TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value)))
        return value;
      throw bad();
    case 'date':
      if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
      throw bad();
    case 'array<string>':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
      throw bad();
  }
}
