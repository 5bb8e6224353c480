/**
 * What the Kinesis limits front's handlers share: the way to kinesalite, the shard router, the shard
 * budgets, and the shard iterators it handed out, with the shard each reads.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ForwardedResponse } from '../http-forward.ts';
import type { ShardRouter } from '../kinesis/shard-router.ts';
import type { ShardThroughput } from './kinesis-throughput.ts';

/** AWS: a shard iterator expires 5 minutes after it is returned; the front forgets it then too. */
const ITERATOR_LIFETIME_MS = 5 * 60_000;

export type FrontRequest = Pick<IncomingMessage, 'headers' | 'method' | 'url'>;

/** One Kinesis action the front takes apart: the request, its raw body, and the body parsed. */
export type FrontHandler = (req: FrontRequest, raw: Buffer, body: unknown) => Promise<ForwardedResponse>;

export interface IteratorOwner {
  stream: string;
  shardId: string;
  issuedMs: number;
}

export interface FrontContext {
  /** Passes a request on to kinesalite as it came. */
  forward(req: FrontRequest, body: Buffer): Promise<ForwardedResponse>;
  /** Makes a call of the front's own to kinesalite, with the caller's credentials. */
  upstreamCall(headers: IncomingHttpHeaders, action: string, body: object): Promise<ForwardedResponse>;
  router: ShardRouter;
  throughput: ShardThroughput;
  /** The budget key of a shard (`<stream>/<shardId>`); notes the stream for the per-stream totals. */
  shardKey(stream: string, shardId: string): string;
  iterators: IteratorOwners;
}

export interface IteratorOwners {
  /** Remembers which shard an iterator the front passed on reads. */
  learn(iterator: unknown, owner: Omit<IteratorOwner, 'issuedMs'>): void;
  ownerOf(iterator: string): IteratorOwner | undefined;
}

/** Iterators are forgotten once expired, swept at most every 30 s, so the map does not grow without end. */
export function createIteratorOwners(): IteratorOwners {
  const iterators = new Map<string, IteratorOwner>();
  let sweptMs = Date.now();
  return {
    learn(iterator, owner) {
      if (typeof iterator !== 'string') return;
      const now = Date.now();
      iterators.set(iterator, { ...owner, issuedMs: now });
      if (now - sweptMs < 30_000) return;
      sweptMs = now;
      for (const [key, { issuedMs }] of iterators)
        if (now - issuedMs > ITERATOR_LIFETIME_MS) iterators.delete(key);
    },
    ownerOf: (iterator) => iterators.get(iterator),
  };
}
