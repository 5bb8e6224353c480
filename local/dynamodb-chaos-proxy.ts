/**
 * An HTTP proxy on 127.0.0.1 in front of the DynamoDB emulator that fails a share of chosen writes the
 * way DynamoDB can: HTTP 500 InternalServerError, or HTTP 400 ProvisionedThroughputExceededException.
 * A failure happens either before forwarding (nothing written) or after forwarding (the write happened,
 * the client only sees an error): the second is what makes a retried conditional merge prove its
 * idempotency, because the retry finds its own contribution already in the item.
 *
 * Which calls fail is decided by counting, not by chance (every `everyNth` call a rule matches,
 * alternating before/after and the two error kinds), so a failing run replays the same faults in the
 * same order of calls. Each rule counts on its own, so rare writes (an alert claim) are hit as surely
 * as frequent ones (the merges).
 *
 * A request the proxy failed is let through when it comes again (the SDK resends the same bytes): the
 * faults are transient, as the profile says. Counting alone cannot promise that, because concurrent
 * callers interleave: a retry could land on the next n-th count, and again, until the SDK gives up.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forwardRequest } from './http-forward.ts';
import { acceptOwnOriginOnly } from './origin-guard.ts';

export class DynamoChaosError extends Error {
  override name = 'DynamoChaosError';
}

export type FaultTiming = 'before' | 'after';

/** Which calls one rule fails. */
export interface DynamoFaultRule {
  /** Names the rule in the counters, e.g. 'merge'. */
  name: string;
  /** DynamoDB operations that may fail, e.g. ['UpdateItem']. */
  operations: readonly string[];
  /** Only calls on these tables may fail; default: any table. */
  tables?: readonly string[];
  /** Fail every n-th matching call (n ≥ 2: a retry of a failed call is never failed on the same count). */
  everyNth: number;
  /** Default both, alternating. */
  timings?: readonly FaultTiming[];
}

export interface DynamoChaosOptions {
  /** The emulator's endpoint, e.g. http://127.0.0.1:4568. */
  upstream: string;
  /** A call is counted by the first rule it matches. */
  rules: readonly DynamoFaultRule[];
  port?: number;
}

export interface DynamoChaosCounters {
  /** Calls that matched the rule's operations and tables (first attempts: let-through retries are not counted). */
  matching: number;
  failedBefore: number;
  /** Written upstream, answered with an error. */
  failedAfter: number;
}

export interface DynamoChaosProxy {
  endpoint: string;
  /** Per rule, by name. */
  counters: Record<string, DynamoChaosCounters>;
  /** Stops or restarts injecting (e.g. let the last retries through). */
  setEnabled(enabled: boolean): void;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';

const FAULTS = [
  {
    status: 500,
    type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
    message: 'Internal server error',
  },
  {
    status: 400,
    type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message: 'The level of configured provisioned throughput for the table was exceeded.',
  },
] as const;

export async function startDynamoChaosProxy(options: DynamoChaosOptions): Promise<DynamoChaosProxy> {
  for (const rule of options.rules) {
    if (!(Number.isInteger(rule.everyNth) && rule.everyNth >= 2)) {
      throw new DynamoChaosError(`rule ${rule.name}: everyNth must be an integer ≥ 2, got ${rule.everyNth}`);
    }
  }
  const upstream = new URL(options.upstream);
  const rules = options.rules.map((rule) => ({
    ...rule,
    timings: rule.timings ?? (['before', 'after'] as const),
    counters: { matching: 0, failedBefore: 0, failedAfter: 0 },
  }));
  let enabled = true;
  let faults = 0;
  /** Fingerprints of failed requests whose retry has not come yet. */
  const awaitingRetry = new Set<string>();

  const forward = (req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>, body: Buffer) =>
    forwardRequest(upstream, req, body);

  const matchingRule = (req: IncomingMessage, body: Buffer) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (!target.startsWith(TARGET_PREFIX)) return undefined;
    const operation = target.slice(TARGET_PREFIX.length);
    let table: unknown;
    try {
      table = (JSON.parse(body.toString('utf8')) as { TableName?: unknown }).TableName;
    } catch {
      return undefined;
    }
    return rules.find(
      (rule) =>
        rule.operations.includes(operation) &&
        (!rule.tables || (typeof table === 'string' && rule.tables.includes(table))),
    );
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let timing: FaultTiming | undefined;
      const rule = enabled ? matchingRule(req, body) : undefined;
      const fingerprint = rule ? requestFingerprint(req, body) : '';
      if (rule && !awaitingRetry.delete(fingerprint)) {
        rule.counters.matching++;
        if (rule.counters.matching % rule.everyNth === 0)
          timing =
            rule.timings[(rule.counters.failedBefore + rule.counters.failedAfter) % rule.timings.length];
      }
      const fail = () => {
        const fault = FAULTS[faults++ % FAULTS.length] as (typeof FAULTS)[number];
        const counters = rule?.counters;
        awaitingRetry.add(fingerprint);
        if (counters && timing === 'before') counters.failedBefore++;
        else if (counters) counters.failedAfter++;
        res.writeHead(fault.status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: fault.type, message: fault.message }));
      };
      if (timing === 'before') {
        fail();
        return;
      }
      forward(req, body)
        .then((response) => {
          // Only a write that really happened makes the "after" case: an upstream error stays as it was.
          if (timing === 'after' && response.status === 200) return fail();
          res.writeHead(response.status, response.headers);
          res.end(response.body);
        })
        .catch((error: unknown) => {
          // The emulator is down (e.g. being restarted): the client sees a dropped connection, as it would.
          res.destroy(error instanceof Error ? error : undefined);
        });
    });
  });
  acceptOwnOriginOnly(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counters: Object.fromEntries(rules.map((rule) => [rule.name, rule.counters])),
    setEnabled: (value) => {
      enabled = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function requestFingerprint(req: IncomingMessage, body: Buffer): string {
  return createHash('sha1')
    .update(String(req.headers['x-amz-target'] ?? ''))
    .update(body)
    .digest('hex');
}
