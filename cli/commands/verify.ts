/** `clickstream verify`: the flags of analytics/verify.ts's `verify`, and its checks as people read them. */
import type { Command } from 'commander';
import { type AlertScore, type VerifyOptions, type VerifySummary, verify } from '../../analytics/verify.ts';
import { DEFAULT_WINDOW_SECONDS } from '../../core/aggregate.ts';
import type { Colours } from '../colours.ts';
import type { CommandSpec } from '../command.ts';

export function renderVerify(summary: VerifySummary, pc: Colours): string {
  const width = Math.max(...summary.checks.map((c) => c.name.length));
  const lines = summary.checks.map((c) => {
    const mark = c.ok ? pc.green('pass') : pc.red('FAIL');
    const figures = c.ok ? String(c.actual) : `expected ${c.expected}, got ${c.actual}`;
    return `${mark}  ${c.name.padEnd(width)}  ${figures}${c.detail && !c.ok ? `\n      ${pc.dim(c.detail)}` : ''}`;
  });
  lines.push(...renderAlertScore(summary.alerts, pc));
  const failed = summary.checks.filter((c) => !c.ok).length;
  lines.push(
    failed === 0
      ? pc.green(`all ${summary.checks.length} checks passed`)
      : pc.red(`${failed} of ${summary.checks.length} checks failed`),
  );
  return lines.join('\n');
}

/** The alert score as lines: emails and incidents, then a table of bot kinds when scored. */
export function renderAlertScore(score: AlertScore, pc: Colours, indent = ''): string[] {
  const lines = [
    `${indent}${score.emails.toLocaleString('en-US')} alert emails for ${score.incidents.toLocaleString('en-US')} incidents${score.falseAlerts === null ? '' : ` · false alerts ${score.falseAlerts}`}`,
  ];
  if (score.byKind) {
    const kinds = Object.entries(score.byKind);
    const width = Math.max(8, ...kinds.map(([kind]) => kind.length));
    lines.push(pc.dim(`${indent}${'bot kind'.padEnd(width)}  injected  alerted`));
    for (const [kind, entry] of kinds) {
      const alerted = String(entry.alerted).padStart(7);
      lines.push(
        `${indent}${kind.padEnd(width)}  ${String(entry.injected).padStart(8)}  ${entry.alerted < entry.injected ? pc.red(alerted) : alerted}`,
      );
    }
  }
  return lines;
}

export const verifyCommand: CommandSpec<VerifyOptions, VerifySummary> = {
  name: 'verify',
  summary:
    'compare what the pipeline produced (DynamoDB, lake, alerts) with the source CSV; exit 1 on any mismatch',
  configure: (command: Command) =>
    command
      .option('--source <file|s3://bucket/key>', 'the CSV that was replayed')
      .option(
        '--truth <file|s3://bucket/key>',
        "generator ground truth, to score alerts (generate's <out>.truth.json)",
      )
      .option('--sample <share>', 'check per-user windows for this share of users only (e.g. 0.01)')
      .option('--window-seconds <n>', 'event-time window of the aggregates', String(DEFAULT_WINDOW_SECONDS))
      .option('--engine <engine>', 'athena | local (default: local with --local, else athena)'),
  run: verify,
  render: renderVerify,
  exitCode: (summary) => (summary.passed ? 0 : 1),
};
