import { describe, expect, it } from 'vitest';
import { getNamedQuery } from '../analytics/named-queries.ts';
import { type AlertMetric, DEFAULT_ALERT_RULES } from '../core/rules.ts';

// The named query is plain SQL deployed to Athena as is, so it cannot import the rules: this test is
// what keeps "bot suspects" in Athena and the alert emails flagging the same windows.
const SQL_COLUMN: Record<AlertMetric, string> = {
  total_count: 'events',
  views_without_cart_or_purchase: 'views',
  distinct_sessions: 'sessions',
  purchase_count: 'purchases',
};

describe('bot_suspects named query', () => {
  const sql = getNamedQuery('bot_suspects').sql;
  const where = sql.slice(sql.lastIndexOf('WHERE'));

  it.each(DEFAULT_ALERT_RULES.map((rule) => [rule.id, rule] as const))(
    'uses the default threshold of rule %s',
    (_, rule) => {
      expect(where).toContain(`${SQL_COLUMN[rule.metric]} > ${rule.threshold}`);
    },
  );

  it('tests views only when the window has no cart and no purchase, as the rule does', () => {
    expect(where).toMatch(/carts = 0 AND purchases = 0 AND views > \d+/);
  });
});
