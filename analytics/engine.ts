/**
 * What both query engines (Athena in AWS, DuckDB locally) return, so `clickstream query`, the report
 * and the demo print and chart results the same way whichever engine ran them.
 */
export type ColumnType =
  | 'varchar'
  | 'bigint'
  | 'integer'
  | 'double'
  | 'boolean'
  | 'date'
  | 'timestamp'
  | 'other';

export interface QueryColumn {
  name: string;
  type: ColumnType;
}

/** Values are typed: numbers for numeric columns (bigint as number when safe, else string), strings otherwise. */
export type QueryRow = Record<string, string | number | boolean | null>;

export interface QueryResult {
  columns: QueryColumn[];
  rows: QueryRow[];
  /** Bytes the engine scanned (Athena's DataScannedInBytes; locally, the bytes of the files read). */
  bytesScanned?: number;
  engine: 'athena' | 'local';
  durationMs: number;
}

export interface QueryEngine {
  /** Runs one SQL statement; `signal` aborts (Athena: StopQueryExecution). */
  query(sql: string, options?: { signal?: AbortSignal }): Promise<QueryResult>;
  close(): Promise<void>;
}
