/**
 * A batch to completion: success; a partial failure checkpointed before the lowest reported record and
 * retried from it; a failed batch bisected (a split does not count against the retry quota) or retried
 * up to MaximumRetryAttempts, until its oldest record passes MaximumRecordAgeInSeconds; then the
 * on-failure destination, and the shard moves on.
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 *
 * Where AWS is silent, the runner's choices: a partially failed batch keeps the state the invocation
 * returned (the checkpointed records are in it); a bisected half starts from the state of the last
 * successful invocation.
 */
import { checkpoint } from './checkpoints.ts';
import { buildEvent, invoke } from './invoker.ts';
import { type OnFailureRecord, onFailureRecord } from './on-failure.ts';
import type { RunnerState } from './runner-state.ts';
import type { BufferedRecord, ShardCursor } from './shard-cursor.ts';
import { commitState, finalInvoke } from './tumbling-window.ts';

/** Runs one batch to completion: success, or retries/bisection, or the on-failure destination. */
export async function deliver(run: RunnerState, cursor: ShardCursor, batch: BufferedRecord[]): Promise<void> {
  const { counters } = run;
  const { maxRetryAttempts, retryDelayMs } = run.config;
  const queue: Array<{ records: BufferedRecord[]; retries: number }> = [{ records: batch, retries: 0 }];
  while (queue.length > 0 && !run.stopped) {
    const item = queue[0] as { records: BufferedRecord[]; retries: number };
    const result = await invoke(run, cursor, buildEvent(run, cursor, item.records, undefined), item.retries);
    if (result.ok && result.failures.length === 0) {
      const overflow = commitState(run, cursor, result.state);
      counters.recordsProcessed += item.records.length;
      await checkpoint(run, cursor, lastSequenceNumber(item.records));
      queue.shift();
      if (overflow) await finalInvoke(run, cursor, true);
      continue;
    }
    if (result.ok) {
      // Checkpoint before the lowest failed record; retry from it.
      counters.partialFailures++;
      const failed = new Set(result.failures);
      const lowest = item.records.findIndex((buffered) => failed.has(buffered.record.kinesis.sequenceNumber));
      const done = item.records.slice(0, lowest);
      const remaining = item.records.slice(lowest);
      commitState(run, cursor, result.state);
      counters.recordsProcessed += done.length;
      await checkpoint(run, cursor, lastSequenceNumber(done));
      const old = expired(run, remaining);
      if (old || (maxRetryAttempts >= 0 && item.retries >= maxRetryAttempts)) {
        const condition = old ? 'RecordAgeExceeded' : 'RetryAttemptsExhausted';
        await discard(run, cursor, remaining, item.retries + 1, 'partial batch failure', condition);
        await checkpoint(run, cursor, lastSequenceNumber(remaining));
        queue.shift();
      } else {
        counters.retries++;
        queue[0] = { records: remaining, retries: item.retries + 1 };
        await run.sleep(retryDelayMs);
      }
      continue;
    }
    if (run.options.bisectBatchOnError && item.records.length > 1) {
      // A split does not count against the retry quota.
      counters.bisections++;
      const middle = Math.ceil(item.records.length / 2);
      queue.splice(
        0,
        1,
        { records: item.records.slice(0, middle), retries: item.retries },
        { records: item.records.slice(middle), retries: item.retries },
      );
      continue;
    }
    if (expired(run, item.records)) {
      await discard(run, cursor, item.records, item.retries + 1, result.error, 'RecordAgeExceeded');
      await checkpoint(run, cursor, lastSequenceNumber(item.records));
      queue.shift();
      continue;
    }
    if (maxRetryAttempts >= 0 && item.retries >= maxRetryAttempts) {
      await discard(run, cursor, item.records, item.retries + 1, result.error);
      await checkpoint(run, cursor, lastSequenceNumber(item.records));
      queue.shift();
      continue;
    }
    counters.retries++;
    queue[0] = { records: item.records, retries: item.retries + 1 };
    await run.sleep(retryDelayMs);
  }
}

function lastSequenceNumber(records: readonly BufferedRecord[]): string | undefined {
  return records[records.length - 1]?.record.kinesis.sequenceNumber;
}

/** Lambda stops retrying a batch once its oldest record is older than MaximumRecordAgeInSeconds. */
function expired(run: RunnerState, records: BufferedRecord[]): boolean {
  const { maxRecordAgeMs } = run.config;
  const oldest = records[0];
  return maxRecordAgeMs >= 0 && oldest !== undefined && Date.now() - oldest.arrivalMs > maxRecordAgeMs;
}

async function discard(
  run: RunnerState,
  cursor: ShardCursor,
  records: BufferedRecord[],
  invokeCount: number,
  error: string,
  condition: OnFailureRecord['requestContext']['condition'] = 'RetryAttemptsExhausted',
) {
  const record = onFailureRecord({
    functionArn: run.config.functionArn,
    streamArn: run.source.streamArn,
    shardId: cursor.shardId,
    records,
    invokeCount,
    condition,
  });
  if (!record) return;
  run.counters.discardedBatches++;
  run.counters.discardedRecords += records.length;
  run.config.logger.warn('batch discarded', {
    shardId: cursor.shardId,
    records: records.length,
    condition,
    error,
  });
  await run.options.onFailure?.send(record);
}
