/**
 * What a Kinesis reader does when GetRecords is throttled (ProvisionedThroughputExceededException: the
 * shard's 5 calls/s or 2 MB/s, shared by all its readers, are used up): it waits and calls again with
 * the same iterator, which stays valid. Nothing is lost, the reader only falls behind. The GetRecords
 * reference asks for a wait of a second, possibly longer ("it's possible that the application will get
 * exceptions for longer than 1 second",
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html): so a second, doubling
 * while the throttling lasts, up to 4 s (a 10 MiB read keeps a shard refusing for 5 s), with some
 * jitter so two readers of one shard do not keep colliding.
 */
import { THROUGHPUT_EXCEEDED } from './put-records.ts';

export function isThrottled(error: unknown): boolean {
  return error instanceof Error && error.name === THROUGHPUT_EXCEEDED;
}

/** The wait before the next GetRecords after `consecutive` throttled ones (1, 2, ...). */
export function readBackoffMs(consecutive: number, random: () => number = Math.random): number {
  const step = Math.min(4_000, 1_000 * 2 ** Math.max(0, consecutive - 1));
  return Math.round(step * (1 + random() / 4));
}
