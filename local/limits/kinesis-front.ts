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
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import { createKinesisClient } from '../../adapters/clients.ts';
import { createBufferingServer, type ForwardedResponse, forwardRequest } from '../http-forward.ts';
import {
  isPutRecordsBody,
  jsonAnswer,
  jsonError,
  LOCAL_ACCOUNT,
  type PutRecordsEntry,
  putRecordsExcept,
  THROUGHPUT_EXCEEDED,
  throughputExceededEntry,
} from '../kinesis/put-records.ts';
import { createShardRouter, RESHAPING_TARGETS, streamNameOf } from '../kinesis/shard-router.ts';
import { listen } from '../net.ts';
import { acceptOwnOriginOnly } from '../origin-guard.ts';
import { createShardThroughput, type ShardLimits, type ShardThrottles } from './kinesis-throughput.ts';

/** AWS: one GetRecords call returns at most 10 MiB. */
export const GET_RECORDS_MAX_BYTES = 10 * 1024 * 1024;
/** AWS: a shard iterator expires 5 minutes after it is returned; the front forgets it then too. */
const ITERATOR_LIFETIME_MS = 5 * 60_000;

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
  limits?: ShardLimits;
}

export interface KinesisLimits {
  endpoint: string;
  port: number;
  throttles(): StreamThrottles;
  /** The same, per `<stream>/<shardId>`. */
  shardThrottles(): ShardThrottles;
  stop(): Promise<void>;
}

interface IteratorOwner {
  stream: string;
  shardId: string;
  issuedMs: number;
}

interface GetRecordsPage {
  Records?: Array<{ Data?: string; SequenceNumber?: string; ApproximateArrivalTimestamp?: number }>;
  NextShardIterator?: string;
  MillisBehindLatest?: number;
}

type Request = Pick<IncomingMessage, 'headers' | 'method' | 'url'>;

