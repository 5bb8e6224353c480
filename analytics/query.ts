/**
 * The run behind `clickstream query` (cli/commands/query.ts): runs a named query from sql/queries (or ad-hoc SQL) on Athena or on the local
 * DuckDB engine, prints the rows, and says on stderr what the scan cost, so people see the price of a
 * query before they put it on a schedule.
 */
import { createAthenaClient, createS3Client } from '../adapters/clients.ts';
import type { RunContext } from '../adapters/run-context.ts';
import { type AwsTarget, clientOptions } from '../adapters/target.ts';
import { ClickstreamError } from '../core/errors.ts';
import { choiceFlag } from '../core/flags.ts';
import { athenaCostUsd, openAthenaEngine } from './athena-engine.ts';
import type { QueryColumn, QueryEngine, QueryResult, QueryRow } from './engine.ts';
import { formatBytes, OUTPUT_FORMATS, type OutputFormat } from './format.ts';
import { loadNamedQueries, runNamedQuery } from './named-queries.ts';

export const ENGINE_KINDS = ['athena', 'local'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

/** Flags every engine-using command shares (plus the global --local/--region/--config). */
export interface EngineOptions {
  engine?: string;
}

export interface QueryOptions extends EngineOptions {
  args: [string?];
  param?: string[];
  sql?: string;
  list?: boolean;
  format?: string;
}

export interface QuerySummary {
  query: string;
  engine: EngineKind;
  /** How the rows are printed without --json. */
  format: OutputFormat;
  columns: QueryColumn[];
  rows: QueryRow[];
  rowCount: number;
  bytesScanned: number;
  /** Athena only: list-price estimate, USD 5 per TB scanned with a 10 MB minimum per query. */
  costUsd?: number;
  durationMs: number;
}

export interface QueryListSummary {
  queries: Array<{
    name: string;
    description: string;
    parameters: Array<{ name: string; description: string }>;
  }>;
}

export async function query(
  options: QueryOptions,
  ctx: RunContext,
): Promise<QuerySummary | QueryListSummary> {
  if (options.list) return { queries: catalog() };

  const name = options.args[0];
  if (name && options.sql) throw new ClickstreamError('give either a query name or --sql, not both');
  if (!name && !options.sql) {
    throw new ClickstreamError(
      'no query given',
      `name one of: ${catalog()
        .map((q) => q.name)
        .join(', ')} (or --sql "..."; --list describes them)`,
    );
  }
  const format = choiceFlag(
    options.format ?? (process.stdout.isTTY ? 'table' : 'csv'),
    OUTPUT_FORMATS,
    '--format',
  );
  const params = parseParams(options.param ?? []);
  if (name) checkParams(name, params);
  else if (Object.keys(params).length > 0)
    throw new ClickstreamError(
      '--param applies to named queries only',
      'write the values into the --sql text',
    );

  const target = await ctx.target();
  const { kind, engine } = await openEngine(options, target);
  try {
    ctx.debug(`running ${name ?? 'ad-hoc SQL'} on the ${kind} engine`);
    const result = name
      ? await runCatalogQuery(engine, name, params, ctx.signal)
      : await engine.query(options.sql as string, { signal: ctx.signal });
    const summary: QuerySummary = {
      query: name ?? (options.sql as string),
      engine: kind,
      format,
      columns: result.columns,
      rows: result.rows,
      rowCount: result.rows.length,
      bytesScanned: result.bytesScanned ?? 0,
      ...(kind === 'athena' ? { costUsd: athenaCostUsd(result.bytesScanned ?? 0) } : {}),
      durationMs: result.durationMs,
    };
    ctx.info(scanLine(summary));
    return summary;
  } finally {
    await engine.close();
  }
}

/** "1,234 rows · 1.20 MB scanned · ≈ $0.000048 (USD 5/TB, 10 MB minimum) · 812 ms" */
export function scanLine(
  summary: Pick<QuerySummary, 'rowCount' | 'bytesScanned' | 'costUsd' | 'durationMs'>,
): string {
  return [
    `${summary.rowCount.toLocaleString('en-US')} row${summary.rowCount === 1 ? '' : 's'}`,
    `${formatBytes(summary.bytesScanned)} scanned`,
    ...(summary.costUsd !== undefined
      ? [`≈ $${summary.costUsd.toPrecision(2)} (Athena: USD 5/TB, 10 MB minimum per query)`]
      : []),
    `${summary.durationMs.toLocaleString('en-US')} ms`,
  ].join(' · ');
}

/** Opens the engine the flags ask for; default: DuckDB against the local stack, Athena against AWS. */
export async function openEngine(
  options: EngineOptions,
  target: AwsTarget,
): Promise<{ kind: EngineKind; engine: QueryEngine }> {
  const kind = options.engine
    ? choiceFlag(options.engine, ENGINE_KINDS, '--engine')
    : target.mode === 'local'
      ? 'local'
      : 'athena';
  if (kind === 'athena') {
    if (target.mode === 'local') {
      throw new ClickstreamError(
        'there is no Athena in local mode',
        'use --engine local (DuckDB over the local lake), or drop --local to query AWS',
      );
    }
    const athena = createAthenaClient(target.region ? { region: target.region } : {});
    const engine = openAthenaEngine({
      athena,
      workgroup: target.names.athenaWorkgroup,
      database: target.names.glueDatabase,
      // Ignored when the workgroup enforces its own result location, which the stack's does.
      outputLocation: `s3://${target.names.athenaResultsBucket}/cli/`,
    });
    return { kind, engine: withClose(engine, () => athena.destroy()) };
  }
  // Loaded on demand: DuckDB's native addon costs startup time that Athena users should not pay.
  const { openLocalEngine } = await import('./local-engine.ts');
  const s3 = createS3Client(clientOptions(target, 's3'));
  const engine = await openLocalEngine({ s3, names: target.names });
  return { kind, engine: withClose(engine, () => s3.destroy()) };
}

function withClose(engine: QueryEngine, after: () => void): QueryEngine {
  return {
    query: (sql, options) => engine.query(sql, options),
    close: async () => {
      try {
        await engine.close();
      } finally {
        after();
      }
    },
  };
}

/** Runs one named query after checking its name and parameters, so mistakes fail before any scan. */
export async function runCatalogQuery(
  engine: QueryEngine,
  name: string,
  params: Record<string, string>,
  signal?: AbortSignal,
): Promise<QueryResult> {
  checkParams(name, params);
  return runNamedQuery(engine, name, params, signal ? { signal } : {});
}

function catalog(): QueryListSummary['queries'] {
  return loadNamedQueries().map((q) => ({
    name: q.name,
    description: q.description,
    parameters: q.parameters.map((p) => ({ name: p.name, description: p.description })),
  }));
}

function checkParams(name: string, params: Record<string, string>): void {
  const queries = catalog();
  const entry = queries.find((q) => q.name === name);
  if (!entry) {
    throw new ClickstreamError(
      `unknown query "${name}"`,
      `named queries: ${queries.map((q) => q.name).join(', ')} (clickstream query --list describes them)`,
    );
  }
  const names = entry.parameters.map((p) => p.name);
  const missing = names.filter((p) => params[p] === undefined);
  if (missing.length > 0) {
    throw new ClickstreamError(
      `query "${name}" needs ${missing.map((p) => `--param ${p}=...`).join(' ')}`,
      `usage: ${usageLine(entry)}; ${entry.parameters.map((p) => `${p.name}: ${p.description}`).join('; ')}`,
    );
  }
  const unknown = Object.keys(params).filter((p) => !names.includes(p));
  if (unknown.length > 0) {
    throw new ClickstreamError(
      `query "${name}" has no parameter ${unknown.join(', ')}`,
      names.length > 0
        ? `its parameters: ${names.join(', ')} (usage: ${usageLine(entry)})`
        : 'it takes no parameters',
    );
  }
}

export function usageLine(entry: QueryListSummary['queries'][number]): string {
  return `clickstream query ${entry.name}${entry.parameters.map((p) => ` --param ${p.name}=...`).join('')}`;
}

function parseParams(pairs: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new ClickstreamError(
        `bad --param "${pair}"`,
        'use --param name=value, e.g. --param user_id=512475445',
      );
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return params;
}
