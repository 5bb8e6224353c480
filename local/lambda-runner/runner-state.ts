/**
 * The state every part of one runner shares: its settings, counters and shards, whether it is
 * stopping or draining, and the sleeps stop() cuts short.
 */
import type { LambdaRunnerOptions, RunnerConfig } from './settings.ts';
import type { RecordSource, ShardCursor } from './shard-cursor.ts';
import type { RunnerCounters } from './stats.ts';

export interface RunnerState {
  options: LambdaRunnerOptions;
  config: RunnerConfig;
  source: RecordSource;
  counters: RunnerCounters;
  cursors: ShardCursor[];
  stopped: boolean;
  draining: boolean;
  /** Invocations started, across shards: the n each hook call gets. */
  invocationCount: number;
  /**
   * Moved on every record read and every invocation that succeeds: a drain that sees it stand still
   * for stallTimeoutMs is waiting for something that will not happen.
   */
  lastProgressMs: number;
  /** A pause that stop() ends at once. */
  sleep(ms: number): Promise<void>;
  /** Ends every pause in progress (stop()). */
  wakeSleepers(): void;
}

/** Pauses that can all be ended early, so stop() need not wait out a retry delay or a poll interval. */
export function wakeableSleep(): Pick<RunnerState, 'sleep' | 'wakeSleepers'> {
  const sleepers = new Set<() => void>();
  return {
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          sleepers.delete(wake);
          resolve();
        }, ms);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        sleepers.add(wake);
      }),
    wakeSleepers() {
      for (const wake of sleepers) wake();
    },
  };
}
