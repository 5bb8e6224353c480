/**
 * Waiting until a runner has nothing left to do, and saying what it still waits for when no progress
 * comes for stallTimeoutMs, instead of waiting without end. Progress is a record read, an invocation
 * that succeeded, or (when the runner is told how to count it) the function's own work.
 */
import type { RunnerState } from './runner-state.ts';
import { LambdaRunnerError } from './settings.ts';
import type { ShardCursor } from './shard-cursor.ts';

function isShardIdle(cursor: ShardCursor, sinceMs: number): boolean {
  return (
    !cursor.busy &&
    cursor.buffer.length === 0 &&
    cursor.window === undefined &&
    (cursor.closed || (cursor.caughtUp && cursor.caughtUpPollStartedMs >= sinceMs))
  );
}

/** What the shards that are not idle yet are waiting for, one clause per shard. */
function waitingFor(cursors: readonly ShardCursor[], sinceMs: number): string {
  return cursors
    .filter((cursor) => !isShardIdle(cursor, sinceMs))
    .map((cursor) => {
      const parts = [
        cursor.buffer.length > 0 ? `${cursor.buffer.length} records buffered` : undefined,
        cursor.window ? 'a window open' : undefined,
        cursor.invokingSinceMs ? 'an invocation running' : undefined,
        cursor.caughtUp ? undefined : 'not read to its end',
        cursor.lastError ? `last error: ${cursor.lastError}` : undefined,
      ].filter(Boolean);
      return `${cursor.shardId} (${parts.join(', ')})`;
    })
    .join('; ');
}

/** Resolves once every shard is read to its end (by a read started now or later), with nothing left. */
export async function waitUntilIdle(run: RunnerState): Promise<void> {
  const { cursors } = run;
  const sinceMs = Date.now();
  let work = run.options.workDone?.();
  while (!cursors.every((cursor) => isShardIdle(cursor, sinceMs))) {
    if (run.stopped) throw new LambdaRunnerError('runner stopped before it became idle');
    const workNow = run.options.workDone?.();
    if (workNow !== work) {
      work = workNow;
      run.lastProgressMs = Date.now();
    }
    const inFlight = cursors.map((cursor) => cursor.invokingSinceMs ?? 0);
    const stalledMs = Date.now() - Math.max(run.lastProgressMs, sinceMs, ...inFlight);
    if (stalledMs > run.config.stallTimeoutMs) {
      throw new LambdaRunnerError(
        `${run.config.functionName} made no progress for ${(stalledMs / 1000).toFixed(1)} s while draining ${run.options.streamName}: ${waitingFor(cursors, sinceMs)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
