/**
 * Events and user-activity partials go through Kinesis and the local Firehose into the lake in local
 * S3; every named query then runs on the local engine, and its rows must equal what this test computes
 * on its own from the source CSV. The lake also holds what a resumed producer leaves behind: events
 * sent twice (same event_id) and partials that name already-counted events again under another
 * contribution id; every query must count them once.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalEngine, openLocalEngine, runNamedQuery } from '../../analytics/local-engine.ts';
import { loadNamedQueries } from '../../analytics/named-queries.ts';
import { putAllRecords } from '../../consumers/put-records.ts';
import type { UserWindowPartial } from '../../core/aggregate.ts';
import { activityByUser } from '../../core/horizon.ts';
import { DEFAULT_ALERT_RULES, evaluateUserWindows } from '../../core/rules.ts';
import { RAW_EVENTS_PREFIX } from '../../core/tables.ts';
import { mergePartials } from '../../core/window.ts';
import { startLocalFirehose } from '../../local/firehose.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import {
  botEvents,
  type IdentifiedEvent,
  loadSource,
  parseEvents,
  partial,
  partialsOf,
  type Source,
} from '../support/analytics-fixtures.ts';

const source: Source = loadSource();
const events: IdentifiedEvent[] = parseEvents(source);
const WINDOW = Date.UTC(2019, 9, 1, 1, 0, 0);

// Bots, as partials from two shards: each crosses (or must not cross) a rule only once merged right.
const botA = [
  partial('900000001', WINDOW, 'shardId-000000000000', botEvents('900000001', WINDOW, 35, 'view', ['a1'])),
  partial(
    '900000001',
    WINDOW,
    'shardId-000000000001',
    botEvents('900000001', WINDOW, 35, 'cart', ['a1'], 35),
  ),
];
// 20 + 20 carts, one partial redelivered twice, and all 40 re-sent by a resumed producer (another
// partial, another contribution id): 40 once deduplicated (a 10-minute cart alert), 80 or more if not
// (and then the one-minute events rule would fire too).
const botBEvents = [
  botEvents('900000002', WINDOW, 20, 'cart', ['b1']),
  botEvents('900000002', WINDOW, 20, 'cart', ['b1'], 20),
] as const;
const botB = [
  partial('900000002', WINDOW, 'shardId-000000000000', botBEvents[0]),
  partial('900000002', WINDOW, 'shardId-000000000001', botBEvents[1]),
];
const botBResent = partial('900000002', WINDOW, 'shardId-000000000000-resumed', [
  ...botBEvents[0],
  ...botBEvents[1],
]);
// Sessions {c1..c4} and {c3,c4,c5}: 5 distinct (no alert), though the partials' counts add up to 7.
const botC = [
  partial(
    '900000003',
    WINDOW,
    'shardId-000000000000',
    botEvents('900000003', WINDOW, 4, 'cart', ['c1', 'c2', 'c3', 'c4']),
  ),
  partial(
    '900000003',
    WINDOW,
    'shardId-000000000001',
    botEvents('900000003', WINDOW, 3, 'cart', ['c3', 'c4', 'c5'], 4),
  ),
];
// Sessions {d1..d4} and {d5,d6}: 6 distinct, above the 5-session rule.
const botD = [
  partial(
    '900000004',
    WINDOW,
    'shardId-000000000000',
    botEvents('900000004', WINDOW, 4, 'cart', ['d1', 'd2', 'd3', 'd4']),
  ),
  partial(
    '900000004',
    WINDOW,
    'shardId-000000000001',
    botEvents('900000004', WINDOW, 2, 'cart', ['d5', 'd6'], 4),
  ),
];
const uniquePartials: UserWindowPartial[] = [...partialsOf(events), ...botA, ...botB, ...botC, ...botD];
const redelivered = [botB[0], botB[0], ...uniquePartials.slice(0, 5)] as UserWindowPartial[];
// A resumed producer's share: the first 500 events and all of one buyer's sent again (same ids, later
// replayed_at), so they are in the events table twice and in new partials of another flush.
const buyer = (events.find((e) => e.event_type === 'purchase') ?? (events[0] as IdentifiedEvent)).user_id;
const resentEvents = [...events.slice(0, 500), ...events.slice(500).filter((e) => e.user_id === buyer)];
const resentPartials = [
  ...partialsOf(resentEvents).map((p) => ({ ...p, contribution_id: `resumed:${p.contribution_id}` })),
  botBResent,
];

let stack: LocalStack;
let engine: LocalEngine;

/** Every record on the stream: what its shards' write limits refuse at first is resent until it lands. */
async function putAll(kinesis: KinesisClient, stream: string, bodies: Array<{ key: string; body: unknown }>) {
  await putAllRecords(
    kinesis,
    stream,
    bodies.map((b) => ({ partitionKey: b.key, data: Buffer.from(JSON.stringify(b.body)) })),
  );
}

