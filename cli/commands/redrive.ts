/** `clickstream redrive`: the flags of producer/redrive.ts's `redrive`, and its summary as people read it. */
import type { Command } from 'commander';
import { PARTITION_KEY_FIELDS } from '../../producer/batcher.ts';
import {
  AGGREGATOR_DEAD_LETTERS,
  type FailureQueueSummary,
  type RedriveOptions,
  type RedriveSummary,
  redrive,
  type SourceCounts,
} from '../../producer/redrive.ts';
import type { Colours } from '../colours.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { resolveSettings } from '../config.ts';
import { stackFiles } from '../local-lifecycle.ts';

/** The global flags redrive reads besides its own: where the config and the local stack's state file are. */
interface RedriveFlags extends RedriveOptions {
  config?: string;
  local?: boolean;
}

/** redrive with the local stack's work dir where `local up` keeps it: beside its state file. */
function redriveCommandRun(options: RedriveFlags, context: CommandContext): Promise<RedriveSummary> {
  const { config, local, ...rest } = options;
  return redrive(
    {
      ...rest,
      defaultWorkDir: () => stackFiles(resolveSettings({ config, local }, process.env).stateFile).workDir,
    },
    context,
  );
}

/** The summary as people read it: one block per source, and what to do about what is left. */
export function renderRedrive(summary: RedriveSummary, colours: Colours): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const verb = summary.dryRun ? 'would re-send' : 're-sent';
  const lines: string[] = [
    `${summary.dryRun ? 'dry run: nothing sent or deleted; ' : ''}into ${summary.stream} in ${(summary.durationMs / 1000).toFixed(1)} s`,
  ];
  const reasons = (byReason: Record<string, number>) =>
    Object.entries(byReason)
      .map(([reason, count]) => `${reason} ${n(count)}`)
      .join(', ');
  const mark = (counts: SourceCounts) =>
    counts.stillFailing + counts.lostToRetention > 0 ? colours.yellow('!') : colours.green('✓');
  if (summary.failedRecords) {
    const part = summary.failedRecords;
    lines.push(
      `${mark(part)} failed records  read ${n(part.read)} events, ${verb} ${n(part.resent)}, still failing ${n(part.stillFailing)}  (${part.files.join(', ')})`,
    );
  }
  if (summary.deadLetters) {
    const part = summary.deadLetters;
    const why = reasons(part.byReason);
    lines.push(
      `${mark(part)} dead letters    read ${n(part.read)} in ${n(part.objects)} files, ${verb} ${n(part.resent)} (${n(part.events)} events), still failing ${n(part.stillFailing)}${why ? ` (${why})` : ''}  (${part.location})`,
    );
  }
  const queueLines = (label: string, part: FailureQueueSummary) => {
    const why = reasons(part.byReason);
    lines.push(
      `${mark(part)} ${label}read ${n(part.read)} ranges (${n(part.records)} records), ${verb} ${n(part.resent)} (${n(part.recordsResent)} records), still failing ${n(part.stillFailing)}, lost to retention ${n(part.lostToRetention)} (${n(part.recordsLost)} records)  (${part.location})`,
    );
    lines.push(
      `  messages deleted ${n(part.deleted)}, kept ${n(part.kept)}${why ? ` (${why})` : ''}; the stream keeps records ${part.retentionHours ?? '?'} h`,
    );
  };
  if (summary.failureQueue) queueLines('failure queue   ', summary.failureQueue);
  if (summary.alerterFailureQueue) {
    queueLines('alerter queue   ', summary.alerterFailureQueue);
    lines.push(`  its ranges went back into ${summary.alerterFailureQueue.stream}`);
  }
  if (summary.failedOut) lines.push(`refused again by Kinesis: ${summary.failedOut}`);
  if (summary.interrupted)
    lines.push('interrupted: what was not reached is left where it was; run the command again');
  lines.push(
    summary.complete
      ? summary.dryRun
        ? 'everything read would be re-sent; run without --dry-run to send it'
        : 'everything read is back on the stream; re-driving again changes no total'
      : 'not everything could be re-driven: what is left stays where it was (see docs/operations.md, Re-driving)',
  );
  return lines.join('\n');
}

export const redriveCommand: CommandSpec<RedriveFlags, RedriveSummary> = {
  name: 'redrive',
  summary: 'Send what the pipeline could not process back into the events stream (counted once)',
  configure(command: Command) {
    command
      .summary('Send what the pipeline could not process back into the events stream (counted once)')
      .description(
        [
          'Send what the pipeline could not process back into the events stream.',
          'Name one or more sources:',
          '  --failed-records  events Kinesis kept refusing to replay, sent as they are',
          '  --dead-letters    records the aggregator could not parse: read again with',
          '                    this version; what parses now is sent, the rest is kept',
          '  --failure-queue   batches the aggregator gave up on: each shard/sequence',
          '                    range is read back from the stream and put again; its',
          '                    message is deleted once all of it is back, and kept when',
          "                    its records passed the stream's retention",
          '  --alerter-failure-queue  batches the bot alerter gave up on: each range',
          '                    is read back from the user-activity stream and put on',
          '                    it again, for the alerter to judge those users again',
          'Every event keeps its event_id and counts once: re-driving twice changes',
          'no total and mails no alert twice. Exit code 1 when anything is left over.',
        ].join('\n'),
      )
      .option(
        '--failed-records <file...>',
        "replay's failed-records file(s), e.g. .clickstream/<source>.failed.jsonl (left unchanged)",
      )
      .option(
        '--dead-letters [location]',
        `the aggregator's dead letters, s3://bucket/prefix/ or a directory of them (default: s3://<raw bucket>/${AGGREGATOR_DEAD_LETTERS}, the local stack's with --local); left in place`,
      )
      .option(
        '--failure-queue [url|file]',
        "the aggregator's on-failure queue (default: names.aggregatorFailureQueue of the config; with --local <work-dir>/<that name>.jsonl)",
      )
      .option(
        '--alerter-failure-queue [url|file]',
        "the bot alerter's on-failure queue (default: names.alerterFailureQueue of the config; with --local <work-dir>/<that name>.jsonl); its ranges go back to the user-activity stream",
      )
      .option(
        '--work-dir <dir>',
        "the local stack's work dir, with --local (default: beside its state file, .clickstream/local-stack/)",
      )
      .option('--stream <name>', "Kinesis stream to send to (default: the stack's events stream)")
      .option(
        '--partition-key <field>',
        `partition key of dead letters that parse now, as replay: ${PARTITION_KEY_FIELDS.join(' | ')}`,
        'category_id',
      )
      .option(
        '--failed-out <file>',
        'events Kinesis refuses again (default .clickstream/redrive-<time>.failed.jsonl)',
      )
      .option(
        '--dry-run',
        'read, parse and re-read the ranges; show what would be sent; send and delete nothing',
      )
      .option('--no-aggregate', 'one Kinesis record per event (default: KPL-aggregated per shard, as replay)')
      .option('--max-retries <n>', 'resends of a refused record before it goes to --failed-out', '10');
  },
  run: redriveCommandRun,
  render: renderRedrive,
  exitCode: (summary) => (summary.complete ? 0 : 1),
};
