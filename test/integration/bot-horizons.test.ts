/**
 * The two places that judge users over horizons must agree: the alerter (merged windows read back from
 * DynamoDB, each window's counts the sizes of its event-id sets, summed and unioned in core/horizon.ts)
 * and the `bot_suspects` named query (the same partials in the lake, distinct event ids per window,
 * joined in SQL). Same partials in, redelivered and re-sent ones included, same (user, window, horizon)
 * rows and figures out.
 */
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDynamoClient } from '../../adapters/clients.ts';
import { type LocalEngine, openLocalEngine } from '../../analytics/local-engine.ts';
import { runNamedQuery } from '../../analytics/named-queries.ts';
import { evaluateStoredUser } from '../../consumers/bot-alerter/processor.ts';
import { mergePartial } from '../../consumers/user-activity-item.ts';
import type { UserWindowPartial } from '../../core/aggregate.ts';
import type { ClickEvent } from '../../core/event.ts';
import { DEFAULT_ALERT_RULES, type HorizonMatch } from '../../core/rules.ts';
import { startLocalFirehose } from '../../local/firehose.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import {
  botEvents,
  type IdentifiedEvent,
  loadSource,
  parseEvents,
  partial,
  partialsOf,
} from '../support/analytics-fixtures.ts';

const BASE = Date.UTC(2019, 9, 2, 10, 0, 0);
const minute = (n: number) => BASE + n * 60_000;
const SHARDS = ['shardId-000000000000', 'shardId-000000000001'] as const;

/** One window's events split over the two shards, as category partitioning splits them. */
function split(user: string, windowMs: number, events: IdentifiedEvent[]): UserWindowPartial[] {
  const halves = [events.filter((_, i) => i % 2 === 0), events.filter((_, i) => i % 2 === 1)];
  return halves.flatMap((half, shard) =>
    half.length > 0 ? [partial(user, windowMs, SHARDS[shard] as string, half)] : [],
  );
}

/**
 * Events of one type, each of its own product (offset), in the given sessions; each with an id of its
 * own (user, window, type and number), as the producer names every row.
 */
function events(
  user: string,
  windowMs: number,
  count: number,
  type: ClickEvent['event_type'],
  sessions: string[],
  offset = 0,
): IdentifiedEvent[] {
  return botEvents(user, windowMs, count, type, sessions).map((event, i) => ({
    ...event,
    event_id: `${user}w${(windowMs - BASE) / 60_000}${type}${i}`,
    product_id: String(6_000_000 + offset + i),
  }));
}

// Each case says which of its windows break which horizon, and which wrong implementation would differ.
const crawler = Array.from({ length: 70 }, (_, i) =>
  // 12 views a minute, no cart: 60-min views > 600 from the 51st window on (20 windows); a crawler
  // summed without dropping the redelivered partials below would cross sooner.
  split('900000011', minute(i), events('900000011', minute(i), 12, 'view', ['c1'], i * 12)),
).flat();
const cycler = Array.from({ length: 45 }, (_, i) =>
  // Sessions {s_i, s_i+1} per window: the union over 60 min is i + 2 (> 40 from the 40th window on,
  // 6 windows); the sum of per-window counts, 2(i + 1), would cross at the 21st.
  split('900000012', minute(i), events('900000012', minute(i), 2, 'view', [`s${i}`, `s${i + 1}`])),
).flat();
const sessionDecoy = Array.from({ length: 45 }, (_, i) =>
  // The same 20 sessions over and over: 90 by the sum, never more than 20 by the union.
  split(
    '900000013',
    minute(i),
    events('900000013', minute(i), 2, 'view', [`d${i % 20}`, `d${(i + 1) % 20}`]),
  ),
).flat();
const cardTester = Array.from({ length: 12 }, (_, i) =>
  // One purchase a minute: more than 8 in 10 min from the 9th window on (4 windows).
  split('900000014', minute(i), [
    ...events('900000014', minute(i), 1, 'view', ['t1'], i),
    ...events('900000014', minute(i), 1, 'purchase', ['t1'], i),
  ]),
).flat();
const spacedDecoy = Array.from({ length: 12 }, (_, i) =>
  // One purchase every other minute: 5 in any 10 minutes. Counting the last 10 windows instead of the
  // last 10 minutes would see 10.
  split('900000015', minute(2 * i), events('900000015', minute(2 * i), 1, 'purchase', ['u1'], i)),
).flat();
const cartStuffer = Array.from({ length: 10 }, (_, i) =>
  // 3 carts a minute, never a purchase: more than 20 in 10 min from the 7th window on (4 windows).
  split('900000016', minute(i), events('900000016', minute(i), 3, 'cart', ['k1'], i * 3)),
).flat();

