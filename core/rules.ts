/**
 * Bot-alert rules as data: each rule compares one metric of a user's merged activity over a horizon
 * (the last 1, 10 or 60 minutes of event time, see core/horizon.ts) with a threshold. Defaults below; a
 * JSON file (`--rules FILE`) or CDK context (LAMBDA_ENV.alertRules) replaces them.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { z } from 'zod';
import type { UserWindowTotal } from './aggregate.ts';
import {
  activityByUser,
  affectedIndexes,
  type HorizonTotal,
  horizonTotalsAt,
  type WindowActivity,
} from './horizon.ts';
import {
  DEFAULT_INCIDENT_SETTINGS,
  type IncidentSettings,
  incidentSettingsSchema,
} from './incident-settings.ts';
import { SEVERITIES } from './severity.ts';
import type { MergedWindow } from './window.ts';

export const ALERT_METRICS = [
  'total_count',
  'views_without_cart_or_purchase',
  'carts_without_purchase',
  'distinct_sessions',
  'purchase_count',
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export { SEVERITIES, type Severity } from './severity.ts';

export const MAX_HORIZON_MINUTES = 60;

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
    /** The rule fires when the metric is strictly above this, over the horizon. */
    threshold: z.number().int().nonnegative(),
    /**
     * Minutes of event time the metric is taken over, ending with the window being evaluated. At most
     * an hour: the alerter reads the user's windows of two horizons around each change.
     */
    horizonMinutes: z.number().int().min(1).max(MAX_HORIZON_MINUTES).default(1),
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
 * Defaults. A rule fires strictly above its threshold. Each threshold sits between the most that normal
 * traffic reaches over the rule's horizon and the least that the bot kind it is for always reaches
 * (core/synthetic.ts BOT_KINDS). The peaks below were measured with
 * `npx tsx scripts/rule-peaks.ts FILE.csv [--truth FILE.truth.json]`, bots left out:
 *
 *   metric over horizon                  Kaggle heads (18,117 rows)   generated (200k events, 7 days, seed 1)
 *   events, 1 min                         8                            9
 *   views without cart/purchase, 1 min    8                            9
 *   sessions, 1 min                       3                            2
 *   purchases, 1 min                      2                            1
 *   views without cart/purchase, 60 min  51                          271 (a heavy shopper)
 *   purchases, 10 min                     3                            4
 *   carts without purchase, 10 min        5                            7 (a heavy shopper)
 *   sessions, 60 min                      7                            4
 *
 * The one-minute rules also keep above NORMAL_USER_BOUNDS, what a generated normal user can reach by
 * construction in any minute (20 events, 20 views, 3 sessions, 2 purchases).
 */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = [
  {
    // 3× the generated per-minute bound (20); scrapers click 200+ a minute.
    id: 'events-per-window',
    description: 'More events in one minute than a person can click',
    metric: 'total_count',
    threshold: 60,
    horizonMinutes: 1,
    severity: 'high',
  },
  {
    // 1.5× the generated bound (20), 4× the Kaggle peak; window shoppers view 40+ a minute.
    id: 'views-without-cart',
    description: 'Many product views and no cart or purchase in one minute (scraping)',
    metric: 'views_without_cart_or_purchase',
    threshold: 30,
    horizonMinutes: 1,
    severity: 'medium',
  },
  {
    // Generated bound 3, Kaggle peak 3; session hoppers open 10+ a minute.
    id: 'sessions-per-window',
    description: 'Many distinct sessions for one user in one minute (session cycling)',
    metric: 'distinct_sessions',
    threshold: 5,
    horizonMinutes: 1,
    severity: 'medium',
  },
  {
    // Checkout takes 30 s, so a person fits 2 a minute (bound and Kaggle peak); bursts buy 5+.
    id: 'purchase-burst',
    description: 'Burst of purchases in one minute (card testing or scalping)',
    metric: 'purchase_count',
    threshold: 3,
    horizonMinutes: 1,
    severity: 'high',
  },
  {
    // 2.2× the generated peak (271, a heavy human shopper browsing for half an hour before the first
    // cart), 12× Kaggle's (51); a low-and-slow crawler views 18+ new products every minute, 1,080+ an
    // hour, yet never 30 in one minute.
    id: 'views-without-cart-hour',
    description: 'A steady stream of product views and not one cart or purchase for an hour (slow crawling)',
    metric: 'views_without_cart_or_purchase',
    threshold: 600,
    horizonMinutes: 60,
    severity: 'medium',
  },
  {
    // Peaks 3 (Kaggle) and 4 (generated) in ten minutes; a slow card tester buys 2 cheap items every
    // minute (20 in ten), never the 4 in one minute the burst rule needs.
    id: 'purchases-10-min',
    description: 'Purchases at a steady pace for ten minutes, each below the burst rule (slow card testing)',
    metric: 'purchase_count',
    threshold: 8,
    horizonMinutes: 10,
    severity: 'high',
  },
  {
    // Peaks 5 (Kaggle) and 7 (a generated heavy shopper) in ten minutes; a cart stuffer carts 4+ a
    // minute (40+ in ten) and never buys.
    id: 'carts-without-purchase-10-min',
    description: 'Many products carted and none bought in ten minutes (cart stuffing, holding stock)',
    metric: 'carts_without_purchase',
    threshold: 20,
    horizonMinutes: 10,
    severity: 'medium',
  },
  {
    // Peaks 7 (Kaggle) and 4 (generated); a slow session cycler opens 2+ sessions a minute (120+ an
    // hour), never the 6 in one minute the per-minute rule needs. 40 leaves room for real users who
    // come back often: the Kaggle heads cover under three hours of one day.
    id: 'sessions-hour',
    description: 'A new session every half minute for an hour (slow session cycling)',
    metric: 'distinct_sessions',
    threshold: 40,
    horizonMinutes: 60,
    severity: 'medium',
  },
];

