/** What a runner has done so far, as its stats() reports it. */
import type { ShardCursor } from './shard-cursor.ts';

export interface ShardStats {
  checkpoint: string | null;
  buffered: number;
  windowOpen: boolean;
  caughtUp: boolean;
}

export interface LambdaRunnerStats {
  invocations: number;
  finalInvocations: number;
  functionErrors: number;
  partialFailures: number;
  retries: number;
  bisections: number;
  windowsTerminatedEarly: number;
  /** Records that completed successfully (each counted once, however often retried). */
  recordsProcessed: number;
  discardedBatches: number;
  discardedRecords: number;
  /** Largest serialized state a handler returned, in bytes. */
  maxStateBytes: number;
  /** GetRecords calls Kinesis throttled (each waited out and made again; nothing lost). */
  readThrottles: number;
  /** The longest an invocation ran, in ms. */
  longestInvocationMs: number;
  /** Invocations that ran longer than the function's deployed timeout (see deployedTimeoutMs). */
  invocationsPastTimeout: number;
  shards: Record<string, ShardStats>;
}

/** The runner-wide counters, kept apart from the per-shard figures read off the cursors. */
export type RunnerCounters = Omit<LambdaRunnerStats, 'shards'>;

export function newRunnerCounters(): RunnerCounters {
  return {
    invocations: 0,
    finalInvocations: 0,
    functionErrors: 0,
    partialFailures: 0,
    retries: 0,
    bisections: 0,
    windowsTerminatedEarly: 0,
    recordsProcessed: 0,
    discardedBatches: 0,
    discardedRecords: 0,
    maxStateBytes: 0,
    readThrottles: 0,
    longestInvocationMs: 0,
    invocationsPastTimeout: 0,
  };
}

export function runnerStats(counters: RunnerCounters, cursors: readonly ShardCursor[]): LambdaRunnerStats {
  return {
    ...counters,
    shards: Object.fromEntries(
      cursors.map((cursor) => [
        cursor.shardId,
        {
          checkpoint: cursor.checkpoint,
          buffered: cursor.buffer.length,
          windowOpen: cursor.window !== undefined,
          caughtUp: cursor.caughtUp,
        },
      ]),
    ),
  };
}
