import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { type ClickEvent, parseRow } from '../../core/event.ts';
import { type HorizonTotal, sumWindows, type WindowActivity } from '../../core/horizon.ts';
import {
  AlertRulesError,
  alertRulesFromJson,
  DEFAULT_ALERT_RULES,
  evaluateMerged,
  evaluateRules,
  evaluateUserWindows,
  metricValue,
} from '../../core/rules.ts';
import { BOT_KINDS, createSyntheticGenerator, NORMAL_USER_BOUNDS } from '../../core/synthetic.ts';
import { aggregateEvents } from '../../core/window.ts';
import { KAGGLE_SAMPLE } from '../support/analytics-fixtures.ts';

function total(overrides: Partial<UserWindowTotal> = {}): UserWindowTotal {
  return {
    user_id: '512345678',
    window_start: '2019-10-01T00:01:00Z',
    window_seconds: 60,
    view_count: 480,
    cart_count: 0,
    remove_from_cart_count: 0,
    purchase_count: 0,
    total_count: 480,
    distinct_sessions: 1,
    distinct_products: 470,
    revenue: 0,
    first_event_time: '2019-10-01T00:01:00Z',
    last_event_time: '2019-10-01T00:01:59Z',
    contributions: 4,
    ...overrides,
  };
}

describe('alert rules', () => {
  it('default one-minute thresholds sit at or above every normal-user bound', () => {
    const normalOf: Partial<Record<string, number>> = {
      total_count: NORMAL_USER_BOUNDS.maxEvents,
      views_without_cart_or_purchase: NORMAL_USER_BOUNDS.maxViews,
      distinct_sessions: NORMAL_USER_BOUNDS.maxSessions,
      purchase_count: NORMAL_USER_BOUNDS.maxPurchases,
    };
    const perMinute = DEFAULT_ALERT_RULES.filter((rule) => rule.horizonMinutes === 1);
    expect(perMinute.length).toBe(4);
    for (const rule of perMinute) expect(rule.threshold).toBeGreaterThanOrEqual(normalOf[rule.metric]!);
  });

  it('have a default rule below the level of every bot kind, over the horizon that shows the kind', () => {
    for (const kind of BOT_KINDS) {
      const rule = DEFAULT_ALERT_RULES.find(
        (r) => r.metric === kind.signal && r.horizonMinutes === kind.horizonMinutes,
      );
      expect(rule, kind.kind).toBeDefined();
      expect(kind.level, kind.kind).toBeGreaterThan(rule!.threshold);
    }
    // At least four kinds pace themselves below every one-minute rule.
    expect(BOT_KINDS.filter((kind) => kind.paced).length).toBeGreaterThanOrEqual(4);
  });

  it('fires strictly above the threshold, on the merged total', () => {
    const rules = alertRulesFromJson(
      JSON.stringify([
        { id: 'many', description: 'd', metric: 'total_count', threshold: 10, severity: 'low' },
      ]),
      'test',
    );
    expect(evaluateRules(rules, total({ total_count: 10 }))).toEqual([]);
    expect(evaluateRules(rules, total({ total_count: 11 }))).toEqual([{ rule: rules[0], value: 11 }]);
  });

  it('counts views without cart or purchase only when there is neither', () => {
    expect(metricValue('views_without_cart_or_purchase', total({ view_count: 50 }))).toBe(50);
    expect(metricValue('views_without_cart_or_purchase', total({ view_count: 50, cart_count: 1 }))).toBe(0);
    expect(metricValue('views_without_cart_or_purchase', total({ view_count: 50, purchase_count: 1 }))).toBe(
      0,
    );
  });

  it('counts carts without purchase only when nothing was bought', () => {
    expect(metricValue('carts_without_purchase', total({ cart_count: 25 }))).toBe(25);
    expect(metricValue('carts_without_purchase', total({ cart_count: 25, purchase_count: 1 }))).toBe(0);
  });

  it('reads a rule without a horizon (a rules file written before horizons) as a one-minute rule', () => {
    const [rule] = alertRulesFromJson(
      '[{"id":"a","description":"d","metric":"total_count","threshold":1,"severity":"low"}]',
      'old.json',
    );
    expect(rule?.horizonMinutes).toBe(1);
  });

  it('uses the defaults when no rules are given', () => {
    expect(alertRulesFromJson(undefined, 'env')).toEqual(DEFAULT_ALERT_RULES);
    expect(alertRulesFromJson('  ', 'env')).toEqual(DEFAULT_ALERT_RULES);
  });

  it.each([
    ['not JSON', '[{', /rules.json: not JSON/],
    ['an empty list', '[]', /at least one rule/],
    [
      'an unknown metric',
      '[{"id":"a","description":"d","metric":"clicks","threshold":1,"severity":"low"}]',
      /\[0\.metric\]/,
    ],
    [
      'a negative threshold',
      '[{"id":"a","description":"d","metric":"total_count","threshold":-1,"severity":"low"}]',
      /\[0\.threshold\]/,
    ],
    [
      'an unknown field',
      '[{"id":"a","description":"d","metric":"total_count","threshold":1,"severity":"low","x":1}]',
      /x/,
    ],
    [
      'a horizon longer than an hour',
      '[{"id":"slow","description":"d","metric":"total_count","threshold":1,"horizonMinutes":61,"severity":"low"}]',
      /\[0\.horizonMinutes\] Too big: expected number to be <=60/,
    ],
    [
      'a horizon that is not whole minutes',
      '[{"id":"slow","description":"d","metric":"total_count","threshold":1,"horizonMinutes":2.5,"severity":"low"}]',
      /\[0\.horizonMinutes\]/,
    ],
    [
      'a duplicate id',
      '[{"id":"a","description":"d","metric":"total_count","threshold":1,"severity":"low"},{"id":"a","description":"d","metric":"purchase_count","threshold":1,"severity":"low"}]',
      /duplicate rule id "a"/,
    ],
  ])('rejects %s with a clear error', (_name, text, message) => {
    expect(() => alertRulesFromJson(text, 'rules.json')).toThrowError(AlertRulesError);
    expect(() => alertRulesFromJson(text, 'rules.json')).toThrowError(message);
  });
});

