/**
 * An HTTP proxy on 127.0.0.1 in front of kinesalite that fails what real Kinesis fails and kinesalite
 * never does: a share of PutRecords entries with ProvisionedThroughputExceededException (HTTP 200,
 * FailedRecordCount > 0, per-entry ErrorCode/ErrorMessage shaped like AWS's) and every n-th whole call
 * with a 5xx. Failed entries are not forwarded, so they never reach the stream. Entry failures are drawn
 * from a seeded generator, or counted (every n-th entry); call failures are counted. Counted faults
 * hold whatever order concurrent callers' calls arrive in: a run with n or more calls or entries always
 * sees one. Counters tell tests what was injected. Everything else passes through untouched.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forwardRequest } from './http-forward.ts';
import { acceptOwnOriginOnly } from './origin-guard.ts';

export interface ChaosProfile {
  /** Share (0..1) of PutRecords entries failed with ProvisionedThroughputExceededException. */
  entryFailureRate?: number;
  /** Every n-th PutRecords call (n ≥ 2) is answered with a 5xx, nothing written. */
  failEveryNthCall?: number;
  /** Every n-th PutRecords entry (n ≥ 2, counted over all calls) fails with ProvisionedThroughputExceeded. */
  failEveryNthEntry?: number;
  /** Only entries hashing to these shard ids fail (a hot shard); default: any shard. */
  shardIds?: string[];
}

export interface ChaosProxyOptions extends ChaosProfile {
  /** kinesalite's endpoint, e.g. http://127.0.0.1:4567. */
  upstream: string;
  seed?: number;
  port?: number;
}

export interface ChaosCounters {
  putRecordsCalls: number;
  failedCalls: number;
  entries: number;
  failedEntries: number;
  /** Failed entries per shard id. */
  failedByShard: Record<string, number>;
}

export interface ChaosProxy {
  endpoint: string;
  counters: ChaosCounters;
  /** Changes the failure shares from the next call on (e.g. to let retries finally succeed). */
  setProfile(profile: ChaosProfile): void;
  stop(): Promise<void>;
}

const ACCOUNT = '000000000000';

interface PutRecordsBody {
  StreamName?: string;
  StreamARN?: string;
  Records: Array<{ Data: string; PartitionKey: string; ExplicitHashKey?: string }>;
}

type ResultEntry = { SequenceNumber: string; ShardId: string } | { ErrorCode: string; ErrorMessage: string };

function checkedProfile(profile: ChaosProfile): ChaosProfile {
  for (const name of ['failEveryNthCall', 'failEveryNthEntry'] as const) {
    const nth = profile[name];
    if (nth !== undefined && !(Number.isInteger(nth) && nth >= 2))
      throw new RangeError(`${name} must be an integer ≥ 2, got ${nth}`);
  }
  return { ...profile };
}