export class AlertRulesError extends Error {
  override name = 'AlertRulesError';
}

/** A rules file: the rules, and how their alerts group into incidents. */
export interface AlertSettings {
  rules: AlertRule[];
  incidents: IncidentSettings;
}

function describeIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): string {
  return error.issues
    .map((issue) => {
      const path = [...prefix, ...issue.path];
      return `${path.length > 0 ? `[${path.map(String).join('.')}] ` : ''}${issue.message}`;
    })
    .join('; ');
}

/**
 * Validates rules from any source (parsed JSON file, CDK context, env). `origin` names the source in
 * the error, e.g. `rules.json` or `CLICKSTREAM_ALERT_RULES`.
 */
export function parseAlertRules(value: unknown, origin: string): AlertRule[] {
  const result = rulesSchema.safeParse(value);
  if (result.success) return result.data;
  throw new AlertRulesError(`invalid alert rules in ${origin}: ${describeIssues(result.error)}`, {
    cause: result.error,
  });
}

/**
 * A rules file is either a JSON array of rules (incidents then group with the defaults) or an object
 * `{ "rules": [...], "incidents": { "quietMinutes", "followUpMinutes", "closeGraceSeconds" } }`, either
 * part optional.
 */
export function parseAlertSettings(value: unknown, origin: string): AlertSettings {
  if (Array.isArray(value))
    return { rules: parseAlertRules(value, origin), incidents: DEFAULT_INCIDENT_SETTINGS };
  if (typeof value !== 'object' || value === null) {
    throw new AlertRulesError(
      `invalid alert rules in ${origin}: expected an array of rules or an object with "rules" and "incidents"`,
    );
  }
  const { rules, incidents, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new AlertRulesError(
      `invalid alert rules in ${origin}: unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')}; expected "rules" and "incidents"`,
    );
  }
  const settings = incidentSettingsSchema.safeParse(incidents ?? {});
  if (!settings.success) {
    throw new AlertRulesError(
      `invalid alert rules in ${origin}: ${describeIssues(settings.error, ['incidents'])}`,
      { cause: settings.error },
    );
  }
  let parsedRules: AlertRule[] = [...DEFAULT_ALERT_RULES];
  if (rules !== undefined) {
    const result = rulesSchema.safeParse(rules);
    if (!result.success) {
      throw new AlertRulesError(
        `invalid alert rules in ${origin}: ${describeIssues(result.error, ['rules'])}`,
        { cause: result.error },
      );
    }
    parsedRules = result.data;
  }
  return { rules: parsedRules, incidents: settings.data };
}