/** One user's window at `minute` past 01:00 with the given counts and ids. */
function activity(
  minute: number,
  counts: Partial<UserWindowTotal>,
  sessions: string[],
  products: string[] = [],
): WindowActivity {
  const start = new Date(Date.UTC(2019, 9, 1, 1, minute)).toISOString().replace('.000Z', 'Z');
  return {
    total: total({
      window_start: start,
      first_event_time: start,
      last_event_time: start,
      view_count: 0,
      total_count: 0,
      distinct_sessions: sessions.length,
      distinct_products: products.length,
      contributions: 1,
      ...counts,
    }),
    sessions: new Set(sessions),
    products: new Set(products),
  };
}

describe('rules over horizons', () => {
  const sessionRule = alertRulesFromJson(
    JSON.stringify([
      {
        id: 'sessions-10',
        description: 'd',
        metric: 'distinct_sessions',
        threshold: 3,
        horizonMinutes: 10,
        severity: 'medium',
      },
    ]),
    'test',
  );

  it('sums counts and unions session and product ids over the windows of the horizon', () => {
    const windows = [
      activity(0, { view_count: 3, total_count: 3, revenue: 0.1 }, ['a', 'b'], ['p1']),
      activity(4, { view_count: 2, cart_count: 1, total_count: 3, revenue: 0.2 }, ['b', 'c'], ['p1', 'p2']),
      activity(9, { purchase_count: 1, total_count: 1, revenue: 0.7 }, ['c'], ['p3']),
    ];
    const sum: HorizonTotal = sumWindows(windows, 0, 2, 10);
    expect(sum).toMatchObject({
      window_start: '2019-10-01T01:09:00Z',
      horizon_minutes: 10,
      horizon_start: '2019-10-01T01:00:00Z',
      windows: 3,
      view_count: 5,
      cart_count: 1,
      purchase_count: 1,
      total_count: 7,
      distinct_sessions: 3,
      distinct_products: 3,
      revenue: 1,
      contributions: 3,
    });
  });

  it('evaluates a horizon over the windows starting in the last H minutes, at every window a change falls in', () => {
    // Sessions a,b at 01:00, c at 01:05, d at 01:10: the 10-minute horizon at 01:05 holds a,b,c (3, no
    // alert); at 01:10 it holds c,d (01:00 has left it); a horizon of 11 minutes would hold all four.
    const windows = [activity(0, {}, ['a', 'b']), activity(5, {}, ['c']), activity(10, {}, ['d', 'e'])];
    const all = new Set(windows.map((w) => w.total.window_start));
    expect(evaluateUserWindows(sessionRule, windows, all)).toEqual([]);
    const wider = alertRulesFromJson(JSON.stringify([{ ...sessionRule[0], horizonMinutes: 11 }]), 'test');
    const [match, ...rest] = evaluateUserWindows(wider, windows, all);
    expect(rest).toEqual([]);
    expect(match?.value).toBe(5);
    expect(match?.total.window_start).toBe('2019-10-01T01:10:00Z');
    // A change at 01:00 reaches the horizon of 01:10 (it holds 01:00), a change at 01:10 only its own.
    expect(evaluateUserWindows(wider, windows, new Set(['2019-10-01T01:00:00Z']))).toHaveLength(1);
    expect(evaluateUserWindows(wider, windows, new Set(['2019-10-01T01:05:00Z']))).toHaveLength(1);
    const early = [activity(0, {}, ['a', 'b', 'c', 'd', 'e']), activity(11, {}, ['f'])];
    expect(
      evaluateUserWindows(wider, early, new Set(['2019-10-01T01:11:00Z'])).map((m) => m.total.window_start),
    ).toEqual([]);
    expect(
      evaluateUserWindows(wider, early, new Set(['2019-10-01T01:00:00Z'])).map((m) => m.total.window_start),
    ).toEqual(['2019-10-01T01:00:00Z']);
  });

  it('counts a session seen in many windows once, not once per window', () => {
    const windows = Array.from({ length: 10 }, (_, minute) =>
      activity(minute, {}, ['same', `s${minute % 2}`]),
    );
    const matches = evaluateUserWindows(
      sessionRule,
      windows,
      new Set(windows.map((w) => w.total.window_start)),
    );
    expect(matches).toEqual([]);
  });

  it.skipIf(!existsSync(KAGGLE_SAMPLE))('raise nothing on the real Kaggle sample, over any horizon', () => {
    const events: ClickEvent[] = [];
    for (const line of readFileSync(KAGGLE_SAMPLE, 'utf8').trimEnd().split('\n').slice(1)) {
      const parsed = parseRow(line.split(','));
      if (parsed.ok) events.push(parsed.event);
    }
    expect(events.length).toBe(18_117);
    const flagged = flaggedUsers(events);
    expect(flagged).toEqual(new Map());
  });

  it('flag every generated bot and no normal user or heavy shopper; paced bots only over horizons', () => {
    const generator = createSyntheticGenerator({ events: 60_000, seed: 5, bots: 16 });
    const events: ClickEvent[] = [];
    for (const chunk of generator.chunks()) {
      for (const line of chunk.split('\n')) {
        const parsed = parseRow(line.split(','));
        if (parsed.ok) events.push(parsed.event);
      }
    }
    const flagged = flaggedUsers(events);
    const bots = new Set(generator.truth.bots.map((bot) => bot.user_id));
    expect(generator.truth.heavyShoppers.length).toBe(6);
    expect([...flagged.keys()].filter((user) => !bots.has(user))).toEqual([]);
    expect([...bots].filter((user) => !flagged.has(user))).toEqual([]);
    const perMinute = new Set(DEFAULT_ALERT_RULES.filter((r) => r.horizonMinutes === 1).map((r) => r.id));
    const paced = new Set<string>(BOT_KINDS.filter((kind) => kind.paced).map((kind) => kind.kind));
    expect(new Set(generator.truth.bots.map((bot) => bot.kind)).size).toBe(BOT_KINDS.length);
    for (const bot of generator.truth.bots) {
      const oneMinute = [...(flagged.get(bot.user_id) ?? [])].filter((id) => perMinute.has(id));
      if (paced.has(bot.kind)) expect(oneMinute, bot.kind).toEqual([]);
      else expect(oneMinute.length, bot.kind).toBeGreaterThan(0);
    }
  });
});

/** Users a default rule flags at any window, with the rules they break. */
function flaggedUsers(events: readonly ClickEvent[]): Map<string, Set<string>> {
  const flagged = new Map<string, Set<string>>();
  for (const match of evaluateMerged(DEFAULT_ALERT_RULES, aggregateEvents(events).values())) {
    const user = match.total.user_id;
    flagged.set(user, (flagged.get(user) ?? new Set()).add(match.rule.id));
  }
  return flagged;
}
