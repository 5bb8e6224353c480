/**
 * The bot-incident emails (open, follow-up, close): subject, body and the SNS message attributes
 * subscription filter policies match on (incident_id, step, rule, severity, user_id).
 *
 * Pure code: no AWS SDK, no process.env.
 */
import type { HorizonTotal } from './horizon.ts';
import {
  type BrokenRule,
  countWindows,
  type Incident,
  type IncidentSettings,
  type IncidentStep,
  incidentSpan,
} from './incident.ts';
import type { AlertMetric, HorizonMatch } from './rules.ts';

/**
 * SNS: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100
 * characters long"; non-ASCII subjects get rewritten by some receivers, so we keep to printable ASCII.
 */
export const SNS_SUBJECT_MAX_CHARS = 99;

export interface AlertMessage {
  subject: string;
  body: string;
  /** SNS MessageAttributes (String type): incident_id, step, rule, severity, user_id. */
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
 * Athena SQL for one user's activity between two window starts (inclusive): distinct event ids over
 * each window's partials, so a redelivered partial or a re-sent event counts once. The lake partitions
 * (`dt`) it reads are the days of those windows.
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
  const distinct = (column: string, name: string) =>
    `         cardinality(array_distinct(flatten(array_agg(${column})))) AS ${name}`;
  return [
    'SELECT window_start, views + carts + removes + purchases AS events, views, carts, removes, purchases',
    'FROM (',
    '  SELECT window_start,',
    `${distinct('view_ids', 'views')},`,
    `${distinct('cart_ids', 'carts')},`,
    `${distinct('remove_from_cart_ids', 'removes')},`,
    distinct('purchases', 'purchases'),
    `  FROM "${glueDatabase}"."user_activity" WHERE ${days} AND user_id = '${id}'`,
    `    AND window_start BETWEEN TIMESTAMP '${athenaTime(fromStart)}' AND TIMESTAMP '${athenaTime(toStart)}'`,
    '  GROUP BY window_start',
    ')',
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

const n = (value: number) => value.toLocaleString('en-US');
/** `1 rule`, `3 rules`. */
const count = (value: number, noun: string) => `${n(value)} ${noun}${value === 1 ? '' : 's'}`;

/** One rule's figure as a phrase: `1,234 views, no cart or purchase in 60 min`. */
function matchPhrase(match: HorizonMatch): string {
  return `${METRIC_PHRASE[match.rule.metric](match.value)} in ${horizonLabel(match.total)}`;
}

function matchLines(match: HorizonMatch): string[] {
  const { rule, value, total } = match;
  const span = horizonLabel(total);
  const end = toIsoEnd(total.window_start, total.window_seconds);
  return [
    `  ${rule.id} (${rule.severity}): ${rule.description}`,
    `    ${rule.metric} = ${n(value)} over ${span} (${total.horizon_start} to ${end}, ${total.windows} active windows), threshold ${n(rule.threshold)} (fires above it)`,
  ];
}

function brokenRuleLines(incident: Incident): string[] {
  return Object.values(incident.rules).flatMap((rule: BrokenRule) => {
    const windows = countWindows(rule.runs, incident.windowSeconds);
    const first = rule.runs[0]?.[0] ?? rule.peakWindow;
    const last = rule.runs.at(-1)?.[1] ?? rule.peakWindow;
    return [
      `  ${rule.id} (${rule.severity}): ${rule.description}`,
      `    ${rule.metric} over ${windowLabel(rule.horizonMinutes * 60)}: peak ${n(rule.peak)} at ${rule.peakWindow}, threshold ${n(rule.threshold)}; broken in ${count(windows, 'window')}, ${first} to ${last}`,
    ];
  });
}

function lookupLines(userId: string, from: string, to: string, context: AlertContext): string[] {
  return [
    'Look this user up:',
    `  clickstream query user_activity_for_user --param user_id=${userId}`,
    '',
    `Athena console${context.athenaWorkgroup ? ` (workgroup ${context.athenaWorkgroup})` : ''}:`,
    userActivitySql(userId, from, to, context.glueDatabase),
  ];
}

function stepLabel(step: IncidentStep['step']): string {
  return step.startsWith('follow-up-') ? `follow-up ${step.slice('follow-up-'.length)}` : step;
}

export interface IncidentMessageInput {
  incident: Incident;
  step: IncidentStep;
  settings: IncidentSettings;
  /** For a close: the user's merged activity over the incident span. */
  totals?: HorizonTotal;
}

/** The email of one incident step. */
export function buildIncidentMessage(input: IncidentMessageInput, context: AlertContext): AlertMessage {
  const { incident, step } = input;
  const header = [
    `Incident: ${incident.id} (${stepLabel(step.step)})`,
    `User:     ${incident.userId}`,
    `Severity: ${incident.severity}`,
  ];
  let subject: string;
  let lines: string[];
  let rule: string;
  if (step.step === 'open') {
    const first = step.matches[0]!;
    rule = first.rule.id;
    subject = `Bot incident opened: user ${incident.userId} - ${matchPhrase(first)} (${first.rule.severity})`;
    lines = openLines(incident, step.matches, input.settings, header, context);
  } else if (step.step === 'close') {
    rule = highestRule(incident).id;
    const windows = countWindows(incident.breachRuns, incident.windowSeconds);
    subject = `Bot incident closed: user ${incident.userId} - ${durationLabel(incident)}, ${count(Object.keys(incident.rules).length, 'rule')}, ${count(windows, 'window')}`;
    lines = closeLines(incident, step.reason, input, header, context);
  } else {
    const first = step.matches.find((m) => step.newRules.includes(m.rule.id)) ?? step.matches[0]!;
    rule = first.rule.id;
    subject = `Bot incident escalated: user ${incident.userId} - now ${incident.severity}: ${matchPhrase(first)}`;
    const changes = [
      ...(step.newRules.length > 0 ? [`new rules broken: ${step.newRules.join(', ')}`] : []),
      ...(step.severityRose ? [`severity rose to ${incident.severity}`] : []),
    ];
    lines = [
      `Bot incident ${incident.id} got worse: ${changes.join('; ')}.`,
      '',
      ...header,
      `Window:   ${first.total.window_start} to ${toIsoEnd(first.total.window_start, first.total.window_seconds)} (event time)`,
      '',
      'Broken at this window:',
      ...step.matches.flatMap(matchLines),
      '',
      'Every rule broken so far:',
      ...brokenRuleLines(incident),
      '',
      `Counts over the ${horizonLabel(first.total)} of ${first.rule.id}:`,
      ...countLines(first.total),
      '',
      ...lookupLines(incident.userId, incidentSpan(incident).from, first.total.window_start, context),
    ];
  }
  return {
    subject: toSnsSubject(subject),
    body: lines.join('\n'),
    attributes: {
      incident_id: incident.id,
      step: step.step.startsWith('follow-up') ? 'follow-up' : step.step,
      rule,
      severity: incident.severity,
      user_id: incident.userId,
    },
  };
}

function openLines(
  incident: Incident,
  matches: readonly HorizonMatch[],
  settings: IncidentSettings,
  header: string[],
  context: AlertContext,
): string[] {
  const first = matches[0]!;
  const end = toIsoEnd(first.total.window_start, first.total.window_seconds);
  return [
    `Suspicious activity by user ${incident.userId}: bot incident ${incident.id} opened.`,
    '',
    ...header,
    `Window:   ${first.total.window_start} to ${end} (event time), the first with a broken rule`,
    `Seen:     ${first.total.first_event_time} to ${first.total.last_event_time}`,
    '',
    'Rules broken:',
    ...matches.flatMap(matchLines),
    '',
    `Counts over the ${horizonLabel(first.total)} of ${first.rule.id}:`,
    ...countLines(first.total),
    '',
    `Next: a follow-up only if the severity rises or another rule breaks (at most one per ${settings.followUpMinutes} min of event time), and a summary once the user has broken no rule for ${settings.quietMinutes} min.`,
    '',
    ...lookupLines(incident.userId, first.total.horizon_start, first.total.window_start, context),
  ];
}

function closeLines(
  incident: Incident,
  reason: 'quiet' | 'end-of-stream',
  input: IncidentMessageInput,
  header: string[],
  context: AlertContext,
): string[] {
  const span = incidentSpan(incident);
  const end = toIsoEnd(incident.lastBreachWindow, incident.windowSeconds);
  const breachWindows = countWindows(incident.breachRuns, incident.windowSeconds);
  const why =
    reason === 'quiet'
      ? `broke no rule for ${input.settings.quietMinutes} min of event time`
      : 'the replay ended (end of stream)';
  const followUps = incident.mailed.followUps;
  return [
    `Bot incident ${incident.id} closed: user ${incident.userId} ${why}.`,
    '',
    ...header,
    `Duration: ${incident.firstBreachWindow} to ${end} (${durationLabel(incident)} of event time with broken rules)`,
    `Windows:  ${count(breachWindows, 'window')} broke a rule, of ${count(input.totals?.windows ?? 0, 'active window')} from ${span.from} to ${end}`,
    '',
    'Rules broken:',
    ...brokenRuleLines(incident),
    '',
    `Totals by type from ${span.from} to ${end} (event time):`,
    ...(input.totals ? countLines(input.totals) : ['  (no stored windows)']),
    '',
    `Emails for this incident: the opening one, ${count(followUps, 'follow-up')}, this summary.`,
    '',
    ...lookupLines(incident.userId, span.from, incident.lastBreachWindow, context),
  ];
}

function highestRule(incident: Incident): BrokenRule {
  const rules = Object.values(incident.rules);
  return rules.find((rule) => rule.severity === incident.severity) ?? rules[0]!;
}

function durationLabel(incident: Incident): string {
  const minutes =
    (Date.parse(incident.lastBreachWindow) - Date.parse(incident.firstBreachWindow)) / 60_000 +
    incident.windowSeconds / 60;
  if (minutes < 120) return `${Math.round(minutes)} min`;
  return `${(minutes / 60).toFixed(1)} h`;
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
