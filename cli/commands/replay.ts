/** `clickstream replay`: the flags of producer/replay.ts's `replay`, and its summary as people read it. */
import type { Command } from 'commander';
import { KINESIS_LIMITS, PARTITION_KEY_FIELDS } from '../../producer/batcher.ts';
import { CHECKPOINT_DIRECTORY } from '../../producer/checkpoint.ts';
import {
  DEFAULT_CONCURRENCY,
  type ReplayOptions,
  type ReplaySummary,
  renderByteAccount,
  replay,
} from '../../producer/replay.ts';
import type { CommandSpec } from '../command.ts';

export const replayCommand: CommandSpec<ReplayOptions, ReplaySummary> = {
  name: 'replay',
  summary: 'Replay a Kaggle clickstream CSV (file or S3, plain or .gz) into the Kinesis events stream',
  configure(command: Command) {
    command
      .requiredOption('--source <path|s3://bucket/key>', 'CSV to replay (.csv or .csv.gz)')
      .option('--stream <name>', "Kinesis stream (default: the stack's events stream)")
      .option('--partition-key <field>', `partition key: ${PARTITION_KEY_FIELDS.join(' | ')}`, 'category_id')
      .option(
        '--speed <x|max>',
        'replay the original gaps divided by x, or "max" for as fast as the stream takes',
        'max',
      )
      .option('--from <iso>', 'first event time to send (inclusive)')
      .option('--to <iso>', 'event time to stop before (exclusive)')
      .option('--limit <n>', 'stop after n rows')
      .option('--dry-run', 'parse, validate and batch; send nothing')
      .option(
        '--no-aggregate',
        'one Kinesis record per event, for consumers that cannot de-aggregate KPL records (default: KPL-aggregated per shard)',
      )
      .option(
        '--max-batch-bytes <n>',
        'bytes per PutRecords call, 1 MiB..10 MiB',
        String(KINESIS_LIMITS.defaultBytesPerCall),
      )
      .option(
        '--concurrency <n>',
        'PutRecords calls in flight (at most one per shard)',
        String(DEFAULT_CONCURRENCY),
      )
      .option(
        '--max-retries <n>',
        'resends of a failed record before it goes to the failed-records file',
        '10',
      )
      .option(
        '--rejects <file>',
        'rejected rows (default .clickstream/<name>.rejects.csv; S3 sources: rejects/ in the raw bucket)',
      )
      .option(
        '--failed-out <file>',
        'records still failing after retries (default .clickstream/<name>.failed.jsonl)',
      )
      .option(
        '--checkpoint <file>',
        `resume from and keep progress in this file (default: one per source and stream under ${CHECKPOINT_DIRECTORY})`,
      )
      .option('--no-checkpoint', 'keep no checkpoint: a rerun starts from the first row')
      .option('--restart', 'ignore the checkpoint and replay from the first row (re-sent events count once)');
  },
  run: replay,
  render(summary) {
    const reasons = Object.entries(summary.rejected.byReason)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(', ');
    const lines = [
      `${summary.dryRun ? 'dry run: ' : ''}read ${summary.read}, sent ${summary.sent}, rejected ${summary.rejected.total}${reasons ? ` (${reasons})` : ''}, failed ${summary.failed}, retried ${summary.retried}`,
      `${summary.eventsPerSecond} events/s over ${(summary.durationMs / 1000).toFixed(1)} s into ${summary.stream} (${summary.shards} shards, ${summary.calls} calls, ${summary.records} ${summary.aggregated ? 'KPL-aggregated ' : ''}records${summary.throttled ? `, ${summary.throttled} throttled` : ''})`,
    ];
    if (summary.skipped) lines.push(`skipped ${summary.skipped} events outside --from/--to`);
    if (summary.firstEventTime)
      lines.push(`event time ${summary.firstEventTime} .. ${summary.lastEventTime}`);
    if (summary.resumedFrom) {
      lines.push(
        summary.possibleDuplicates > 0
          ? `resumed from line ${summary.resumedFrom.line}; up to ${summary.possibleDuplicates} events were sent again, with their event ids, so they count once`
          : `resumed from line ${summary.resumedFrom.line}`,
      );
    }
    lines.push(renderByteAccount(summary.bytes));
    if (summary.startedOver) lines.push(`started over: ${summary.startedOver}`);
    if (summary.rejectsFile) lines.push(`rejects: ${summary.rejectsFile}`);
    if (summary.failedFile) lines.push(`failed records: ${summary.failedFile}`);
    if (summary.interrupted) lines.push('interrupted before the end of the source');
    return lines.join('\n');
  },
  exitCode: (summary) => (summary.failed > 0 || !summary.bytes.addsUp ? 1 : 0),
};
