/**
 * The per-shard throughput of a Kinesis stream, as AWS enforces it and kinesalite does not:
 *  - writes: up to 1,000 records and 1 MiB a second per shard, counting each record's data and
 *    partition key; an entry over it fails with ProvisionedThroughputExceededException
 *    (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html);
 *  - reads: up to 5 GetRecords calls and 2 MB a second per shard, shared by every reader of the shard
 *    (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html);
 *    a call that returns more than the second's share puts the shard in debt, and calls fail until it is
 *    paid ("if a call returns 10 MB, subsequent calls made within the next 5 seconds throw an exception").
 *
 * Each budget is a token bucket that holds one second of its rate and refills continuously. Time comes
 * from the caller, so the same decisions repeat in tests.
 */

export const KINESIS_SHARD_LIMITS = {
  writeRecordsPerSecond: 1_000,
  writeBytesPerSecond: 1024 * 1024,
  readCallsPerSecond: 5,
  // "2 MB": read as the smaller, decimal figure, so that local is never more lenient than AWS.
  readBytesPerSecond: 2_000_000,
} as const;

export type ShardLimits = typeof KINESIS_SHARD_LIMITS;

/** The limits as people read them (`local up`, its help). */
export const KINESIS_SHARD_LIMITS_TEXT =
  'writes 1 MiB and 1,000 records/s, reads 2 MB and 5 GetRecords calls/s per shard';

/** A budget of `rate` units a second, holding at most one second's worth; it may go into debt. */
class TokenBucket {
  private tokens: number;
  private updatedMs: number;

  constructor(
    private readonly rate: number,
    nowMs: number,
  ) {
    this.tokens = rate;
    this.updatedMs = nowMs;
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.updatedMs) / 1000;
    this.tokens = Math.min(this.rate, this.tokens + elapsed * this.rate);
    this.updatedMs = nowMs;
  }

  /** Whether `amount` fits now; takes it if so. */
  take(amount: number, nowMs: number): boolean {
    this.refill(nowMs);
    if (amount > this.tokens) return false;
    this.tokens -= amount;
    return true;
  }

  /** Whether anything is left (a read is allowed while the bucket is not in debt). */
  available(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens > 0;
  }

  /** Takes `amount` whatever is left: what was already read has to be paid for. */
  charge(amount: number, nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= amount;
  }
}

export interface ShardThrottles {
  /** Write entries refused, per `<stream>/<shard>`. */
  writes: Record<string, number>;
  /** GetRecords calls refused, per `<stream>/<shard>`. */
  reads: Record<string, number>;
}

export interface ShardThroughput {
  /** Whether one record of `bytes` (data and partition key) may be written to the shard now. */
  admitWrite(shard: string, bytes: number): boolean;
  /** Whether a GetRecords call on the shard may run now. */
  admitRead(shard: string): boolean;
  /** Charges what a GetRecords call returned to the shard's read budget. */
  chargeRead(shard: string, bytes: number): void;
  /** What was refused so far. */
  throttles(): ShardThrottles;
}

/**
 * No shard budgets (`--no-limits`): every call is admitted and nothing is refused. The per-call API
 * limits (a GetRecords answer's 10 MiB) are not shard budgets and still hold.
 */
export const UNLIMITED_THROUGHPUT: ShardThroughput = {
  admitWrite: () => true,
  admitRead: () => true,
  chargeRead: () => {},
  throttles: () => ({ writes: {}, reads: {} }),
};

/** `shard` names a stream's shard, `<stream>/<shardId>`: budgets are per shard. */
export function createShardThroughput(
  options: { now?: () => number; limits?: ShardLimits } = {},
): ShardThroughput {
  const now = options.now ?? (() => performance.now());
  const limits = options.limits ?? KINESIS_SHARD_LIMITS;
  const shards = new Map<
    string,
    { writeRecords: TokenBucket; writeBytes: TokenBucket; readCalls: TokenBucket; readBytes: TokenBucket }
  >();
  const throttles: ShardThrottles = { writes: {}, reads: {} };

  const budgetsOf = (shard: string) => {
    let budgets = shards.get(shard);
    if (!budgets) {
      const t = now();
      budgets = {
        writeRecords: new TokenBucket(limits.writeRecordsPerSecond, t),
        writeBytes: new TokenBucket(limits.writeBytesPerSecond, t),
        readCalls: new TokenBucket(limits.readCallsPerSecond, t),
        readBytes: new TokenBucket(limits.readBytesPerSecond, t),
      };
      shards.set(shard, budgets);
    }
    return budgets;
  };

  return {
    admitWrite(shard, bytes) {
      const budgets = budgetsOf(shard);
      const t = now();
      // Both budgets must hold the record; take neither when one cannot.
      if (budgets.writeRecords.take(1, t)) {
        if (budgets.writeBytes.take(bytes, t)) return true;
        budgets.writeRecords.charge(-1, t);
      }
      throttles.writes[shard] = (throttles.writes[shard] ?? 0) + 1;
      return false;
    },
    admitRead(shard) {
      const budgets = budgetsOf(shard);
      const t = now();
      if (budgets.readBytes.available(t) && budgets.readCalls.take(1, t)) return true;
      throttles.reads[shard] = (throttles.reads[shard] ?? 0) + 1;
      return false;
    },
    chargeRead(shard, bytes) {
      budgetsOf(shard).readBytes.charge(bytes, now());
    },
    throttles: () => structuredClone(throttles),
  };
}