export async function startKinesisLimits(options: KinesisLimitsOptions): Promise<KinesisLimits> {
  const upstream = new URL(options.upstream);
  const throughput = createShardThroughput({
    ...(options.now ? { now: options.now } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const streams = new Set<string>();
  const iterators = new Map<string, IteratorOwner>();
  let sweptMs = Date.now();

  // The caller's Origin, if any, was checked to be this server's own: kinesalite, on another port,
  // would take it for a foreign one.
  const forward = (req: Request, body: Buffer) => {
    const { origin: _origin, referer: _referer, ...headers } = req.headers;
    return forwardRequest(upstream, { ...req, headers }, body);
  };
  // No retries: a failed listing passes the call on unlimited and is asked again next time.
  const upstreamKinesis = createKinesisClient({ endpoint: options.upstream, maxAttempts: 1 });
  const router = createShardRouter(upstreamKinesis);
  const shardKey = (stream: string, shardId: string) => {
    streams.add(stream);
    return `${stream}/${shardId}`;
  };
  const upstreamCall = (headers: IncomingHttpHeaders, action: string, body: object) =>
    forward(
      { method: 'POST', url: '/', headers: { ...headers, 'x-amz-target': `Kinesis_20131202.${action}` } },
      Buffer.from(JSON.stringify(body)),
    );

  const learn = (iterator: unknown, owner: Omit<IteratorOwner, 'issuedMs'>) => {
    if (typeof iterator !== 'string') return;
    const now = Date.now();
    iterators.set(iterator, { ...owner, issuedMs: now });
    if (now - sweptMs < 30_000) return;
    sweptMs = now;
    for (const [key, { issuedMs }] of iterators)
      if (now - issuedMs > ITERATOR_LIFETIME_MS) iterators.delete(key);
  };

  const putRecords = async (req: Request, raw: Buffer, body: unknown): Promise<ForwardedResponse> => {
    const stream = streamNameOf((body ?? {}) as object);
    if (!stream || !isPutRecordsBody(body)) return forward(req, raw);
    const shards = await Promise.all(body.Records.map((entry) => router.shardOf(stream, entry)));
    // An entry Kinesis cannot route is the emulator's to refuse, with the whole call.
    if (shards.some((shardId) => shardId === undefined)) return forward(req, raw);
    const refused = new Map<number, ReturnType<typeof throughputExceededEntry>>();
    for (const [i, entry] of body.Records.entries()) {
      const shardId = shards[i] as string;
      if (!throughput.admitWrite(shardKey(stream, shardId), entryBytes(entry)))
        refused.set(i, throughputExceededEntry(shardId, stream));
    }
    return putRecordsExcept({ forward, req, raw, body, refused, requestId: randomUUID });
  };

  const putRecord = async (req: Request, raw: Buffer, body: unknown): Promise<ForwardedResponse> => {
    const entry = (body ?? {}) as Partial<PutRecordsEntry>;
    const stream = streamNameOf(entry);
    if (!stream || typeof entry.Data !== 'string' || typeof entry.PartitionKey !== 'string')
      return forward(req, raw);
    const shardId = await router.shardOf(stream, entry);
    if (shardId === undefined) return forward(req, raw);
    if (throughput.admitWrite(shardKey(stream, shardId), entryBytes(entry as PutRecordsEntry)))
      return forward(req, raw);
    const { ErrorMessage } = throughputExceededEntry(shardId, stream);
    return jsonError(THROUGHPUT_EXCEEDED, ErrorMessage, randomUUID());
  };

  const getShardIterator = async (req: Request, raw: Buffer, body: unknown) => {
    const answer = await forward(req, raw);
    const request = (body ?? {}) as { ShardId?: unknown };
    const stream = streamNameOf(request);
    if (answer.status === 200 && stream && typeof request.ShardId === 'string') {
      const { ShardIterator } = JSON.parse(answer.body.toString('utf8')) as { ShardIterator?: string };
      learn(ShardIterator, { stream, shardId: request.ShardId });
    }
    return answer;
  };

  const getRecords = async (req: Request, raw: Buffer, body: unknown): Promise<ForwardedResponse> => {
    const iterator = (body as { ShardIterator?: unknown } | null)?.ShardIterator;
    const owner = typeof iterator === 'string' ? iterators.get(iterator) : undefined;
    // Not made through this front (nor expired in the meantime): nothing to charge it to.
    if (!owner) return forward(req, raw);
    const shard = shardKey(owner.stream, owner.shardId);
    if (!throughput.admitRead(shard)) {
      return jsonError(
        THROUGHPUT_EXCEEDED,
        `Rate exceeded for Shard - ${owner.shardId} in stream ${owner.stream} under account ${LOCAL_ACCOUNT}.`,
        randomUUID(),
      );
    }
    const answer = await forward(req, raw);
    if (answer.status !== 200) return answer;
    const page = JSON.parse(answer.body.toString('utf8')) as GetRecordsPage;
    const records = page.Records ?? [];
    let bytes = 0;
    let kept = 0;
    for (const record of records) {
      const size = Buffer.byteLength(record.Data ?? '', 'base64');
      if (kept > 0 && bytes + size > GET_RECORDS_MAX_BYTES) break;
      bytes += size;
      kept++;
    }
    const last = records[kept - 1];
    if (kept < records.length && last?.SequenceNumber) {
      const after = await upstreamCall(req.headers, 'GetShardIterator', {
        StreamName: owner.stream,
        ShardId: owner.shardId,
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        StartingSequenceNumber: last.SequenceNumber,
      });
      if (after.status === 200) {
        const { ShardIterator } = JSON.parse(after.body.toString('utf8')) as { ShardIterator?: string };
        throughput.chargeRead(shard, bytes);
        learn(ShardIterator, owner);
        // Not read to the tip: never 0, which tells a reader it has caught up.
        const next = records[kept];
        const arrivedMs = (next?.ApproximateArrivalTimestamp ?? 0) * 1000;
        const behind = arrivedMs > 0 ? Math.max(1, Date.now() - Math.round(arrivedMs)) : 1;
        return jsonAnswer(
          {
            ...page,
            Records: records.slice(0, kept),
            NextShardIterator: ShardIterator,
            MillisBehindLatest: Math.max(page.MillisBehindLatest ?? 0, behind),
          },
          randomUUID(),
        );
      }
    }
    // Whole (or, should the emulator refuse the iterator after the cut, whole all the same).
    let total = 0;
    for (const record of records) total += Buffer.byteLength(record.Data ?? '', 'base64');
    throughput.chargeRead(shard, total);
    learn(page.NextShardIterator, owner);
    return answer;
  };

  const handlers: Record<string, (req: Request, raw: Buffer, body: unknown) => Promise<ForwardedResponse>> = {
    'Kinesis_20131202.PutRecords': putRecords,
    'Kinesis_20131202.PutRecord': putRecord,
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

/** What a record weighs against a shard's write budget: its data and its partition key. */
function entryBytes(entry: PutRecordsEntry): number {
  return Buffer.byteLength(entry.Data, 'base64') + Buffer.byteLength(entry.PartitionKey, 'utf8');
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
