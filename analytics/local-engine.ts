/**
 * The local side of QueryEngine: DuckDB over copies of the lake objects (and the raw CSV) taken from
 * local S3 into a temp dir, because DuckDB's httpfs extension cannot be installed offline. Views are
 * named and typed like the Glue tables (analytics/ddl.ts from core/tables.ts) and the Trino macros are
 * registered, so the named queries run unchanged.
 *
 * The copy is a snapshot taken at open (the raw CSV on first use of raw_events): open a new engine to
 * see newer lake objects.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance, type DuckDBResultReader } from '@duckdb/node-api';
import type { ResourceNames } from '../core/resources.ts';
import { LAKE_TABLE_NAMES, TABLES, type TableName } from '../core/tables.ts';
import { QueryError } from './athena-engine.ts';
import { duckdbViewSql } from './ddl.ts';
import type { ColumnType, QueryColumn, QueryEngine, QueryResult, QueryRow } from './engine.ts';
import { trinoMacroStatements } from './trino-macros.ts';

export { runNamedQuery } from './named-queries.ts';

export interface LocalEngineOptions {
  s3: S3Client;
  names: ResourceNames;
  /** The raw CSV object for raw_events; default: every object under the raw_events prefix. */
  rawKey?: string;
}

export interface LocalFile {
  path: string;
  bytes: number;
}

export interface LocalQueryOptions {
  signal?: AbortSignal;
  /** Values for the statement's `?` placeholders, in order, bound as prepared-statement values. */
  parameters?: ReadonlyArray<string | number | boolean>;
}

export interface LocalEngine extends QueryEngine {
  query(sql: string, options?: LocalQueryOptions): Promise<QueryResult>;
  /** The local copies behind each view (raw_events is filled on its first use). */
  files(table: TableName): readonly LocalFile[];
}

const PARTITIONED_KEY = /\/dt=\d{4}-\d{2}-\d{2}\/[^/]+$/;

