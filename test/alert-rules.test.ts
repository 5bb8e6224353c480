import { describe, expect, it } from 'vitest';
import type { UserWindowTotal } from '../core/aggregate.ts';
import { buildAlertMessage, subjectTime, toSnsSubject } from '../core/alert-message.ts';
import {
  AlertRulesError,
  alertRulesFromJson,
  DEFAULT_ALERT_RULES,
  evaluateRules,
  metricValue,
} from '../core/rules.ts';
import { BOT_KINDS, NORMAL_USER_BOUNDS } from '../core/synthetic.ts';

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
  it('default thresholds sit at or above every normal-user bound and below every bot kind level', () => {
    const normalOf = {
      total_count: NORMAL_USER_BOUNDS.maxEvents,
      views_without_cart_or_purchase: NORMAL_USER_BOUNDS.maxViews,
      distinct_sessions: NORMAL_USER_BOUNDS.maxSessions,
      purchase_count: NORMAL_USER_BOUNDS.maxPurchases,
    };
    for (const rule of DEFAULT_ALERT_RULES)
      expect(rule.threshold).toBeGreaterThanOrEqual(normalOf[rule.metric]);
    const metricOf = {
      total_count: 'total_count',
      view_count: 'views_without_cart_or_purchase',
      distinct_sessions: 'distinct_sessions',
      purchase_count: 'purchase_count',
    } as const;
    for (const bot of BOT_KINDS) {
      const rule = DEFAULT_ALERT_RULES.find((r) => r.metric === metricOf[bot.signal]);
      expect(rule, bot.kind).toBeDefined();
      expect(bot.level, bot.kind).toBeGreaterThan(rule!.threshold);
    }
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
      'a duplicate id',
      '[{"id":"a","description":"d","metric":"total_count","threshold":1,"severity":"low"},{"id":"a","description":"d","metric":"purchase_count","threshold":1,"severity":"low"}]',
      /duplicate rule id "a"/,
    ],
  ])('rejects %s with a clear error', (_name, text, message) => {
    expect(() => alertRulesFromJson(text, 'rules.json')).toThrowError(AlertRulesError);
    expect(() => alertRulesFromJson(text, 'rules.json')).toThrowError(message);
  });
});

describe('alert message', () => {
  const match = { rule: DEFAULT_ALERT_RULES[0]!, value: 480 };

  it('has a short ASCII subject naming user, count and window', () => {
    const message = buildAlertMessage(match, total(), { glueDatabase: 'clickstream' });
    expect(message.subject).toBe(
      'Bot activity: user 512345678 - 480 events in 1 min from 2019-10-01 00:01 UTC',
    );
  });

  it('tells apart two windows of one user that broke a rule with the same count', () => {
    const subjects = ['2019-10-01T00:01:00Z', '2019-10-01T00:03:00Z'].map(
      (window_start) => buildAlertMessage(match, total({ window_start }), { glueDatabase: 'c' }).subject,
    );
    expect(new Set(subjects).size).toBe(2);
    expect(subjectTime('2019-10-01T00:00:30Z')).toBe('2019-10-01 00:00:30 UTC');
  });

  it('keeps subjects within the SNS limit (< 100 chars, no control or non-ASCII characters)', () => {
    const subject = toSnsSubject(`Bot activity: user ${'9'.repeat(200)} — ok\n`);
    expect(subject.length).toBe(99);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
  });

  it('says who, when, what was seen, which rule and threshold, and how to query the user', () => {
    const message = buildAlertMessage(match, total({ cart_count: 0 }), {
      glueDatabase: 'clickdb',
      athenaWorkgroup: 'wg',
    });
    expect(message.body).toContain('user 512345678');
    expect(message.body).toContain('2019-10-01T00:01:00Z to 2019-10-01T00:02:00Z');
    expect(message.body).toContain('events-per-window (high)');
    expect(message.body).toContain('total_count = 480, threshold 60');
    expect(message.body).toContain('view              480');
    expect(message.body).toContain('clickstream query user_activity_for_user --param user_id=512345678');
    expect(message.body).toContain(
      `FROM "clickdb"."user_activity" WHERE dt = '2019-10-01' AND user_id = '512345678'`,
    );
    // Distinct event ids over the partials: a re-sent event counts once in Athena as in the email.
    expect(message.body).toContain('cardinality(array_distinct(flatten(array_agg(view_ids)))) AS views');
    expect(message.attributes).toEqual({
      rule: 'events-per-window',
      severity: 'high',
      user_id: '512345678',
      window_start: '2019-10-01T00:01:00Z',
    });
  });
});
