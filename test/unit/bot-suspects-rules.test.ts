import { describe, expect, it } from 'vitest';
import { getNamedQuery } from '../../analytics/named-queries.ts';
import { type AlertMetric, type AlertRule, DEFAULT_ALERT_RULES, ruleHorizons } from '../../core/rules.ts';

// The named query is plain SQL deployed to Athena as is, so it cannot import the rules: this test is
// what keeps "bot suspects" in Athena and the alert emails flagging with the same thresholds
// (test/integration/bot-horizons.test.ts keeps the rows equal to the alerter's on the same data).
const SQL_CONDITION: Record<AlertMetric, (threshold: number) => string> = {
  total_count: (t) => `events > ${t}`,
  views_without_cart_or_purchase: (t) => `carts = 0 AND purchases = 0 AND views > ${t}`,
  carts_without_purchase: (t) => `purchases = 0 AND carts > ${t}`,
  distinct_sessions: (t) => `sessions > ${t}`,
  purchase_count: (t) => `purchases > ${t}`,
};

describe('bot_suspects named query', () => {
  const sql = getNamedQuery('bot_suspects').sql;
  const where = sql.slice(sql.lastIndexOf('WHERE'), sql.lastIndexOf('ORDER BY')).replace(/\s+/g, ' ');

  /** The conditions of one horizon: from `horizon_minutes = H` to the next horizon's. */
  const conditionsOf = (minutes: number) => {
    const start = where.indexOf(`horizon_minutes = ${minutes} `);
    expect(start, `no block for ${minutes} min`).toBeGreaterThan(-1);
    const next = where.indexOf('horizon_minutes =', start + 1);
    return where.slice(start, next === -1 ? undefined : next);
  };

  it('computes exactly the horizons of the default rules', () => {
    expect(sql.replace(/\s+/g, ' ')).toContain(
      `(VALUES ${ruleHorizons(DEFAULT_ALERT_RULES)
        .map((m) => `(${m})`)
        .join(', ')}) AS h (minutes)`,
    );
    expect(where.match(/horizon_minutes = \d+/g)).toEqual(
      ruleHorizons(DEFAULT_ALERT_RULES).map((m) => `horizon_minutes = ${m}`),
    );
  });

  it.each(DEFAULT_ALERT_RULES.map((rule) => [rule.id, rule] as const))(
    'uses the metric, threshold and horizon of rule %s',
    (_, rule: AlertRule) => {
      expect(conditionsOf(rule.horizonMinutes)).toContain(SQL_CONDITION[rule.metric](rule.threshold));
    },
  );

  it('tests no condition the rules do not have', () => {
    for (const minutes of ruleHorizons(DEFAULT_ALERT_RULES)) {
      const rules = DEFAULT_ALERT_RULES.filter((rule) => rule.horizonMinutes === minutes);
      expect(conditionsOf(minutes).match(/\w+ > \d+/g)?.length, `${minutes} min`).toBe(rules.length);
    }
  });
});
