/**
 * Bot incidents: a user's broken rules grouped into one incident, as Alertmanager groups alerts and
 * PagerDuty deduplicates them. An incident opens at the first broken rule (one email), follows up only
 * when its severity rises or another rule breaks, at most once per `followUpMinutes` of event time, and
 * closes (a summary email) once the user has broken no rule for `quietMinutes` of event time.
 *
 * Everything here runs on event time, so a replay at any speed groups alike. Breaches can arrive late
 * and out of order (each shard of the events stream flushes its own partials); a breach that falls
 * inside a closed incident's span (up to `quietMinutes` either side) belongs to it and opens nothing.
 *
 * Pure code: no AWS SDK, no process.env, no clock. Applying the same breaches twice changes nothing,
 * which is what makes a retried batch safe.
 */
import type { IncidentSettings } from './incident-settings.ts';
import type { HorizonMatch } from './rules.ts';
import { type Severity, severityRank } from './severity.ts';

// The settings live in their own module so that rules.ts, which parses them, and this module, which
// records rules' matches, do not import each other.
export {
  DEFAULT_INCIDENT_SETTINGS,
  type IncidentSettings,
  incidentSettingsSchema,
} from './incident-settings.ts';

/** One rule as broken within an incident. */
export interface BrokenRule {
  id: string;
  description: string;
  metric: string;
  threshold: number;
  horizonMinutes: number;
  severity: Severity;
  /** The highest value seen, and the window it was seen at. */
  peak: number;
  peakWindow: string;
  /** Windows at which the rule was broken. */
  runs: WindowRuns;
}

export type IncidentStatus = 'open' | 'closed';

export interface Incident {
  id: string;
  userId: string;
  status: IncidentStatus;
  windowSeconds: number;
  /** The window whose breach opened the incident. */
  openedWindow: string;
  /** Earliest and latest window with a broken rule (late breaches can come before the opening one). */
  firstBreachWindow: string;
  lastBreachWindow: string;
  /** Windows with at least one broken rule. */
  breachRuns: WindowRuns;
  rules: Record<string, BrokenRule>;
  severity: Severity;
  /** What the emails so far have told: rules, severity, and the window of the last change reported. */
  mailed: { rules: string[]; severity: Severity; lastWindow: string; followUps: number };
  /** Why and at which watermark it closed. */
  closed?: { reason: CloseReason; watermark: string };
}

export type CloseReason = 'quiet' | 'end-of-stream';

export type IncidentStep =
  | { step: 'open'; matches: HorizonMatch[] }
  | { step: `follow-up-${number}`; matches: HorizonMatch[]; newRules: string[]; severityRose: boolean }
  | { step: 'close'; reason: CloseReason };

const MINUTE_MS = 60_000;

function maxSeverity(a: Severity, b: Severity): Severity {
  return severityRank(a) >= severityRank(b) ? a : b;
}

/** `512345678-20191001T0102Z`: the user and the opening window, readable in a subject. */
export function incidentId(userId: string, windowStart: string): string {
  return `${userId}-${windowStart.slice(0, 16).replace(/[-:]/g, '')}Z`;
}

function endOf(windowStart: string, windowSeconds: number): number {
  return Date.parse(windowStart) + windowSeconds * 1000;
}

/** Does a breach at `windowStart` fall inside the incident's span, stretched by the quiet time? */
function belongsTo(incident: Incident, windowStart: string, settings: IncidentSettings): boolean {
  const at = Date.parse(windowStart);
  const quiet = settings.quietMinutes * MINUTE_MS;
  return (
    at >= Date.parse(incident.firstBreachWindow) - quiet &&
    at <= endOf(incident.lastBreachWindow, incident.windowSeconds) + quiet
  );
}

/**
 * Windows as runs of consecutive window starts, `[first, last]` inclusive: exact counts that stay small
 * for a bot breaking a rule minute after minute, and adding a window twice changes nothing.
 */
export type WindowRuns = Array<[string, string]>;

export function addWindow(runs: WindowRuns, window: string, windowSeconds: number): WindowRuns {
  const step = windowSeconds * 1000;
  const at = Date.parse(window);
  const all: Array<{ from: number; to: number }> = runs.map(([a, b]) => ({
    from: Date.parse(a),
    to: Date.parse(b),
  }));
  all.push({ from: at, to: at });
  all.sort((x, y) => x.from - y.from);
  const merged: Array<{ from: number; to: number }> = [];
  for (const run of all) {
    const last = merged.at(-1);
    if (last && run.from <= last.to + step) last.to = Math.max(last.to, run.to);
    else merged.push({ ...run });
  }
  return merged.map((run) => [iso(run.from), iso(run.to)]);
}

export function countWindows(runs: WindowRuns, windowSeconds: number): number {
  return runs.reduce((sum, [a, b]) => sum + (Date.parse(b) - Date.parse(a)) / (windowSeconds * 1000) + 1, 0);
}

