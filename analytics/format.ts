/**
 * Rendering of a QueryResult for the terminal and for other tools: an aligned table for people, CSV
 * (RFC 4180 quoting) for spreadsheets, JSON for scripts. Same output whichever engine ran the query.
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import { escapeControl } from '../core/terminal-text.ts';
import type { QueryColumn, QueryResult } from './engine.ts';

export const OUTPUT_FORMATS = ['table', 'csv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface FormatOptions {
  /** ANSI colours in the table header (only on a TTY). */
  color?: boolean;
  /** Table only: show at most this many rows and say how many were left out. */
  maxRows?: number;
}

export function formatResult(
  result: Pick<QueryResult, 'columns' | 'rows'>,
  format: OutputFormat,
  options: FormatOptions = {},
): string {
  switch (format) {
    case 'table':
      return renderTable(result, options);
    case 'csv':
      return renderCsv(result);
    case 'json':
      return renderJson(result);
  }
}

const NUMERIC = new Set<QueryColumn['type']>(['bigint', 'integer', 'double']);

export function renderTable(
  result: Pick<QueryResult, 'columns' | 'rows'>,
  options: FormatOptions = {},
): string {
  // The caller decides (ctx.interactive); picocolors' own detection would look at stdout, not stderr.
  const c = pc.createColors(options.color ?? false);
  const table = new Table({
    head: result.columns.map((column) => c.bold(c.cyan(column.name))),
    colAligns: result.columns.map((column) => (NUMERIC.has(column.type) ? 'right' : 'left')),
    // cli-table3 colours headers red by default, even when stdout is a file.
    style: { head: [], border: [] },
  });
  const shown = options.maxRows === undefined ? result.rows : result.rows.slice(0, options.maxRows);
  for (const row of shown) {
    table.push(result.columns.map((column) => tableCell(row[column.name], c)));
  }
  const lines = [table.toString()];
  const hidden = result.rows.length - shown.length;
  if (hidden > 0)
    lines.push(`… ${hidden.toLocaleString('en-US')} more rows (use --format csv or json for all)`);
  lines.push(`${result.rows.length.toLocaleString('en-US')} row${result.rows.length === 1 ? '' : 's'}`);
  return lines.join('\n');
}

function tableCell(
  value: string | number | boolean | null | undefined,
  c: ReturnType<typeof pc.createColors>,
): string {
  if (value === null || value === undefined) return c.dim('NULL');
  // Shares and averages come back with 15+ digits; four decimals are plenty for reading.
  if (typeof value === 'number' && !Number.isInteger(value)) return String(Number(value.toFixed(4)));
  return escapeControl(String(value));
}

/** RFC 4180: fields with a comma, quote, CR or LF are quoted, quotes doubled; NULL is an empty field. */
export function renderCsv(result: Pick<QueryResult, 'columns' | 'rows'>): string {
  const lines = [result.columns.map((c) => csvField(c.name)).join(',')];
  for (const row of result.rows) lines.push(result.columns.map((c) => csvField(row[c.name])).join(','));
  return lines.join('\n');
}

function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** An array of row objects keyed by column name; big ids stay strings, as the engines return them. */
export function renderJson(result: Pick<QueryResult, 'columns' | 'rows'>): string {
  return JSON.stringify(
    result.rows.map((row) => Object.fromEntries(result.columns.map((c) => [c.name, row[c.name] ?? null]))),
    null,
    2,
  );
}

/** "1.2 GB" style, binary units as Athena's console shows them. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
