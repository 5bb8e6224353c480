/** `clickstream report`: the flags of analytics/report.ts's `report`, and the line it prints. */
import { formatBytes } from '../../analytics/format.ts';
import { ENGINE_KINDS } from '../../analytics/query.ts';
import { type ReportOptions, type ReportSummary, report } from '../../analytics/report.ts';
import type { CommandSpec } from '../command.ts';

export const reportCommand: CommandSpec<ReportOptions, ReportSummary> = {
  name: 'report',
  summary: 'run the dashboard queries and write one self-contained HTML page of charts (opens offline)',
  configure: (command) =>
    command
      .option('--out <file>', 'HTML file to write', 'report.html')
      .option('--engine <engine>', `${ENGINE_KINDS.join(' | ')} (default: local with --local, else athena)`)
      .option('--rows <n>', 'rows shown in each table', '20'),
  run: report,
  render: (summary) =>
    `wrote ${summary.out} (${formatBytes(summary.sizeBytes)}, ${summary.charts} charts, ${summary.incidents} incidents, ${summary.queries.length} queries on ${summary.engine})`,
};
