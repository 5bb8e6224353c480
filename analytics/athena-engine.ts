/**
 * The Athena side of QueryEngine: one statement = StartQueryExecution in the project's workgroup, poll
 * until a final state, then page through GetQueryResults into typed rows. Ctrl-C stops the query in
 * Athena too, so an abandoned terminal never leaves a scan running (and billing) behind it.
 */
import {
  type AthenaClient,
  type ColumnInfo,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type QueryExecution,
  type Row,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { ClickstreamError } from '../core/errors.ts';
import type { ColumnType, QueryColumn, QueryEngine, QueryResult, QueryRow } from './engine.ts';

/** Base error of the analytics area: a query that failed, was cancelled, or could not be run. */
export class QueryError extends ClickstreamError {
  override name = 'QueryError';
  constructor(
    message: string,
    readonly reason: 'failed' | 'cancelled' | 'invalid',
    options?: { hint?: string; cause?: unknown; queryExecutionId?: string },
  ) {
    super(message, options?.hint, options?.cause === undefined ? undefined : { cause: options.cause });
    this.queryExecutionId = options?.queryExecutionId;
  }
  readonly queryExecutionId: string | undefined;
}

export interface AthenaEngineOptions {
  athena: AthenaClient;
  workgroup: string;
  database: string;
  /** s3://bucket/prefix/ for results; absent: the workgroup's configured (and usually enforced) location. */
  outputLocation?: string;
  /** Poll interval: starts at `initialMs`, doubles up to `maxMs`, with ±20% jitter. Default 200 ms → 2 s. */
  polling?: { initialMs?: number; maxMs?: number };
}

export interface AthenaQueryOptions {
  signal?: AbortSignal;
  /**
   * Values for the statement's `?` placeholders, in order (Athena ExecutionParameters). Strings are sent
   * as quoted SQL literals, numbers and booleans as bare literals.
   */
  parameters?: ReadonlyArray<string | number | boolean>;
}

export interface AthenaEngine extends QueryEngine {
  query(sql: string, options?: AthenaQueryOptions): Promise<QueryResult & { queryExecutionId: string }>;
}

export function openAthenaEngine(options: AthenaEngineOptions): AthenaEngine {
  const initialMs = options.polling?.initialMs ?? 200;
  const maxMs = options.polling?.maxMs ?? 2000;

  async function query(sql: string, queryOptions: AthenaQueryOptions = {}) {
    const { signal } = queryOptions;
    const started = performance.now();
    if (signal?.aborted) throw cancelled();

    const start = await options.athena.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        WorkGroup: options.workgroup,
        QueryExecutionContext: { Database: options.database },
        ...(options.outputLocation
          ? { ResultConfiguration: { OutputLocation: options.outputLocation } }
          : {}),
        ...(queryOptions.parameters?.length
          ? { ExecutionParameters: queryOptions.parameters.map(toSqlLiteral) }
          : {}),
      }),
    );
    const id = start.QueryExecutionId;
    if (!id) throw new QueryError('Athena returned no query execution id', 'failed');

    const execution = await waitForCompletion(id, signal);
    const { columns, rows } = await fetchResults(id, execution, signal);
    return {
      columns,
      rows,
      bytesScanned: execution.Statistics?.DataScannedInBytes ?? 0,
      engine: 'athena' as const,
      durationMs: Math.round(performance.now() - started),
      queryExecutionId: id,
    };
  }

  async function waitForCompletion(id: string, signal: AbortSignal | undefined): Promise<QueryExecution> {
    let delay = initialMs;
    for (;;) {
      if (signal?.aborted) return stopAndThrow(id);
      const { QueryExecution: execution } = await options.athena.send(
        new GetQueryExecutionCommand({ QueryExecutionId: id }),
      );
      const state = execution?.Status?.State;
      if (state === 'SUCCEEDED' && execution) return execution;
      if (state === 'FAILED' || state === 'CANCELLED') {
        const reason = execution?.Status?.StateChangeReason ?? 'no reason given';
        const category = execution?.Status?.AthenaError?.ErrorCategory;
        throw new QueryError(
          `Athena query ${id} ${state.toLowerCase()}: ${reason}`,
          state === 'FAILED' ? 'failed' : 'cancelled',
          {
            queryExecutionId: id,
            // ErrorCategory 2 is a user error (bad SQL, missing table); 1 and 3 are Athena-side.
            hint:
              category === 2
                ? 'check the SQL, the database and that the tables exist (the stack creates them: npx cdk deploy)'
                : `see the query in the Athena console (workgroup ${options.workgroup}) for details`,
          },
        );
      }
      if (!(await sleep(jitter(delay), signal))) return stopAndThrow(id);
      delay = Math.min(delay * 2, maxMs);
    }
  }

  async function stopAndThrow(id: string): Promise<never> {
    try {
      await options.athena.send(new StopQueryExecutionCommand({ QueryExecutionId: id }));
    } catch (error) {
      throw cancelled(id, error);
    }
    throw cancelled(id);
  }

  async function fetchResults(id: string, execution: QueryExecution, signal: AbortSignal | undefined) {
    let columns: QueryColumn[] | undefined;
    const rows: QueryRow[] = [];
    let nextToken: string | undefined;
    let first = true;
    do {
      // The query already finished: nothing to stop, but the user asked us to stop waiting on pages.
      if (signal?.aborted) throw cancelled(id);
      const page = await options.athena.send(
        new GetQueryResultsCommand({ QueryExecutionId: id, ...(nextToken ? { NextToken: nextToken } : {}) }),
      );
      columns ??= toColumns(page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []);
      let pageRows = page.ResultSet?.Rows ?? [];
      if (first && pageRows.length > 0 && hasHeaderRow(execution, columns, pageRows[0]))
        pageRows = pageRows.slice(1);
      for (const row of pageRows) rows.push(toRow(columns, row));
      nextToken = page.NextToken;
      first = false;
    } while (nextToken);
    return { columns: columns ?? [], rows };
  }

  return { query, close: async () => undefined };
}