const source = loadSource();
// The first rows of the real sample (or its synthetic stand-in): normal users, none of whom is flagged.
const normal = partialsOf(parseEvents({ ...source, rows: source.rows.slice(0, 3000) }));
const unique = [
  ...normal,
  ...crawler,
  ...cycler,
  ...sessionDecoy,
  ...cardTester,
  ...spacedDecoy,
  ...cartStuffer,
];
const redelivered = crawler.filter((_, i) => i % 3 === 0);
// A resumed producer's share: events already counted, sent again and folded into partials of another
// flush (another contribution id). Counted again, the crawler would cross sooner and the card tester's
// spaced decoy would reach 10 purchases in ten minutes.
const resent = [...crawler.filter((_, i) => i % 4 === 1), ...spacedDecoy].map((p) => ({
  ...p,
  contribution_id: `resumed:${p.contribution_id}`,
}));
const USERS = [...new Set(unique.map((p) => p.user_id))];

let stack: LocalStack;
let dynamo: DynamoDBDocumentClient;
let engine: LocalEngine;

async function putAll(kinesis: KinesisClient, stream: string, partials: readonly UserWindowPartial[]) {
  for (let i = 0; i < partials.length; i += 500) {
    const result = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: partials.slice(i, i + 500).map((p) => ({
          PartitionKey: p.user_id,
          Data: Buffer.from(JSON.stringify(p)),
        })),
      }),
    );
    expect(result.FailedRecordCount ?? 0).toBe(0);
  }
}

beforeAll(async () => {
  stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink' });
  dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
  const all = [...unique, ...redelivered, ...resent];
  // The aggregator's own merge, redeliveries and re-sent events included: DynamoDB holds each event id once.
  await pLimit(16).map(all, async (p) => {
    await mergePartial(dynamo, stack.names.userActivityTable, p, 2_000_000_000);
  });
  await putAll(stack.kinesis, stack.names.userActivityStream, all);
  const lake = await startLocalFirehose({
    kinesis: stack.kinesis,
    s3: stack.s3,
    streamName: stack.names.userActivityStream,
    bucket: stack.names.lakeBucket,
    table: 'user_activity',
    pollMs: 50,
  });
  await vi.waitUntil(() => lake.stats().received === all.length, { timeout: 60_000, interval: 50 });
  await lake.stop();
  engine = await openLocalEngine({ s3: stack.s3, names: stack.names });
}, 180_000);

afterAll(async () => {
  await engine?.close();
  dynamo?.destroy();
  await stack?.stop();
});

interface Verdict {
  windows: number;
  events: number;
  views: number;
  carts: number;
  purchases: number;
  sessions: number;
}

const key = (user: string, windowStart: string, horizon: number) => `${user} ${windowStart} ${horizon}`;

function verdictOf(match: HorizonMatch): Verdict {
  const t = match.total;
  return {
    windows: t.windows,
    events: t.total_count,
    views: t.view_count,
    carts: t.cart_count,
    purchases: t.purchase_count,
    sessions: t.distinct_sessions,
  };
}

describe('alert horizons: the alerter and bot_suspects on the same partials', () => {
  it('flag the same (user, window, horizon) with the same figures', async () => {
    const stream = new Map<string, Verdict>();
    const userWindows = new Map<string, Set<string>>();
    for (const p of unique)
      userWindows.set(p.user_id, (userWindows.get(p.user_id) ?? new Set()).add(p.window_start));
    await pLimit(8).map(USERS, async (user) => {
      const config = { dynamo, userActivityTable: stack.names.userActivityTable, rules: DEFAULT_ALERT_RULES };
      const { matches, missing } = await evaluateStoredUser(config, user, userWindows.get(user)!);
      expect(missing).toEqual([]);
      for (const match of matches)
        stream.set(key(user, match.total.window_start, match.total.horizon_minutes), verdictOf(match));
    });

    const result = await runNamedQuery(engine, 'bot_suspects');
    const sql = new Map<string, Verdict>(
      result.rows.map((row) => [
        key(
          String(row.user_id),
          `${String(row.window_start).slice(0, 19).replace(' ', 'T')}Z`,
          Number(row.horizon_minutes),
        ),
        {
          windows: Number(row.windows),
          events: Number(row.events),
          views: Number(row.views),
          carts: Number(row.carts),
          purchases: Number(row.purchases),
          sessions: Number(row.sessions),
        },
      ]),
    );
    expect(sql.size).toBe(result.rows.length);
    expect(new Map([...stream].sort())).toEqual(new Map([...sql].sort()));

    // And the rows are the ones each case was built to give.
    const flaggedAt = (user: string, horizon: number) =>
      [...stream.keys()]
        .filter((k) => k.startsWith(`${user} `) && k.endsWith(` ${horizon}`))
        .map((k) => (Date.parse(k.split(' ')[1]!) - BASE) / 60_000)
        .sort((a, b) => a - b);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(flaggedAt('900000011', 60)).toEqual(range(50, 69));
    expect(stream.get(key('900000011', '2019-10-02T11:09:00Z', 60))).toEqual({
      windows: 60,
      events: 720,
      views: 720,
      carts: 0,
      purchases: 0,
      sessions: 1,
    });
    expect(flaggedAt('900000012', 60)).toEqual(range(39, 44));
    expect(flaggedAt('900000014', 10)).toEqual(range(8, 11));
    expect(flaggedAt('900000016', 10)).toEqual(range(6, 9));
    expect(new Set([...stream.keys()].map((k) => k.split(' ')[0]))).toEqual(
      new Set(['900000011', '900000012', '900000014', '900000016']),
    );
  });
});
