/**
 * Bot-alert rules as data: each rule compares one metric of a merged (user, window) total with a
 * threshold. Defaults below; a JSON file (`--rules FILE`) or CDK context (LAMBDA_ENV.alertRules)
 * replaces them.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { z } from 'zod';
import type { UserWindowTotal } from './aggregate.ts';

export const ALERT_METRICS = [
  'total_count',
  'views_without_cart_or_purchase',
  'distinct_sessions',
  'purchase_count',
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

const ruleSchema = z
  .object({
    id: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9_-]{0,62}$/,
        'id must be 1-63 chars of a-z, 0-9, "_" or "-" (it goes into keys and SNS attributes)',
      ),
    description: z.string().min(1).max(500),
    metric: z.enum(ALERT_METRICS),
    /** The rule fires when the metric is strictly above this, in one window. */
    threshold: z.number().int().nonnegative(),
    severity: z.enum(SEVERITIES),
  })
  .strict();
export type AlertRule = z.infer<typeof ruleSchema>;

const rulesSchema = z
  .array(ruleSchema)
  .min(1, 'at least one rule is needed')
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    for (const [index, rule] of rules.entries()) {
      if (seen.has(rule.id))
        ctx.addIssue({ code: 'custom', message: `duplicate rule id "${rule.id}"`, path: [index, 'id'] });
      seen.add(rule.id);
    }
  });

/**
 * Defaults, per window of the configured length (60 s by default); thresholds do not scale with it.
 * Each sits between what a normal user can do in 60 s and what the matching bot kind always does
 * (core/synthetic.ts: NORMAL_USER_BOUNDS 20 events, 20 views, 3 sessions, 2 purchases; bots at least
 * 200 events, 40 views, 10 sessions, 5 purchases), and a rule fires strictly above its threshold. The
 * real Kaggle heads (18k rows) peak at 8 events, 8 views without cart, 3 sessions and 2 purchases.
 */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = [
  {
    id: 'events-per-window',
    description: 'More events in one window than a person can click',
    metric: 'total_count',
    threshold: 60,
    severity: 'high',
  },
  {
    id: 'views-without-cart',
    description: 'Many product views and no cart or purchase in one window (scraping)',
    metric: 'views_without_cart_or_purchase',
    threshold: 30,
    severity: 'medium',
  },
  {
    id: 'sessions-per-window',
    description: 'Many distinct sessions for one user in one window (session cycling)',
    metric: 'distinct_sessions',
    threshold: 5,
    severity: 'medium',
  },
  {
    id: 'purchase-burst',
    description: 'Burst of purchases in one window (card testing or scalping)',
    metric: 'purchase_count',
    threshold: 3,
    severity: 'high',
  },
];

export class AlertRulesError extends Error {
  override name = 'AlertRulesError';
}

/**
 * Validates rules from any source (parsed JSON file, CDK context, env). `origin` names the source in
 * the error, e.g. `rules.json` or `CLICKSTREAM_ALERT_RULES`.
 */
export function parseAlertRules(value: unknown, origin: string): AlertRule[] {
  const result = rulesSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues
    .map((issue) => `${issue.path.length > 0 ? `[${issue.path.join('.')}] ` : ''}${issue.message}`)
    .join('; ');
  throw new AlertRulesError(`invalid alert rules in ${origin}: ${problems}`, { cause: result.error });
}

/** Rules from JSON text; absent or blank text means the defaults. */
export function alertRulesFromJson(text: string | undefined, origin: string): AlertRule[] {
  if (text === undefined || text.trim() === '') return [...DEFAULT_ALERT_RULES];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new AlertRulesError(`invalid alert rules in ${origin}: not JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  return parseAlertRules(value, origin);
}

export function metricValue(metric: AlertMetric, total: UserWindowTotal): number {
  switch (metric) {
    case 'total_count':
      return total.total_count;
    case 'views_without_cart_or_purchase':
      return total.cart_count === 0 && total.purchase_count === 0 ? total.view_count : 0;
    case 'distinct_sessions':
      return total.distinct_sessions;
    case 'purchase_count':
      return total.purchase_count;
  }
}

export interface RuleMatch {
  rule: AlertRule;
  value: number;
}

/** The rules a merged total breaks, in rule order. */
export function evaluateRules(rules: readonly AlertRule[], total: UserWindowTotal): RuleMatch[] {
  const matches: RuleMatch[] = [];
  for (const rule of rules) {
    const value = metricValue(rule.metric, total);
    if (value > rule.threshold) matches.push({ rule, value });
  }
  return matches;
}