function parseJson(text: string, origin: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new AlertRulesError(`invalid alert rules in ${origin}: not JSON (${(cause as Error).message})`, {
      cause,
    });
  }
}

/** Rules from JSON text; absent or blank text means the defaults. */
export function alertRulesFromJson(text: string | undefined, origin: string): AlertRule[] {
  return alertSettingsFromJson(text, origin).rules;
}

/** Rules and incident settings from JSON text; absent or blank text means the defaults. */
export function alertSettingsFromJson(text: string | undefined, origin: string): AlertSettings {
  if (text === undefined || text.trim() === '')
    return { rules: [...DEFAULT_ALERT_RULES], incidents: DEFAULT_INCIDENT_SETTINGS };
  return parseAlertSettings(parseJson(text, origin), origin);
}

export function metricValue(metric: AlertMetric, total: UserWindowTotal): number {
  switch (metric) {
    case 'total_count':
      return total.total_count;
    case 'views_without_cart_or_purchase':
      return total.cart_count === 0 && total.purchase_count === 0 ? total.view_count : 0;
    case 'carts_without_purchase':
      return total.purchase_count === 0 ? total.cart_count : 0;
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

/** A broken rule with the horizon total it was broken on. */
export interface HorizonMatch extends RuleMatch {
  total: HorizonTotal;
}

/**
 * The rules a total breaks, in rule order: the rules of the total's horizon (a plain window total is
 * a one-minute horizon).
 */
export function evaluateRules(
  rules: readonly AlertRule[],
  total: UserWindowTotal | HorizonTotal,
): RuleMatch[] {
  const horizon = 'horizon_minutes' in total ? total.horizon_minutes : 1;
  const matches: RuleMatch[] = [];
  for (const rule of rules) {
    if (rule.horizonMinutes !== horizon) continue;
    const value = metricValue(rule.metric, total);
    if (value > rule.threshold) matches.push({ rule, value });
  }
  return matches;
}

/** The distinct horizons of a rule set, ascending. */
export function ruleHorizons(rules: readonly AlertRule[]): number[] {
  return [...new Set(rules.map((rule) => rule.horizonMinutes))].sort((a, b) => a - b);
}

/**
 * Every rule broken at a window whose horizon a change touched. `windows` are one user's merged
 * windows, ascending by start, covering at least one longest horizon on each side of the changed
 * windows (a horizon ending after a change still holds it). Matches come in window order, then rule order.
 */
export function evaluateUserWindows(
  rules: readonly AlertRule[],
  windows: readonly WindowActivity[],
  changed: ReadonlySet<string>,
): HorizonMatch[] {
  const byWindow = new Map<number, HorizonMatch[]>();
  for (const horizon of ruleHorizons(rules)) {
    const totals = horizonTotalsAt(windows, affectedIndexes(windows, changed, horizon), horizon);
    for (const [index, total] of totals) {
      const matches = evaluateRules(rules, total).map((match) => ({ ...match, total }));
      if (matches.length > 0) byWindow.set(index, [...(byWindow.get(index) ?? []), ...matches]);
    }
  }
  const order = new Map(rules.map((rule, index) => [rule.id, index]));
  return [...byWindow.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([, matches]) => matches.sort((a, b) => order.get(a.rule.id)! - order.get(b.rule.id)!));
}

/** Every horizon total of every window of one user (ascending, one user): what `bot_suspects` lists. */
export function allHorizonTotals(windows: readonly WindowActivity[], horizonMinutes: number): HorizonTotal[] {
  return [...horizonTotalsAt(windows, windows.keys(), horizonMinutes).values()];
}

/**
 * Every rule broken at any window of any user in merged windows (core/window.ts): what the alerter has
 * found once every partial is in, in user then window order.
 */
export function evaluateMerged(rules: readonly AlertRule[], merged: Iterable<MergedWindow>): HorizonMatch[] {
  const matches: HorizonMatch[] = [];
  for (const windows of activityByUser(merged).values()) {
    const starts = new Set(windows.map((window) => window.total.window_start));
    matches.push(...evaluateUserWindows(rules, windows, starts));
  }
  return matches;
}
