/**
 * Which shard a partition key lands on (md5 of the key within the shards' hash-key ranges, as Kinesis
 * computes it), and an adaptive send rate per shard.
 */
import { createHash } from 'node:crypto';
import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import { isOpenShard, listShards } from '../adapters/kinesis-shards.ts';
import { fatalAwsError } from './errors.ts';

export class ShardMap {
  /** Ordered by starting hash key; indexes into this are what shardOf returns. */
  readonly shards: ReadonlyArray<{ shardId: string; startingHashKey: bigint }>;
  private readonly starts: bigint[];
  private readonly cache = new Map<string, number>();

  /** `shards`: the open shards of the stream, in any order. */
  constructor(shards: ReadonlyArray<{ shardId: string; startingHashKey: bigint }>) {
    this.shards = [...shards].sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
    this.starts = this.shards.map((shard) => shard.startingHashKey);
  }

  get count(): number {
    return this.starts.length;
  }

  /** Index (into `shards`) of the shard that takes this partition key. */
  shardOf(partitionKey: string): number {
    const cached = this.cache.get(partitionKey);
    if (cached !== undefined) return cached;
    const hash = BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.starts[mid] as bigint) <= hash) low = mid;
      else high = mid - 1;
    }
    // Category ids repeat all the time; user ids may not, so the cache is bounded.
    if (this.cache.size >= 100_000) this.cache.clear();
    this.cache.set(partitionKey, low);
    return low;
  }

  static single(): ShardMap {
    return new ShardMap([{ shardId: 'shardId-000000000000', startingHashKey: 0n }]);
  }
}

/** The open shards of a stream (closed parents of a reshard are skipped: they take no writes). */
export async function loadShardMap(kinesis: KinesisClient, streamName: string): Promise<ShardMap> {
  let shards: Shard[];
  try {
    shards = await listShards(kinesis, streamName);
  } catch (error) {
    throw fatalAwsError(error, `Kinesis stream ${streamName}`) ?? error;
  }
  return new ShardMap(
    shards.filter(isOpenShard).map((shard) => ({
      shardId: shard.ShardId ?? '',
      startingHashKey: BigInt(shard.HashKeyRange?.StartingHashKey ?? '0'),
    })),
  );
}

export interface RateLimiterOptions {
  now?: () => number;
  /** Lowest rate a shard is slowed to, records/s. */
  floorPerSecond?: number;
  /** Additive increase per successful call on a slowed shard, records/s. */
  increasePerSecond?: number;
  /** Multiplicative decrease on throttling. */
  decreaseFactor?: number;
  /** Throttles closer together than this count once: one call's failed entries are one signal. */
  decreaseIntervalMs?: number;
}

interface ShardRate {
  /** records/s; undefined: not limited (never throttled, or recovered). */
  limit: number | undefined;
  tokens: number;
  refilledAt: number;
  lastDecreaseAt: number;
  windowStart: number;
  windowCount: number;
  observedPerSecond: number;
  throttles: number;
}

/**
 * AIMD per shard on top of a token bucket. A shard runs unlimited until Kinesis throttles it; then its
 * rate drops to half of what it was taking, and climbs back additively with each successful call.
 * Slowing down per shard (not globally) is what a hot category shard needs: the others keep their pace.
 */
export class ShardRateLimiter {
  private readonly rates = new Map<number, ShardRate>();
  private readonly now: () => number;
  private readonly floor: number;
  private readonly increase: number;
  private readonly decrease: number;
  private readonly decreaseInterval: number;

  constructor(options: RateLimiterOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.floor = options.floorPerSecond ?? 10;
    this.increase = options.increasePerSecond ?? 50;
    this.decrease = options.decreaseFactor ?? 0.5;
    this.decreaseInterval = options.decreaseIntervalMs ?? 100;
  }

  /** Takes `count` records' worth of tokens; returns how long to wait before sending them (ms). */
  reserve(shard: number, count: number): number {
    const state = this.state(shard);
    const now = this.now();
    this.observe(state, count, now);
    if (state.limit === undefined) return 0;
    state.tokens = Math.min(state.limit, state.tokens + ((now - state.refilledAt) / 1000) * state.limit);
    state.refilledAt = now;
    state.tokens -= count;
    return state.tokens >= 0 ? 0 : (-state.tokens / state.limit) * 1000;
  }

  throttled(shard: number): void {
    const state = this.state(shard);
    const now = this.now();
    state.throttles++;
    if (now - state.lastDecreaseAt < this.decreaseInterval) return;
    state.lastDecreaseAt = now;
    const current = state.limit ?? Math.max(this.floor, state.observedPerSecond, this.windowRate(state, now));
    state.limit = Math.max(this.floor, current * this.decrease);
    state.tokens = Math.min(state.tokens, 0);
    state.refilledAt = now;
  }

  succeeded(shard: number): void {
    const state = this.rates.get(shard);
    if (state?.limit === undefined) return;
    state.limit += this.increase;
  }

  /** Current limit of a shard in records/s (undefined: unlimited). */
  limitOf(shard: number): number | undefined {
    return this.rates.get(shard)?.limit;
  }

  throttlesOf(shard: number): number {
    return this.rates.get(shard)?.throttles ?? 0;
  }

  private state(shard: number): ShardRate {
    let state = this.rates.get(shard);
    if (!state) {
      const now = this.now();
      state = {
        limit: undefined,
        tokens: 0,
        refilledAt: now,
        lastDecreaseAt: -Infinity,
        windowStart: now,
        windowCount: 0,
        observedPerSecond: 0,
        throttles: 0,
      };
      this.rates.set(shard, state);
    }
    return state;
  }

  private observe(state: ShardRate, count: number, now: number): void {
    if (now - state.windowStart >= 1000) {
      state.observedPerSecond = this.windowRate(state, now);
      state.windowStart = now;
      state.windowCount = 0;
    }
    state.windowCount += count;
  }

  private windowRate(state: ShardRate, now: number): number {
    const seconds = Math.max(0.1, (now - state.windowStart) / 1000);
    return state.windowCount / seconds;
  }
}
