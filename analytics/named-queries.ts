/**
 * The named queries: every file in sql/queries is one query, in Athena (Trino) SQL that also runs on
 * the local DuckDB engine (analytics/trino-macros.ts). The CDK stack deploys them as Athena named
 * queries from this loader, and `clickstream query` runs them by name on either engine.
 *
 * File format: a header of `--` comment lines (what question it answers), then the SQL. Parameters are
 * Athena execution parameters, positional `?`, declared in the header in order as
 * `-- @param <name> <description>`; a value is always bound, never spliced into the text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { QueryEngine, QueryResult } from './engine.ts';

export interface NamedQueryParameter {
  name: string;
  description: string;
}

export interface NamedQuery {
  /** The file name without `.sql`; also the Athena named query's name. */
  name: string;
  /** The header comment without its parameter lines, as one paragraph. */
  description: string;
  /** In the order of the `?` placeholders. */
  parameters: NamedQueryParameter[];
  /** The whole file, header included (Athena shows it in the console). */
  sql: string;
}

export const QUERIES_DIRECTORY = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'queries');

export class NamedQueryError extends Error {
  override name = 'NamedQueryError';
}

const PARAM_LINE = /^--\s*@param\s+([a-z_][a-z0-9_]*)\s*(.*)$/;

export function parseNamedQuery(name: string, text: string): NamedQuery {
  const description: string[] = [];
  const parameters: NamedQueryParameter[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('--')) break;
    const param = PARAM_LINE.exec(trimmed);
    if (param) {
      parameters.push({ name: param[1] as string, description: (param[2] ?? '').trim() });
      continue;
    }
    const words = trimmed.replace(/^--\s?/, '').trim();
    if (words !== '' && !/^Parameters:/i.test(words)) description.push(words);
  }
  if (description.length === 0)
    throw new NamedQueryError(`${name}.sql has no header comment saying what it answers`);
  const placeholders = countPlaceholders(text);
  if (placeholders !== parameters.length) {
    throw new NamedQueryError(
      `${name}.sql has ${placeholders} ? placeholder(s) but declares ${parameters.length} @param line(s)`,
    );
  }
  return { name, description: description.join(' '), parameters, sql: text.trim() };
}

/** `?` outside comments, string literals and quoted identifiers. */
export function countPlaceholders(sql: string): number {
  const code = sql.replace(/--[^\n]*|'(?:[^']|'')*'|"(?:[^"]|"")*"/g, ' ');
  return (code.match(/\?/g) ?? []).length;
}

let cache: NamedQuery[] | undefined;

/** Every query in sql/queries, sorted by name (read once per process). */
export function loadNamedQueries(directory = QUERIES_DIRECTORY): NamedQuery[] {
  if (directory === QUERIES_DIRECTORY && cache) return cache;
  const queries = readdirSync(directory)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => parseNamedQuery(basename(file, '.sql'), readFileSync(join(directory, file), 'utf8')));
  if (directory === QUERIES_DIRECTORY) cache = queries;
  return queries;
}

export function getNamedQuery(name: string): NamedQuery {
  const query = loadNamedQueries().find((q) => q.name === name);
  if (!query) {
    throw new NamedQueryError(
      `unknown query "${name}"; named queries: ${loadNamedQueries()
        .map((q) => q.name)
        .join(', ')}`,
    );
  }
  return query;
}

/**
 * Runs a named query on any engine, binding its parameters by name (Athena: ExecutionParameters;
 * DuckDB: prepared-statement values). Values are strings: the queries compare them with text columns.
 */
export function runNamedQuery(
  engine: QueryEngine,
  name: string,
  params: Readonly<Record<string, string>> = {},
  options: { signal?: AbortSignal } = {},
): Promise<QueryResult> {
  const query = getNamedQuery(name);
  const missing = query.parameters.filter((p) => params[p.name] === undefined).map((p) => p.name);
  if (missing.length > 0)
    throw new NamedQueryError(`query "${name}" needs parameter(s): ${missing.join(', ')}`);
  const unknown = Object.keys(params).filter((key) => !query.parameters.some((p) => p.name === key));
  if (unknown.length > 0)
    throw new NamedQueryError(`query "${name}" has no parameter(s): ${unknown.join(', ')}`);
  // Held in a variable: QueryEngine's options type predates parameters; both engines read them.
  const queryOptions: { signal?: AbortSignal; parameters?: string[] } = {
    ...options,
    ...(query.parameters.length > 0
      ? { parameters: query.parameters.map((p) => params[p.name] as string) }
      : {}),
  };
  return engine.query(query.sql, queryOptions);
}
