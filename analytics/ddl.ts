/**
 * DDL generated from core/tables.ts: Athena CREATE EXTERNAL TABLE statements (shipped in sql/ddl/ for
 * people who create the tables by hand; the stack creates them as Glue tables from the same
 * definitions) and the DuckDB views the local engine puts over the same objects.
 *
 * `npx tsx analytics/ddl.ts` rewrites sql/ddl/; a test fails when the files drift from the generator.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type HiveType,
  TABLE_NAMES,
  TABLES,
  type TableDef,
  tableLocation,
  tableParameters,
} from '../core/tables.ts';

/** Stand-ins for the bucket names the stack generates: not valid S3 names, so a forgotten edit fails. */
export const BUCKET_PLACEHOLDERS = { rawBucket: '<RAW_BUCKET>', lakeBucket: '<LAKE_BUCKET>' } as const;

export const DDL_DIRECTORY = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'ddl');

/** The Athena (Hive DDL) statement that creates `table` over `bucket`. */
export function athenaDdl(table: TableDef, bucket: string): string {
  const column = (c: { name: string; type: HiveType; comment: string }) =>
    `  \`${c.name}\` ${c.type} COMMENT '${hiveString(c.comment)}'`;
  const properties = (entries: Record<string, string>) =>
    Object.entries(entries)
      .map(([key, value]) => `  '${hiveString(key)}' = '${hiveString(value)}'`)
      .join(',\n');
  const lines = [
    `CREATE EXTERNAL TABLE IF NOT EXISTS \`${table.name}\` (`,
    table.columns.map(column).join(',\n'),
    ')',
    `COMMENT '${hiveString(table.description)}'`,
  ];
  if (table.partitionKeys.length > 0) {
    lines.push(`PARTITIONED BY (\n${table.partitionKeys.map(column).join(',\n')}\n)`);
  }
  lines.push(
    `ROW FORMAT SERDE '${table.storage.serializationLibrary}'`,
    `WITH SERDEPROPERTIES (\n${properties(table.storage.serdeParameters)}\n)`,
    `STORED AS INPUTFORMAT '${table.storage.inputFormat}'`,
    `OUTPUTFORMAT '${table.storage.outputFormat}'`,
    `LOCATION '${tableLocation(table, bucket)}'`,
    `TBLPROPERTIES (\n${properties(tableParameters(table, bucket))}\n);`,
  );
  return `${lines.join('\n')}\n`;
}

function hiveString(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll("'", "\\'");
}

/** The files of sql/ddl/: one per table, for the placeholder buckets. */
export function ddlFiles(): Array<{ file: string; text: string }> {
  return TABLE_NAMES.map((name) => {
    const table = TABLES[name];
    const placeholder = BUCKET_PLACEHOLDERS[table.bucket];
    const header = [
      '-- Generated from core/tables.ts by analytics/ddl.ts (npx tsx analytics/ddl.ts); do not edit by hand.',
      `-- ${table.description}.`,
      `-- Replace ${placeholder} with your bucket name (a stack output), then run in your Glue database.`,
      '',
    ].join('\n');
    return { file: `${name}.sql`, text: `${header}${athenaDdl(table, placeholder)}` };
  });
}

const DUCKDB_TYPES: Record<HiveType, string> = {
  string: 'VARCHAR',
  bigint: 'BIGINT',
  int: 'INTEGER',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
  'array<string>': 'VARCHAR[]',
};

/** The DuckDB type Athena's reading of a Hive type corresponds to. */
export function duckdbType(type: HiveType): string {
  return DUCKDB_TYPES[type];
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The DuckDB view named like the Glue table over local copies of its objects. Every column is cast to
 * the declared type, so the view has the Glue table's columns whatever the files hold; with no files
 * the view is empty (read_parquet of an empty glob is an error).
 */
export function duckdbViewSql(table: TableDef, files: readonly string[]): string {
  const all = [...table.columns, ...table.partitionKeys];
  const view = `CREATE OR REPLACE VIEW ${quoteIdentifier(table.name)} AS`;
  if (files.length === 0) {
    const columns = all.map((c) => `CAST(NULL AS ${duckdbType(c.type)}) AS ${quoteIdentifier(c.name)}`);
    return `${view} SELECT ${columns.join(', ')} WHERE false`;
  }
  const columns = all.map(
    (c) => `CAST(${quoteIdentifier(c.name)} AS ${duckdbType(c.type)}) AS ${quoteIdentifier(c.name)}`,
  );
  const list = `[${files.map(quoteLiteral).join(', ')}]`;
  return `${view} SELECT ${columns.join(', ')} FROM ${duckdbSource(table, list)}`;
}

function duckdbSource(table: TableDef, fileList: string): string {
  if (table.storage.classification === 'parquet') {
    return `read_parquet(${fileList}, hive_partitioning = true, hive_types = {'dt': VARCHAR}, union_by_name = true)`;
  }
  const columns = table.columns.map((c) => `${quoteLiteral(c.name)}: 'VARCHAR'`).join(', ');
  // As Athena's OpenCSVSerde: every field is text and an empty field is '', not NULL (no field holds
  // NUL). strict_mode off: DuckDB's strict parser rejects the real Kaggle files.
  return `read_csv(${fileList}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '\\', columns = {${columns}}, strict_mode = false, allow_quoted_nulls = false, nullstr = chr(0))`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const { file, text } of ddlFiles()) {
    writeFileSync(join(DDL_DIRECTORY, file), text);
    console.log(`wrote sql/ddl/${file}`);
  }
}