export async function openLocalEngine(options: LocalEngineOptions): Promise<LocalEngine> {
  const directory = await mkdtemp(join(tmpdir(), 'clickstream-lake-'));
  const files: Record<TableName, LocalFile[]> = { raw_events: [], events: [], user_activity: [] };
  let instance: DuckDBInstance | undefined;
  let connection: DuckDBConnection | undefined;
  let rawLoaded = false;
  try {
    for (const name of LAKE_TABLE_NAMES) {
      const keys = (await listKeys(options.s3, options.names.lakeBucket, TABLES[name].prefix)).filter((key) =>
        PARTITIONED_KEY.test(key),
      );
      files[name] = await download(options.s3, options.names.lakeBucket, keys, directory);
    }
    // Not DuckDB's default spill directory ./.tmp, shared by every process started in the same directory.
    instance = await DuckDBInstance.create(':memory:', { temp_directory: join(directory, 'spill') });
    connection = await instance.connect();
    for (const statement of trinoMacroStatements()) await connection.run(statement);
    for (const name of LAKE_TABLE_NAMES)
      await connection.run(duckdbViewSql(TABLES[name], paths(files[name])));
    await connection.run(duckdbViewSql(TABLES.raw_events, []));
  } catch (error) {
    connection?.closeSync();
    instance?.closeSync();
    await rm(directory, { recursive: true, force: true });
    throw new QueryError('could not open the local query engine', 'failed', {
      cause: error,
      hint: `is the local stack running, with buckets ${options.names.lakeBucket} and ${options.names.rawBucket}?`,
    });
  }
  const db = connection;
  const dbInstance = instance;

  async function loadRaw(): Promise<void> {
    rawLoaded = true;
    const keys = options.rawKey
      ? [options.rawKey]
      : await listKeys(options.s3, options.names.rawBucket, TABLES.raw_events.prefix).catch(() => []);
    files.raw_events = await download(options.s3, options.names.rawBucket, keys, join(directory, 'raw'));
    await db.run(duckdbViewSql(TABLES.raw_events, paths(files.raw_events)));
  }

  async function query(sql: string, queryOptions: LocalQueryOptions = {}): Promise<QueryResult> {
    const { signal } = queryOptions;
    if (signal?.aborted) throw new QueryError('query cancelled', 'cancelled');
    const started = performance.now();
    const tables = referencedTables(sql);
    if (tables.includes('raw_events') && !rawLoaded) await loadRaw();
    const onAbort = () => db.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    let reader: DuckDBResultReader;
    try {
      reader = await db.runAndReadAll(
        sql,
        queryOptions.parameters ? [...queryOptions.parameters] : undefined,
      );
    } catch (error) {
      if (signal?.aborted) throw new QueryError('query cancelled', 'cancelled', { cause: error });
      throw new QueryError(`local query failed: ${firstLine(error)}`, 'failed', {
        cause: error,
        hint: 'the local engine is DuckDB with Trino macros (analytics/trino-macros.ts); check the SQL',
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const columns = reader
      .columnNames()
      .map((name, i): QueryColumn => ({ name, type: columnType(reader.columnTypes()[i]?.toString() ?? '') }));
    const rows = reader.getRowsJson().map((values) => {
      const row: QueryRow = {};
      columns.forEach((column, i) => {
        row[column.name] = convertValue(column.type, values[i]);
      });
      return row;
    });
    return {
      columns,
      rows,
      bytesScanned: tables.reduce((sum, table) => sum + files[table].reduce((s, f) => s + f.bytes, 0), 0),
      engine: 'local',
      durationMs: Math.round(performance.now() - started),
    };
  }

  return {
    query,
    files: (table) => files[table],
    close: async () => {
      db.closeSync();
      dbInstance.closeSync();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * The tables a statement names. bytesScanned counts the whole local copy of each: an upper bound of
 * what Athena would read (it prunes partitions and, on Parquet, columns; test/bench/scan-bytes.ts
 * estimates that).
 */
export function referencedTables(sql: string): TableName[] {
  const code = sql.replace(/--[^\n]*/g, ' ');
  return (Object.keys(TABLES) as TableName[]).filter((name) =>
    new RegExp(`\\b(FROM|JOIN)\\s+("?)${name}\\2(?![\\w.])`, 'i').test(code),
  );
}

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? [])
      if (object.Key && !object.Key.endsWith('/')) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function download(
  s3: S3Client,
  bucket: string,
  keys: readonly string[],
  directory: string,
): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  for (const key of keys) {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = await object.Body?.transformToByteArray();
    if (!body) continue;
    const path = join(directory, key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
    out.push({ path, bytes: body.length });
  }
  return out;
}

function paths(list: readonly LocalFile[]): string[] {
  return list.map((f) => f.path);
}

/** DuckDB type names → the engine-neutral ColumnType; DuckDB's sums and count_if are HUGEINT where Trino's are bigint. */
export function columnType(duckdb: string): ColumnType {
  if (/^(BIGINT|HUGEINT|UBIGINT|UHUGEINT|UINTEGER)$/.test(duckdb)) return 'bigint';
  if (/^(INTEGER|SMALLINT|TINYINT|USMALLINT|UTINYINT)$/.test(duckdb)) return 'integer';
  if (/^(DOUBLE|FLOAT|DECIMAL.*)$/.test(duckdb)) return 'double';
  if (duckdb === 'VARCHAR') return 'varchar';
  if (duckdb === 'BOOLEAN') return 'boolean';
  if (duckdb === 'DATE') return 'date';
  if (duckdb.startsWith('TIMESTAMP')) return 'timestamp';
  return 'other';
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Values as Athena's results give them: bigints exact (string above 2^53), timestamps `… HH:MM:SS.mmm`. */
function convertValue(type: ColumnType, value: unknown): string | number | boolean | null {
  const json = value as JsonValue;
  if (json === null || json === undefined) return null;
  switch (type) {
    case 'bigint':
    case 'integer': {
      const n = Number(json);
      return Number.isSafeInteger(n) ? n : String(json);
    }
    case 'double':
      return typeof json === 'number' ? json : Number(json);
    case 'boolean':
      return Boolean(json);
    case 'timestamp':
      return athenaTimestamp(String(json));
    default:
      return typeof json === 'object' ? athenaValue(json) : String(json);
  }
}

function athenaTimestamp(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}(?::\d{2})?)?$/.exec(text);
  if (!m) return text;
  const millis = (m[2] ?? '.').slice(1).padEnd(3, '0').slice(0, 3);
  const zone = m[3] === undefined ? '' : m[3] === '+00' ? ' UTC' : ` ${m[3]}`;
  return `${m[1]}.${millis}${zone}`;
}

/** Athena prints arrays as `[a, b]` and rows/maps as `{k=v}`. */
function athenaValue(json: JsonValue): string {
  if (json === null) return 'null';
  if (Array.isArray(json)) return `[${json.map(athenaValue).join(', ')}]`;
  if (typeof json === 'object') {
    return `{${Object.entries(json)
      .map(([k, v]) => `${k}=${athenaValue(v)}`)
      .join(', ')}}`;
  }
  return String(json);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