/**
 * Athena repeats the column names as the first row of a SELECT's results (DML); SHOW/DESCRIBE
 * (UTILITY) and DDL results have none. When the statement type is unknown, compare with the labels.
 */
function hasHeaderRow(execution: QueryExecution, columns: QueryColumn[], row: Row | undefined): boolean {
  if (execution.StatementType === 'DML') return true;
  if (execution.StatementType) return false;
  const values = row?.Data?.map((d) => d.VarCharValue) ?? [];
  return values.length === columns.length && columns.every((c, i) => c.name === values[i]);
}

const TYPE_MAP: Record<string, ColumnType> = {
  varchar: 'varchar',
  char: 'varchar',
  string: 'varchar',
  bigint: 'bigint',
  integer: 'integer',
  int: 'integer',
  smallint: 'integer',
  tinyint: 'integer',
  double: 'double',
  float: 'double',
  real: 'double',
  // Decimals become JS numbers: fine for the shares and revenues the named queries compute.
  decimal: 'double',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
};

function toColumns(info: ColumnInfo[]): QueryColumn[] {
  return info.map((c, i) => {
    // "decimal(10,2)", "varchar(255)", "timestamp(3) with time zone" → base type.
    const base = (c.Type ?? '').toLowerCase().replace(/\(.*$/, '').split(' ')[0] ?? '';
    return { name: c.Label ?? c.Name ?? `_col${i}`, type: TYPE_MAP[base] ?? 'other' };
  });
}

function toRow(columns: QueryColumn[], row: Row): QueryRow {
  const out: QueryRow = {};
  const data = row.Data ?? [];
  columns.forEach((column, i) => {
    out[column.name] = convert(column.type, data[i]?.VarCharValue);
  });
  return out;
}

/** Athena sends every value as text; a Datum without VarCharValue is SQL NULL. */
export function convert(type: ColumnType, text: string | undefined): string | number | boolean | null {
  if (text === undefined) return null;
  switch (type) {
    case 'integer':
    case 'double': {
      const n = Number(text);
      return Number.isNaN(n) && text !== 'NaN' ? text : n;
    }
    case 'bigint': {
      // user_id and category_id can exceed 2^53: keep them exact as strings rather than round them.
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    case 'boolean':
      return text === 'true';
    default:
      return text;
  }
}

function toSqlLiteral(value: string | number | boolean): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `'${value.replaceAll("'", "''")}'`;
}

const MB = 1024 * 1024;
const TB = 1024 ** 4;
/** Athena's list price: USD 5 per TB scanned, rounded up to the MB, with a 10 MB minimum per query. */
export const ATHENA_USD_PER_TB = 5;
export const ATHENA_MIN_BILLED_BYTES = 10 * MB;

/** Estimated cost of one query that scanned `bytesScanned` (list price, us-east-1; DDL and failed queries are free). */
export function athenaCostUsd(bytesScanned: number): number {
  const billed = Math.max(Math.ceil(bytesScanned / MB) * MB, ATHENA_MIN_BILLED_BYTES);
  return (billed / TB) * ATHENA_USD_PER_TB;
}

function cancelled(id?: string, cause?: unknown): QueryError {
  return new QueryError(id ? `query ${id} cancelled (stopped in Athena)` : 'query cancelled', 'cancelled', {
    ...(id ? { queryExecutionId: id } : {}),
    ...(cause === undefined
      ? {}
      : {
          cause,
          hint: `StopQueryExecution failed; the query may still be running: aws athena stop-query-execution --query-execution-id ${id}`,
        }),
  });
}

function jitter(ms: number): number {
  return ms * (0.8 + Math.random() * 0.4);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
