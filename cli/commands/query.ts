/** `clickstream query`: the flags of analytics/query.ts's `query`, and the rows or the catalogue as printed. */
import type { Command } from 'commander';
import { formatResult } from '../../analytics/format.ts';
import {
  type QueryListSummary,
  type QueryOptions,
  type QuerySummary,
  query,
  usageLine,
} from '../../analytics/query.ts';
import type { CommandSpec } from '../command.ts';

export const queryCommand: CommandSpec<QueryOptions, QuerySummary | QueryListSummary> = {
  name: 'query',
  summary: 'run a named query (or --sql) on Athena or the local DuckDB engine and print the rows',
  configure: (command: Command) =>
    command
      .argument('[name]', 'named query from sql/queries (see --list)')
      .option(
        '--param <name=value>',
        'query parameter, repeatable',
        (value: string, all: string[]) => [...all, value],
        [],
      )
      .option('--sql <text>', 'run this SQL instead of a named query')
      .option('--engine <engine>', 'athena | local (default: local with --local, else athena)')
      .option('--format <format>', 'table | csv | json (default: table on a terminal, else csv)')
      .option('--list', 'list the named queries with their descriptions and parameters'),
  run: query,
  render: (summary, colours) =>
    'queries' in summary
      ? renderList(summary)
      : formatResult(summary, summary.format, { color: colours.isColorSupported }),
};

function renderList(summary: QueryListSummary): string {
  return summary.queries
    .map((q) =>
      [
        usageLine(q).replace('clickstream query ', ''),
        `  ${q.description}`,
        ...q.parameters.map((p) => `  ${p.name}: ${p.description}`),
      ].join('\n'),
    )
    .join('\n');
}