function iso(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function record(incident: Incident, window: string, matches: readonly HorizonMatch[]): void {
  const seconds = incident.windowSeconds;
  for (const match of matches) {
    const rule = match.rule;
    const known = incident.rules[rule.id];
    if (!known) {
      incident.rules[rule.id] = {
        id: rule.id,
        description: rule.description,
        metric: rule.metric,
        threshold: rule.threshold,
        horizonMinutes: rule.horizonMinutes,
        severity: rule.severity,
        peak: match.value,
        peakWindow: window,
        runs: [[window, window]],
      };
    } else {
      known.runs = addWindow(known.runs, window, seconds);
      if (match.value > known.peak) {
        known.peak = match.value;
        known.peakWindow = window;
      }
    }
    incident.severity = maxSeverity(incident.severity, rule.severity);
  }
  incident.breachRuns = addWindow(incident.breachRuns, window, seconds);
  if (window < incident.firstBreachWindow) incident.firstBreachWindow = window;
  if (window > incident.lastBreachWindow) incident.lastBreachWindow = window;
}

function open(userId: string, window: string, matches: readonly HorizonMatch[]): Incident {
  const first = matches[0]!;
  const incident: Incident = {
    id: incidentId(userId, window),
    userId,
    status: 'open',
    windowSeconds: first.total.window_seconds,
    openedWindow: window,
    firstBreachWindow: window,
    lastBreachWindow: window,
    breachRuns: [],
    rules: {},
    severity: first.rule.severity,
    // Filled in below, once the opening window's rules are recorded: the open email tells them all.
    mailed: { rules: [], severity: first.rule.severity, lastWindow: window, followUps: 0 },
  };
  record(incident, window, matches);
  incident.mailed = {
    rules: Object.keys(incident.rules),
    severity: incident.severity,
    lastWindow: window,
    followUps: 0,
  };
  return incident;
}

/** Rules broken and not yet told, and whether the severity rose past the last email's. */
function untold(incident: Incident): { newRules: string[]; severityRose: boolean } {
  return {
    newRules: Object.keys(incident.rules).filter((id) => !incident.mailed.rules.includes(id)),
    severityRose: severityRank(incident.severity) > severityRank(incident.mailed.severity),
  };
}

/**
 * Applies one user's broken rules (any order; each window's matches together) to the user's current
 * incident, and says which emails that calls for. `late` counts windows whose breaches fell to a closed
 * incident: they are neither recorded nor mailed. `current` is not modified.
 */
export function applyMatches(
  current: Incident | undefined,
  matches: readonly HorizonMatch[],
  settings: IncidentSettings,
): { incident: Incident | undefined; steps: IncidentStep[]; late: number } {
  let incident: Incident | undefined = current ? structuredClone(current) : undefined;
  const steps: IncidentStep[] = [];
  let late = 0;
  const byWindow = new Map<string, HorizonMatch[]>();
  for (const match of matches) {
    const window = match.total.window_start;
    byWindow.set(window, [...(byWindow.get(window) ?? []), match]);
  }
  for (const window of [...byWindow.keys()].sort()) {
    const atWindow = byWindow.get(window)!;
    if (incident?.status === 'closed') {
      if (belongsTo(incident, window, settings)) {
        late++;
        continue;
      }
      incident = undefined;
    }
    if (!incident) {
      incident = open(atWindow[0]!.total.user_id, window, atWindow);
      steps.push({ step: 'open', matches: atWindow });
      continue;
    }
    record(incident, window, atWindow);
    const change = untold(incident);
    const due =
      Date.parse(window) >= Date.parse(incident.mailed.lastWindow) + settings.followUpMinutes * MINUTE_MS;
    if ((change.newRules.length > 0 || change.severityRose) && due) {
      incident.mailed = {
        rules: Object.keys(incident.rules),
        severity: incident.severity,
        lastWindow: window,
        followUps: incident.mailed.followUps + 1,
      };
      steps.push({ step: `follow-up-${incident.mailed.followUps}`, matches: atWindow, ...change });
    }
  }
  return { incident, steps, late };
}

/**
 * Whether an open incident may close: the watermark (the latest window end seen on the stream) is
 * `quietMinutes` past its last breach and no breach reached it for `closeGraceSeconds` of wall time;
 * or the stream ended.
 */
export function closeDue(
  incident: Incident,
  watermarkMs: number,
  lastBreachReceivedMs: number,
  nowMs: number,
  settings: IncidentSettings,
  endOfStream: boolean,
): boolean {
  if (incident.status !== 'open') return false;
  if (endOfStream) return true;
  const quietUntil =
    endOf(incident.lastBreachWindow, incident.windowSeconds) + settings.quietMinutes * MINUTE_MS;
  return watermarkMs >= quietUntil && nowMs - lastBreachReceivedMs >= settings.closeGraceSeconds * 1000;
}

export function closeIncident(incident: Incident, reason: CloseReason, watermark: string): Incident {
  return { ...structuredClone(incident), status: 'closed', closed: { reason, watermark } };
}

/** The incident's span: from the start of the longest horizon of its first breach to its last window's end. */
export function incidentSpan(incident: Incident): { from: string; to: string } {
  const longest = Math.max(...Object.values(incident.rules).map((rule) => rule.horizonMinutes));
  const fromMs =
    Date.parse(incident.firstBreachWindow) -
    Math.max(longest * MINUTE_MS, incident.windowSeconds * 1000) +
    incident.windowSeconds * 1000;
  return { from: new Date(fromMs).toISOString().replace('.000Z', 'Z'), to: incident.lastBreachWindow };
}
