/**
 * An HTTP proxy on 127.0.0.1 in front of kinesalite that fails what real Kinesis fails and kinesalite
 * never does: a share of PutRecords entries with ProvisionedThroughputExceededException (HTTP 200,
 * FailedRecordCount > 0, per-entry ErrorCode/ErrorMessage shaped like AWS's) and every n-th whole call
 * with a 5xx. Failed entries are not forwarded, so they never reach the stream. Entry failures are drawn
 * from a seeded generator, or counted (every n-th entry); call failures are counted. Counted faults
 * hold whatever order concurrent callers' calls arrive in: a run with n or more calls or entries always
 * sees one. Counters tell tests what was injected. Everything else passes through untouched.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKinesisClient } from '../adapters/clients.ts';
import { createBufferingServer, type ForwardedResponse, forwardRequest } from './http-forward.ts';
import {
  type EntryError,
  isPutRecordsBody,
  jsonError,
  type PutRecordsBody,
  putRecordsExcept,
  throughputExceededEntry,
} from './kinesis/put-records.ts';
import { createShardRouter, streamNameOf } from './kinesis/shard-router.ts';
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

/** Where an entry's shard cannot be told (an upstream that lists none): the first shard. */
const FIRST_SHARD = 'shardId-000000000000';

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
  const requestId = () =>
    Math.floor(random() * 2 ** 52)
      .toString(16)
      .padStart(13, '0');
  const counters: ChaosCounters = {
    putRecordsCalls: 0,
    failedCalls: 0,
    entries: 0,
    failedEntries: 0,
    failedByShard: {},
  };
  const forward = (req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>, body: Buffer) =>
    forwardRequest(upstream, req, body);
  // No retries: a failed listing routes the call to the first shard and is asked again next time.
  const upstreamKinesis = createKinesisClient({ endpoint: options.upstream, maxAttempts: 1 });
  const router = createShardRouter(upstreamKinesis);

  /** The failing call this one is, when it is one (counted over all calls). */
  const failedCall = (): ForwardedResponse | undefined => {
    counters.putRecordsCalls++;
    const nth = profile.failEveryNthCall;
    if (!nth || counters.putRecordsCalls % nth !== 0) return undefined;
    counters.failedCalls++;
    return counters.failedCalls % 2 === 1
      ? jsonError('InternalFailure', 'Internal service failure.', requestId(), 500)
      : jsonError('ServiceUnavailable', 'Service Unavailable', requestId(), 503);
  };

  /** The entries this call fails: drawn or counted, then kept to the profile's shards. */
  const failingEntries = async (body: PutRecordsBody) => {
    const streamName = streamNameOf(body) ?? '';
    const firstEntry = counters.entries + 1;
    counters.entries += body.Records.length;
    const failing = new Map<number, EntryError>();
    const rate = profile.entryFailureRate ?? 0;
    const nthEntry = profile.failEveryNthEntry;
    for (const [i, entry] of body.Records.entries()) {
      const roll = random();
      const counted = nthEntry !== undefined && (firstEntry + i) % nthEntry === 0;
      if (!counted && (rate <= 0 || roll >= rate)) continue;
      const shardId = (await router.shardOf(streamName, entry)) ?? FIRST_SHARD;
      if (profile.shardIds && !profile.shardIds.includes(shardId)) continue;
      failing.set(i, throughputExceededEntry(shardId, streamName));
      counters.failedByShard[shardId] = (counters.failedByShard[shardId] ?? 0) + 1;
    }
    counters.failedEntries += failing.size;
    return failing;
  };

  const putRecords = async (req: IncomingMessage, raw: Buffer): Promise<ForwardedResponse> => {
    const failed = failedCall();
    if (failed) return failed;
    const body: unknown = JSON.parse(raw.toString('utf8'));
    if (!isPutRecordsBody(body)) return forward(req, raw);
    const refused = await failingEntries(body);
    return putRecordsExcept({ forward, req, raw, body, refused, requestId });
  };

  const server: Server = createBufferingServer(
    (req, raw) =>
      req.headers['x-amz-target'] === 'Kinesis_20131202.PutRecords'
        ? putRecords(req, raw)
        : forward(req, raw),
    (error) => jsonError('InternalFailure', `chaos proxy: ${(error as Error).message}`, requestId(), 502),
  );
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
        upstreamKinesis.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
