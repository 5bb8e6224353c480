/**
 * DuckDB macros that give DuckDB the Trino (Athena engine v3) functions the named queries use, with
 * Trino's semantics, so every file in sql/queries runs unchanged on Athena and on the local engine.
 * A macro in the main schema shadows a DuckDB built-in of the same name (element_at, cardinality,
 * array_distinct), which is what we want: those built-ins differ from Trino's.
 *
 * The engine must run with TimeZone = 'UTC', Athena's session zone.
 */

/**
 * Trino's date_format/date_parse use MySQL specifiers; DuckDB's strftime/strptime use C ones. Applied
 * in this order: `%M` (month name) becomes `%B` before `%i` (minutes) becomes `%M`, and no later
 * pattern matches a replacement made earlier.
 */
export const MYSQL_TO_STRFTIME: ReadonlyArray<readonly [string, string]> = [
  ['%M', '%B'],
  ['%i', '%M'],
  ['%r', '%I:%M:%S %p'],
  ['%T', '%H:%M:%S'],
  ['%h', '%I'],
  ['%W', '%A'],
  ['%s', '%S'],
  ['%c', '%-m'],
  ['%e', '%-d'],
  ['%k', '%-H'],
  ['%l', '%-I'],
  ['%v', '%V'],
];

/** Specifiers Trino rejects (%D %U %u %V %w %X %x); strftime would print something else for them. */
const UNSUPPORTED = '%[DUuVwXx]';
/** Stands for an escaped `%%` while translating, so `%%M` stays a literal `%M`. */
const PERCENT_SENTINEL = 'chr(1)';

function translatedFormat(format: string): string {
  let sql = format;
  for (const [from, to] of MYSQL_TO_STRFTIME) sql = `replace(${sql}, '${from}', '${to}')`;
  return `replace(${sql}, ${PERCENT_SENTINEL}, '%%')`;
}

function withSupportedFormat(format: string, body: (strftimeFormat: string) => string): string {
  const escaped = `replace(${format}, '%%', ${PERCENT_SENTINEL})`;
  return `CASE WHEN regexp_matches(${escaped}, '${UNSUPPORTED}') THEN error('date format specifier not supported by Trino: ' || ${format}) ELSE ${body(translatedFormat(escaped))} END`;
}

export const TRINO_MACROS: ReadonlyArray<{ name: string; sql: string }> = [
  // Trino: ISO day of the week, 1 (Monday) to 7 (Sunday); DuckDB's dayofweek is 0 (Sunday) to 6.
  { name: 'day_of_week', sql: 'CREATE OR REPLACE MACRO day_of_week(x) AS isodow(x)' },
  // Exact count: always within Trino's 2.3% standard error, and local results stay reproducible.
  { name: 'approx_distinct', sql: 'CREATE OR REPLACE MACRO approx_distinct(x) AS count(DISTINCT x)' },
  {
    name: 'date_format',
    sql: `CREATE OR REPLACE MACRO date_format(ts, fmt) AS ${withSupportedFormat('fmt', (f) => `strftime(ts, ${f})`)}`,
  },
  {
    name: 'date_parse',
    sql: `CREATE OR REPLACE MACRO date_parse(text, fmt) AS ${withSupportedFormat('fmt', (f) => `strptime(text, ${f})`)}`,
  },
  // Trino returns timestamp with time zone; an offset-less string is read in the session zone (UTC).
  {
    name: 'from_iso8601_timestamp',
    sql: 'CREATE OR REPLACE MACRO from_iso8601_timestamp(text) AS CAST(text AS TIMESTAMPTZ)',
  },
  // Trino: 1-based, negative counts from the end, out of range is NULL (DuckDB's built-in is for maps).
  { name: 'element_at', sql: 'CREATE OR REPLACE MACRO element_at(a, i) AS list_extract(a, i)' },
  { name: 'cardinality', sql: 'CREATE OR REPLACE MACRO cardinality(a) AS len(a)' },
  // Trino keeps the first occurrence of each value in order, NULL included; DuckDB's list_distinct
  // drops NULLs and does not keep order.
  {
    name: 'array_distinct',
    sql: 'CREATE OR REPLACE MACRO array_distinct(a) AS list_filter(a, (x, i) -> i = list_position(a, x))',
  },
];

/** The statements that register every macro, in order. */
export function trinoMacroStatements(): string[] {
  return TRINO_MACROS.map((m) => m.sql);
}