beforeAll(async () => {
  stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink' });
  const { names } = stack;
  await putAll(
    stack.kinesis,
    names.eventsStream,
    [...events, ...resentEvents].map((e) => ({
      key: e.category_id,
      body: { ...e, replayed_at: new Date().toISOString() },
    })),
  );
  const activity = [...uniquePartials, ...redelivered, ...resentPartials];
  await putAll(
    stack.kinesis,
    names.userActivityStream,
    activity.map((p) => ({ key: p.user_id, body: p })),
  );
  // Started after the puts: kinesalite serves writes and reads faster one after the other, and
  // the readers still start from TRIM_HORIZON as Firehose does.
  const eventsFirehose = await startLocalFirehose({
    kinesis: stack.kinesis,
    s3: stack.s3,
    streamName: names.eventsStream,
    bucket: names.lakeBucket,
    table: 'events',
    pollMs: 50,
  });
  const activityFirehose = await startLocalFirehose({
    kinesis: stack.kinesis,
    s3: stack.s3,
    streamName: names.userActivityStream,
    bucket: names.lakeBucket,
    table: 'user_activity',
    pollMs: 50,
  });
  await vi.waitUntil(() => eventsFirehose.stats().received === events.length + resentEvents.length, {
    timeout: 60_000,
    interval: 50,
  });
  await vi.waitUntil(() => activityFirehose.stats().received === activity.length, {
    timeout: 60_000,
    interval: 50,
  });
  await eventsFirehose.stop();
  await activityFirehose.stop();
  expect(eventsFirehose.stats()).toMatchObject({
    records: events.length + resentEvents.length,
    errors: 0,
  });
  expect(activityFirehose.stats()).toMatchObject({ records: activity.length, errors: 0 });

  await stack.s3.send(
    new PutObjectCommand({
      Bucket: names.rawBucket,
      Key: `${RAW_EVENTS_PREFIX}source.csv`,
      Body: source.csv,
    }),
  );
  engine = await openLocalEngine({ s3: stack.s3, names });
}, 90_000);

afterAll(async () => {
  await engine?.close();
  await stack?.stop();
});

const fieldsOf = (row: string[]) => {
  const [
    time = '',
    type = '',
    productId = '',
    categoryId = '',
    code = '',
    brand = '',
    ,
    userId = '',
    session = '',
  ] = row;
  return { time, type, productId, categoryId, code, brand, userId, session, date: time.slice(0, 10) };
};
const rows = source.rows.map(fieldsOf);

