/**
 * When buffered records become a batch: at BatchSize, at the 6 MB invocation payload limit, at a
 * tumbling window boundary (a batch never spans two windows), or once MaximumBatchingWindowInSeconds
 * has passed since the first buffered record.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 */
import type { RunnerState } from './runner-state.ts';
import type { BufferedRecord, ShardCursor } from './shard-cursor.ts';
import { windowOf } from './tumbling-window.ts';

/** AWS: synchronous invocation payload ≤ 6 MB. */
export const INVOKE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

/** The next batch to invoke, or undefined when the shard should wait for more records. */
export function takeBatch(run: RunnerState, cursor: ShardCursor, now: number): BufferedRecord[] | undefined {
  const { batchSize, maxBatchingWindowMs, windowMs } = run.config;
  const first = cursor.buffer[0];
  if (!first) return undefined;
  let count = 0;
  let bytes = 0;
  let endedByWindow = false;
  const firstWindow = windowMs > 0 ? windowOf(run, first.arrivalMs).startMs : 0;
  for (const buffered of cursor.buffer) {
    if (count === batchSize) break;
    if (windowMs > 0 && windowOf(run, buffered.arrivalMs).startMs !== firstWindow) {
      endedByWindow = true;
      break;
    }
    if (count > 0 && bytes + buffered.bytes > INVOKE_PAYLOAD_LIMIT_BYTES) break;
    bytes += buffered.bytes;
    count++;
  }
  const full = count === batchSize || count < cursor.buffer.length;
  const waited = now - cursor.bufferSinceMs >= maxBatchingWindowMs;
  if (!(full || endedByWindow || waited || (run.draining && cursor.caughtUp))) return undefined;
  const batch = cursor.buffer.splice(0, count);
  cursor.bufferSinceMs = now;
  return batch;
}