export async function startKinesisChaosProxy(options: ChaosProxyOptions): Promise<ChaosProxy> {
  const upstream = new URL(options.upstream);
  let profile = checkedProfile(options);
  const random = mulberry32(options.seed ?? 1);
  const counters: ChaosCounters = {
    putRecordsCalls: 0,
    failedCalls: 0,
    entries: 0,
    failedEntries: 0,
    failedByShard: {},
  };
  const shardRanges = new Map<string, Array<{ shardId: string; start: bigint; end: bigint }>>();

  const forward = (req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>, body: Buffer) =>
    forwardRequest(upstream, req, body);

  const shardOf = async (
    req: IncomingMessage,
    streamName: string,
    entry: PutRecordsBody['Records'][number],
  ): Promise<string> => {
    let ranges = shardRanges.get(streamName);
    if (!ranges) {
      const listed = await forward(
        // kinesalite checks that a request is signed, not the signature: the caller's headers do.
        {
          method: 'POST',
          url: '/',
          headers: { ...req.headers, 'x-amz-target': 'Kinesis_20131202.ListShards' },
        },
        Buffer.from(JSON.stringify({ StreamName: streamName })),
      );
      const shards =
        (
          JSON.parse(listed.body.toString('utf8')) as {
            Shards?: Array<{
              ShardId: string;
              HashKeyRange: { StartingHashKey: string; EndingHashKey: string };
            }>;
          }
        ).Shards ?? [];
      ranges = shards.map((s) => ({
        shardId: s.ShardId,
        start: BigInt(s.HashKeyRange.StartingHashKey),
        end: BigInt(s.HashKeyRange.EndingHashKey),
      }));
      shardRanges.set(streamName, ranges);
    }
    // As Kinesis routes: by the explicit hash key when there is one (KPL aggregates), else the key's MD5.
    const hash =
      entry.ExplicitHashKey !== undefined
        ? BigInt(entry.ExplicitHashKey)
        : BigInt(`0x${createHash('md5').update(entry.PartitionKey, 'utf8').digest('hex')}`);
    return (
      ranges.find((range) => hash >= range.start && hash <= range.end)?.shardId ?? 'shardId-000000000000'
    );
  };

  const putRecords = async (req: IncomingMessage, raw: Buffer, res: ServerResponse) => {
    counters.putRecordsCalls++;
    const nth = profile.failEveryNthCall;
    if (nth && counters.putRecordsCalls % nth === 0) {
      counters.failedCalls++;
      const status = counters.failedCalls % 2 === 1 ? 500 : 503;
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': requestId(),
      });
      res.end(
        JSON.stringify(
          status === 500
            ? { __type: 'InternalFailure', message: 'Internal service failure.' }
            : { __type: 'ServiceUnavailable', message: 'Service Unavailable' },
        ),
      );
      return;
    }
    const body = JSON.parse(raw.toString('utf8')) as PutRecordsBody;
    const streamName = body.StreamName ?? body.StreamARN?.split('/').pop() ?? '';
    const firstEntry = counters.entries + 1;
    counters.entries += body.Records.length;
    const failing = new Map<number, string>();
    const rate = profile.entryFailureRate ?? 0;
    const nthEntry = profile.failEveryNthEntry;
    for (let i = 0; i < body.Records.length; i++) {
      const roll = random();
      const counted = nthEntry !== undefined && (firstEntry + i) % nthEntry === 0;
      if (!counted && (rate <= 0 || roll >= rate)) continue;
      const entry = body.Records[i] as PutRecordsBody['Records'][number];
      const shardId = await shardOf(req, streamName, entry);
      if (profile.shardIds && !profile.shardIds.includes(shardId)) continue;
      failing.set(i, shardId);
    }
    let forwarded: ResultEntry[] = [];
    const kept = body.Records.filter((_, i) => !failing.has(i));
    if (kept.length > 0) {
      const upstreamResponse = await forward(req, Buffer.from(JSON.stringify({ ...body, Records: kept })));
      if (upstreamResponse.status !== 200) {
        res.writeHead(upstreamResponse.status, upstreamResponse.headers);
        res.end(upstreamResponse.body);
        return;
      }
      forwarded = (JSON.parse(upstreamResponse.body.toString('utf8')) as { Records: ResultEntry[] }).Records;
    }
    const records: ResultEntry[] = [];
    let next = 0;
    let failedCount = 0;
    for (let i = 0; i < body.Records.length; i++) {
      const shardId = failing.get(i);
      if (shardId !== undefined) {
        failedCount++;
        counters.failedByShard[shardId] = (counters.failedByShard[shardId] ?? 0) + 1;
        records.push({
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: `Rate exceeded for shard ${shardId} in stream ${streamName} under account ${ACCOUNT}.`,
        });
      } else {
        const result = forwarded[next++] as ResultEntry;
        if ('ErrorCode' in result) failedCount++;
        records.push(result);
      }
    }
    counters.failedEntries += failing.size;
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId() });
    res.end(JSON.stringify({ FailedRecordCount: failedCount, Records: records }));
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const target = req.headers['x-amz-target'];
      const work =
        target === 'Kinesis_20131202.PutRecords'
          ? putRecords(req, raw, res)
          : forward(req, raw).then((response) => {
              res.writeHead(response.status, response.headers);
              res.end(response.body);
            });
      work.catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify({ __type: 'InternalFailure', message: `chaos proxy: ${(error as Error).message}` }),
        );
      });
    });
  });
  acceptOwnOriginOnly(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counters,
    setProfile: (next) => {
      profile = checkedProfile(next);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  function requestId(): string {
    return Math.floor(random() * 2 ** 52)
      .toString(16)
      .padStart(13, '0');
  }
}

/** Small seeded PRNG: the same seed gives the same failures, so a failing test can be rerun as is. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
