/**
 * The bot-alert email: subject, body and the SNS message attributes subscription filters match on.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import type { HorizonTotal } from './horizon.ts';
import type { AlertMetric, HorizonMatch } from './rules.ts';

/**
 * SNS: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100
 * characters long"; non-ASCII subjects get rewritten by some receivers, so we keep to printable ASCII.
 */
export const SNS_SUBJECT_MAX_CHARS = 99;

export interface AlertMessage {
  subject: string;
  body: string;
  /** SNS MessageAttributes (String type): rule, severity, user_id, window_start. */
  attributes: Record<string, string>;
}

export interface AlertContext {
  /** Glue database holding the lake tables (Athena console SQL). */
  glueDatabase: string;
  /** Athena workgroup, named in the hint. */
  athenaWorkgroup?: string;
}

const METRIC_PHRASE: Record<AlertMetric, (value: number) => string> = {
  total_count: (n) => `${n} events`,
  views_without_cart_or_purchase: (n) => `${n} views, no cart or purchase`,
  carts_without_purchase: (n) => `${n} carts, no purchase`,
  distinct_sessions: (n) => `${n} sessions`,
  purchase_count: (n) => `${n} purchases`,
};

export function windowLabel(windowSeconds: number): string {
  if (windowSeconds % 3600 === 0) return `${windowSeconds / 3600} h`;
  if (windowSeconds % 60 === 0) return `${windowSeconds / 60} min`;
  return `${windowSeconds} s`;
}

/** `2019-10-01T00:02:00Z` as `2019-10-01 00:02 UTC` (seconds only when the window starts off the minute). */
export function subjectTime(windowStart: string): string {
  const time = windowStart.slice(11, 19);
  return `${windowStart.slice(0, 10)} ${time.endsWith(':00') ? time.slice(0, 5) : time} UTC`;
}

/** Printable ASCII only, one line, at most SNS_SUBJECT_MAX_CHARS. */
export function toSnsSubject(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= SNS_SUBJECT_MAX_CHARS ? ascii : `${ascii.slice(0, SNS_SUBJECT_MAX_CHARS - 3)}...`;
}

/**
 * Athena SQL for one user's activity between two window starts (inclusive), deduplicated by
 * contribution; the lake partitions (`dt`) it reads are the days of those windows.
 */
export function userActivitySql(
  userId: string,
  fromStart: string,
  toStart: string,
  glueDatabase: string,
): string {
  const id = userId.replace(/'/g, "''");
  const from = fromStart.slice(0, 10);
  const to = toStart.slice(0, 10);
  const days = from === to ? `dt = '${from}'` : `dt BETWEEN '${from}' AND '${to}'`;
  return [
    'SELECT window_start, sum(total_count) AS events, sum(view_count) AS views, sum(cart_count) AS carts,',
    '       sum(remove_from_cart_count) AS removes, sum(purchase_count) AS purchases, sum(revenue) AS revenue',
    `FROM (SELECT DISTINCT * FROM "${glueDatabase}"."user_activity" WHERE ${days} AND user_id = '${id}')`,
    `WHERE window_start BETWEEN TIMESTAMP '${athenaTime(fromStart)}' AND TIMESTAMP '${athenaTime(toStart)}'`,
    'GROUP BY window_start',
    'ORDER BY window_start;',
  ].join('\n');
}

/** `2019-10-01T00:02:00Z` as an Athena timestamp literal's text. */
function athenaTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** The horizon as a phrase: `60 min` (the window length when the horizon is one window). */
export function horizonLabel(total: HorizonTotal): string {
  return windowLabel(Math.max(total.horizon_minutes * 60, total.window_seconds));
}

export function buildAlertMessage(match: HorizonMatch, context: AlertContext): AlertMessage {
  const { rule, value, total } = match;
  const span = horizonLabel(total);
  const windowEnd = toIsoEnd(total.window_start, total.window_seconds);
  // The window's start is in the subject because one user can break the same rule with the same
  // count in two windows: without it the two emails look like one sent twice.
  const subject = toSnsSubject(
    `Bot activity: user ${total.user_id} - ${METRIC_PHRASE[rule.metric](value)} in ${span} to ${subjectTime(windowEnd)}`,
  );
  const body = [
    `Suspicious activity by user ${total.user_id}.`,
    '',
    `Window:   ${total.window_start} to ${windowEnd} (${windowLabel(total.window_seconds)}, event time)`,
    `Horizon:  ${total.horizon_start} to ${windowEnd} (${span}, ${total.windows} active windows)`,
    `Seen:     ${total.first_event_time} to ${total.last_event_time}`,
    `Rule:     ${rule.id} (${rule.severity}): ${rule.description}`,
    `Metric:   ${rule.metric} = ${value} over ${span}, threshold ${rule.threshold} (fires above it)`,
    '',
    `Counts over the ${span}:`,
    ...countLines(total),
    '',
    'Look this user up:',
    `  clickstream query user_activity_for_user --param user_id=${total.user_id}`,
    '',
    `Athena console${context.athenaWorkgroup ? ` (workgroup ${context.athenaWorkgroup})` : ''}:`,
    userActivitySql(total.user_id, total.horizon_start, total.window_start, context.glueDatabase),
    '',
    'One email is sent per user, window and rule.',
  ].join('\n');
  return {
    subject,
    body,
    attributes: {
      rule: rule.id,
      severity: rule.severity,
      user_id: total.user_id,
      window_start: total.window_start,
    },
  };
}

function toIsoEnd(windowStart: string, windowSeconds: number): string {
  return `${new Date(Date.parse(windowStart) + windowSeconds * 1000).toISOString().slice(0, 19)}Z`;
}

export function countLines(total: HorizonTotal): string[] {
  return [
    `  events            ${total.total_count}`,
    `  view              ${total.view_count}`,
    `  cart              ${total.cart_count}`,
    `  remove_from_cart  ${total.remove_from_cart_count}`,
    `  purchase          ${total.purchase_count}`,
    `  revenue           ${total.revenue.toFixed(2)}`,
    `  distinct sessions ${total.distinct_sessions}`,
    `  distinct products ${total.distinct_products}`,
  ];
}
