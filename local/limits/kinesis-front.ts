/**
 * The Kinesis shard limits, enforced where every caller meets them: an HTTP server on the stack's
 * Kinesis port, in front of kinesalite (which enforces none), so the CLI's replay in another process,
 * the local Lambda runner's pollers and the local Firehose readers are all limited alike. It decides
 * with the per-shard budgets of kinesis-throughput.ts and answers as Kinesis does:
 *  - PutRecords: an entry over its shard's write budget fails with ProvisionedThroughputExceededException
 *    at its index (FailedRecordCount counts it) and is not written; the others are.
 *  - PutRecord: over budget, the call fails with ProvisionedThroughputExceededException.
 *  - GetRecords: a call over its shard's 5 calls/s, or while the shard's 2 MB/s is in debt, fails with
 *    ProvisionedThroughputExceededException; what a call returns is charged to the shard's budget, shared
 *    by every reader. A call returns at most 10 MiB, as in AWS: past that the answer is cut after a
 *    whole record and continues from an iterator after it
 *    (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html).
 * A shard iterator is opaque: which shard it reads is learnt from the GetShardIterator call that made it
 * (its ShardId) and passed on to each GetRecords answer's NextShardIterator. Everything else, and any call
 * it cannot take apart (malformed, another encoding, an unknown stream), goes to kinesalite untouched,
 * whose own answer then stands. It answers its own origin only, as every local server does.
 *
 * With the shard limits off (`--no-limits`) it still stands in front of kinesalite for reads: the
 * 10 MiB a GetRecords call returns is an API limit, not a shard budget, and kinesalite, which counts
 * records only, would otherwise answer a long backlog of large records in one string too big to build.
 *
 * The parts: write-limits.ts (PutRecords, PutRecord), read-limits.ts (GetShardIterator, GetRecords),
 * front-context.ts (what they share: kinesalite, the router, the budgets, the iterators handed out).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { createKinesisClient } from '../../adapters/clients.ts';
import { createBufferingServer, forwardRequest } from '../http-forward.ts';
import { jsonError } from '../kinesis/put-records.ts';
import { createShardRouter, RESHAPING_TARGETS, streamNameOf } from '../kinesis/shard-router.ts';
import { listen } from '../net.ts';
import { acceptOwnOriginOnly } from '../origin-guard.ts';
import {
  createIteratorOwners,
  type FrontContext,
  type FrontHandler,
  type FrontRequest,
} from './front-context.ts';
import {
  createShardThroughput,
  type ShardLimits,
  type ShardThrottles,
  UNLIMITED_THROUGHPUT,
} from './kinesis-throughput.ts';
import { readHandlers } from './read-limits.ts';
import { writeHandlers } from './write-limits.ts';

export { GET_RECORDS_MAX_BYTES } from './read-limits.ts';

/** What the limits refused so far, per stream: write entries and GetRecords calls. */
export type StreamThrottles = Record<string, { writes: number; reads: number }>;

export interface KinesisLimitsOptions {
  /** kinesalite's endpoint, on a port nobody else is told about. */
  upstream: string;
  host?: string;
  /** Default: any free port. */
  port?: number;
  /** The budgets' clock in ms (default performance.now): tests move it by hand. */
  now?: () => number;
  /**
   * The shard budgets (default KINESIS_SHARD_LIMITS), or false for none (`--no-limits`): then writes
   * pass through untouched, and only the per-call API limits hold, which kinesalite does not keep
   * either (a GetRecords answer's 10 MiB).
   */
  limits?: ShardLimits | false;
}

export interface KinesisLimits {
  endpoint: string;
  port: number;
  throttles(): StreamThrottles;
  /** The same, per `<stream>/<shardId>`. */
  shardThrottles(): ShardThrottles;
  stop(): Promise<void>;
}

export async function startKinesisLimits(options: KinesisLimitsOptions): Promise<KinesisLimits> {
  const upstream = new URL(options.upstream);
  const throughput =
    options.limits === false
      ? UNLIMITED_THROUGHPUT
      : createShardThroughput({
          ...(options.now ? { now: options.now } : {}),
          ...(options.limits ? { limits: options.limits } : {}),
        });
  const streams = new Set<string>();

  // The caller's Origin, if any, was checked to be this server's own: kinesalite, on another port,
  // would take it for a foreign one.
  const forward = (req: FrontRequest, body: Buffer) => {
    const { origin: _origin, referer: _referer, ...headers } = req.headers;
    return forwardRequest(upstream, { ...req, headers }, body);
  };
  // No retries: a failed listing passes the call on unlimited and is asked again next time.
  const upstreamKinesis = createKinesisClient({ endpoint: options.upstream, maxAttempts: 1 });
  const router = createShardRouter(upstreamKinesis);
  const front: FrontContext = {
    forward,
    upstreamCall: (headers, action, body) =>
      forward(
        { method: 'POST', url: '/', headers: { ...headers, 'x-amz-target': `Kinesis_20131202.${action}` } },
        Buffer.from(JSON.stringify(body)),
      ),
    router,
    throughput,
    shardKey: (stream, shardId) => {
      streams.add(stream);
      return `${stream}/${shardId}`;
    },
    iterators: createIteratorOwners(),
  };
  const { putRecords, putRecord } = writeHandlers(front);
  const { getShardIterator, getRecords } = readHandlers(front);

  const handlers: Record<string, FrontHandler> = {
    ...(options.limits === false
      ? {}
      : { 'Kinesis_20131202.PutRecords': putRecords, 'Kinesis_20131202.PutRecord': putRecord }),
    'Kinesis_20131202.GetShardIterator': getShardIterator,
    'Kinesis_20131202.GetRecords': getRecords,
  };

  const server: Server = createBufferingServer(
    async (req, raw) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const handler = handlers[target];
      // The JSON protocol only (the SDKs' CBOR goes through as it is).
      const json = /json/.test(String(req.headers['content-type'] ?? 'json'));
      const body = handler && json ? parseJson(raw) : undefined;
      if (!handler || body === undefined) {
        const answer = await forward(req, raw);
        if (RESHAPING_TARGETS.has(target)) {
          const stream = streamNameOf((parseJson(raw) ?? {}) as object);
          if (stream) router.forget(stream);
        }
        return answer;
      }
      return handler(req, raw, body);
    },
    (error) => jsonError('InternalFailure', `kinesis limits: ${(error as Error).message}`, randomUUID(), 500),
  );
  acceptOwnOriginOnly(server);
  // Idle connections stay open, as kinesalite keeps them: Node's default 5 s close races clients
  // that reuse a connection just as it is closed.
  server.keepAliveTimeout = 0;
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);

  const throttles = (): StreamThrottles => {
    const byShard = throughput.throttles();
    const totals: StreamThrottles = {};
    for (const stream of streams) totals[stream] = { writes: 0, reads: 0 };
    for (const kind of ['writes', 'reads'] as const) {
      for (const [shard, count] of Object.entries(byShard[kind])) {
        const stream = shard.slice(0, shard.indexOf('/'));
        totals[stream] = { writes: 0, reads: 0, ...totals[stream] };
        totals[stream][kind] += count;
      }
    }
    return totals;
  };

  return {
    endpoint: `http://${host}:${port}`,
    port,
    throttles,
    shardThrottles: () => throughput.throttles(),
    stop: () =>
      new Promise<void>((resolve) => {
        upstreamKinesis.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