describe(`named queries over the lake (${source.label}, ${source.rows.length} rows)`, () => {
  it('the lake holds every event the stream carried, re-sent ones twice under one id, and raw_events every CSV row', async () => {
    const lake = await engine.query(
      'SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_ids FROM events',
    );
    expect(lake.rows).toEqual([{ n: rows.length + resentEvents.length, distinct_ids: rows.length }]);
    const raw = await engine.query(
      "SELECT count(*) AS n, count_if(brand = '') AS no_brand, count_if(brand IS NULL) AS null_brand FROM raw_events",
    );
    // OpenCSVSerde semantics: an empty field is '', never NULL.
    expect(raw.rows).toEqual([
      { n: rows.length, no_brand: rows.filter((r) => r.brand === '').length, null_brand: 0 },
    ]);
  });

  it('unique_visitors_per_day: distinct users, sessions and events per event date', async () => {
    const days = [...new Set(rows.map((r) => r.date))].sort();
    const expected = days.map((day) => {
      const ofDay = rows.filter((r) => r.date === day);
      return {
        event_date: day,
        unique_visitors: new Set(ofDay.map((r) => r.userId)).size,
        sessions: new Set(ofDay.filter((r) => r.session !== '').map((r) => r.session)).size,
        events: ofDay.length,
      };
    });
    const result = await runNamedQuery(engine, 'unique_visitors_per_day');
    expect(result.rows).toEqual(expected);
    expect(result.columns.map((c) => c.type)).toEqual(['varchar', 'bigint', 'bigint', 'bigint']);
  });

  it('traffic_per_hour: events (each re-sent one once) and distinct users per hour of the data', async () => {
    const hours = [...new Set(rows.map((r) => r.time.slice(0, 13)))].sort();
    const expected = hours.map((hour) => {
      const ofHour = rows.filter((r) => r.time.slice(0, 13) === hour);
      return { hour, events: ofHour.length, users: new Set(ofHour.map((r) => r.userId)).size };
    });
    const result = await runNamedQuery(engine, 'traffic_per_hour');
    expect(
      result.rows.map((row) => ({
        hour: String(row.hour).slice(0, 13),
        events: Number(row.events),
        users: Number(row.users),
      })),
    ).toEqual(expected);
  });

  it('cart_abandonment: sessions with a cart and no purchase, per day of their first event', async () => {
    const sessions = new Map<string, { user: string; date: string; carts: number; purchases: number }>();
    for (const r of rows) {
      if (r.session === '') continue;
      const key = `${r.session}|${r.userId}`;
      const s = sessions.get(key) ?? { user: r.userId, date: r.date, carts: 0, purchases: 0 };
      if (r.date < s.date) s.date = r.date;
      if (r.type === 'cart') s.carts++;
      if (r.type === 'purchase') s.purchases++;
      sessions.set(key, s);
    }
    const withCart = [...sessions.values()].filter((s) => s.carts > 0);
    const days = [...new Set(withCart.map((s) => s.date))].sort();
    const expected = days.map((day) => {
      const ofDay = withCart.filter((s) => s.date === day);
      const abandoned = ofDay.filter((s) => s.purchases === 0);
      return {
        event_date: day,
        sessions_with_cart: ofDay.length,
        abandoned_sessions: abandoned.length,
        abandonment_rate: Math.round((abandoned.length / ofDay.length) * 10_000) / 10_000,
        users_with_cart: new Set(ofDay.map((s) => s.user)).size,
        users_abandoning: new Set(abandoned.map((s) => s.user)).size,
      };
    });
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.some((d) => d.abandoned_sessions > 0)).toBe(true);
    const result = await runNamedQuery(engine, 'cart_abandonment');
    expect(result.rows).toEqual(expected);
  });

  function topCategories(bucketOf: (time: string) => number) {
    const perBucket = new Map<number, Map<string, { events: number; purchases: number }>>();
    for (const r of rows) {
      if (r.code === '') continue;
      const bucket = bucketOf(r.time);
      const categories = perBucket.get(bucket) ?? new Map();
      const c = categories.get(r.code) ?? { events: 0, purchases: 0 };
      c.events++;
      if (r.type === 'purchase') c.purchases++;
      categories.set(r.code, c);
      perBucket.set(bucket, categories);
    }
    return [...perBucket.keys()]
      .sort((a, b) => a - b)
      .flatMap((bucket) =>
        [...(perBucket.get(bucket) ?? new Map()).entries()]
          .sort(([codeA, a], [codeB, b]) => b.events - a.events || (codeA < codeB ? -1 : 1))
          .slice(0, 5)
          .map(([code, c], i) => ({ bucket, category_rank: i + 1, category_code: code, ...c })),
      );
  }

  it('top_categories_by_hour: the 5 busiest categories of each hour of the day', async () => {
    const expected = topCategories((time) => Number(time.slice(11, 13))).map(({ bucket, ...rest }) => ({
      hour_of_day: bucket,
      ...rest,
    }));
    const result = await runNamedQuery(engine, 'top_categories_by_hour');
    expect(result.rows).toEqual(expected);
  });

  it('top_categories_by_weekday: the 5 busiest categories of each ISO weekday, with its name', async () => {
    const isoWeekday = (time: string) =>
      ((new Date(`${time.slice(0, 10)}T00:00:00Z`).getUTCDay() + 6) % 7) + 1;
    const names = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    const expected = topCategories(isoWeekday).map(({ bucket, ...rest }) => ({
      weekday: bucket,
      weekday_name: names[bucket - 1],
      ...rest,
    }));
    const result = await runNamedQuery(engine, 'top_categories_by_weekday');
    expect(result.rows).toEqual(expected);
  });

  it('brands_needing_marketing: many views, conversion under half the shop rate', async () => {
    const funnel = new Map<string, { views: number; carts: number; purchases: number }>();
    for (const r of rows) {
      if (r.brand === '') continue;
      const f = funnel.get(r.brand) ?? { views: 0, carts: 0, purchases: 0 };
      if (r.type === 'view') f.views++;
      if (r.type === 'cart') f.carts++;
      if (r.type === 'purchase') f.purchases++;
      funnel.set(r.brand, f);
    }
    const totals = [...funnel.values()].reduce(
      (t, f) => ({ views: t.views + f.views, purchases: t.purchases + f.purchases }),
      {
        views: 0,
        purchases: 0,
      },
    );
    const shop = totals.purchases / totals.views;
    const expected = [...funnel.entries()]
      .filter(([, f]) => f.views >= 100 && f.purchases / f.views < shop / 2)
      .sort(([a, fa], [b, fb]) => fb.views - fa.views || (a < b ? -1 : 1))
      .slice(0, 50);
    expect(expected.length).toBeGreaterThan(0);
    const result = await runNamedQuery(engine, 'brands_needing_marketing');
    expect(
      result.rows.map((r) => ({ brand: r.brand, views: r.views, carts: r.carts, purchases: r.purchases })),
    ).toEqual(expected.map(([brand, f]) => ({ brand, ...f })));
    for (const [i, [, f]] of expected.entries()) {
      expect(result.rows[i]?.conversion).toBeCloseTo(f.purchases / f.views, 5);
      expect(result.rows[i]?.shop_conversion).toBeCloseTo(shop, 5);
    }
  });

  it('bot_suspects: exactly the (window, horizon)s the alert rules flag on merged, deduplicated partials', async () => {
    // The in-memory merge (core/window.ts) is the reference: it unions event ids as DynamoDB does.
    const flagged: string[] = [];
    for (const windows of activityByUser(mergePartials(uniquePartials).values()).values()) {
      const starts = new Set(windows.map((w) => w.total.window_start));
      for (const match of evaluateUserWindows(DEFAULT_ALERT_RULES, windows, starts)) {
        const { user_id, window_start, horizon_minutes } = match.total;
        flagged.push(
          `${user_id} ${window_start.slice(0, 10)} ${window_start.slice(11, 19)}.000 ${horizon_minutes}`,
        );
      }
    }
    // A: 70 events in a minute, and 35 carts without a purchase. B: 40 carts without a purchase once
    // its redelivered partial is dropped. D: 6 sessions in a minute. C: 5 sessions, under the rule.
    expect([...new Set(flagged)].sort()).toEqual([
      '900000001 2019-10-01 01:00:00.000 1',
      '900000001 2019-10-01 01:00:00.000 10',
      '900000002 2019-10-01 01:00:00.000 10',
      '900000004 2019-10-01 01:00:00.000 1',
    ]);
    const result = await runNamedQuery(engine, 'bot_suspects');
    expect(result.rows.map((r) => `${r.user_id} ${r.window_start} ${r.horizon_minutes}`).sort()).toEqual(
      [...new Set(flagged)].sort(),
    );
    expect(result.rows[0]).toMatchObject({
      user_id: '900000001',
      horizon_minutes: 1,
      windows: 1,
      events: 70,
      views: 35,
      carts: 35,
      sessions: 1,
    });
    expect(result.rows.find((r) => r.user_id === '900000002')).toMatchObject({ events: 40, carts: 40 });
  });

  it('user_activity_for_user: one user, windows merged, the parameter bound (not spliced)', async () => {
    const result = await runNamedQuery(engine, 'user_activity_for_user', { user_id: '900000002' });
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0]).toMatchObject({
      user_id: '900000002',
      window_start: '2019-10-01 01:00:00.000',
      window_seconds: 60,
      events: 40,
      carts: 40,
      // Two shards' partials and the resumed producer's: three contributions, forty events.
      partials: 3,
      sessions: 1,
      products: 20,
      first_event_time: '2019-10-01 01:00:00.000',
    });
    // A user with re-sent events: each counted once, revenue over distinct purchases.
    const own = events.filter((e) => e.user_id === buyer);
    const mine = await runNamedQuery(engine, 'user_activity_for_user', { user_id: buyer });
    expect(mine.rows.reduce((s, r) => s + Number(r.events), 0)).toBe(own.length);
    const cents = own
      .filter((e) => e.event_type === 'purchase')
      .reduce((s, e) => s + Math.round(e.price * 100), 0);
    expect(cents).toBeGreaterThan(0);
    expect(Math.round(mine.rows.reduce((s, r) => s + Number(r.revenue), 0) * 100)).toBe(cents);
    const injection = await runNamedQuery(engine, 'user_activity_for_user', { user_id: "x' OR '1'='1" });
    expect(injection.rows).toEqual([]);
  });

  it('every named query runs on the local engine', async () => {
    for (const query of loadNamedQueries()) {
      const params = Object.fromEntries(query.parameters.map((p) => [p.name, '900000001']));
      const result = await runNamedQuery(engine, query.name, params);
      expect(result.rows.length, query.name).toBeGreaterThan(0);
      expect(result.engine).toBe('local');
      expect(result.bytesScanned, query.name).toBeGreaterThan(0);
    }
  });
});
