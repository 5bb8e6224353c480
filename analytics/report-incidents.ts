/**
 * The report's bot incidents: a timeline (one bar per incident, from its first broken window to its
 * last, coloured by severity, on the same time axis as the traffic chart above it) and a table of
 * what each incident broke. Pure rendering: the records come from the alert-dedupe table.
 */
import type { ChartConfiguration } from 'chart.js';
import type { IncidentRecord } from '../consumers/bot-alerter/incident-store.ts';
import { countWindows, type Incident } from '../core/incident.ts';
import { SEVERITIES, type Severity } from '../core/severity.ts';

/** Options the page script turns into chart.js callbacks, which JSON cannot carry. */
export interface PageHooks {
  /** This scale's values are epoch ms: label its ticks as UTC times. */
  timeAxis?: 'x' | 'y';
  /** Tooltip lines per data index. */
  tooltips?: string[];
  /** Fixed width of the y axis, so charts drawn one above the other share their plot area. */
  yAxisWidth?: number;
}

/** The y-axis width of the traffic chart and the incident timeline under it: their time axes line up. */
export const SHARED_Y_AXIS_PX = 110;

export type PageChart = ChartConfiguration & { clickstream?: PageHooks };

export interface IncidentsView {
  records: IncidentRecord[];
  /** Why no incidents could be read (the report still renders). */
  error?: string;
}

export const SEVERITY_COLOURS: Record<Severity, string> = {
  low: '#59a14f',
  medium: '#edc948',
  high: '#f28e2b',
  critical: '#e15759',
};

export function incidentStartMs(incident: Incident): number {
  return Date.parse(incident.firstBreachWindow);
}

export function incidentEndMs(incident: Incident): number {
  return Date.parse(incident.lastBreachWindow) + incident.windowSeconds * 1000;
}

/** The user: short enough for the shared axis width; the rules are in the tooltip and the table. */
function label(incident: Incident): string {
  return `user ${incident.userId}`;
}

/**
 * One floating bar per incident, one dataset per severity (so the legend names the colours); bars of
 * a few minutes on a week-long axis keep a visible minimum length.
 */
export function incidentTimelineConfig(
  records: readonly IncidentRecord[],
  range: { min: number; max: number },
): PageChart {
  const incidents = records.map((record) => record.incident);
  const present = SEVERITIES.filter((severity) => incidents.some((i) => i.severity === severity));
  return {
    type: 'bar',
    data: {
      labels: incidents.map(label),
      datasets: present.map((severity) => ({
        label: severity,
        data: incidents.map((i) => (i.severity === severity ? [incidentStartMs(i), incidentEndMs(i)] : null)),
        backgroundColor: SEVERITY_COLOURS[severity],
        borderColor: SEVERITY_COLOURS[severity],
        grouped: false,
        minBarLength: 4,
        barPercentage: 0.8,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: 'y',
      scales: { x: { type: 'linear', min: range.min, max: range.max } },
      plugins: { legend: { display: true } },
    },
    clickstream: {
      timeAxis: 'x',
      yAxisWidth: SHARED_Y_AXIS_PX,
      tooltips: records.map(
        ({ incident, emails }) =>
          `${incident.id} (${incident.severity}): ${Object.keys(incident.rules).join(', ')}; ${countWindows(incident.breachRuns, incident.windowSeconds)} windows, ${emails} emails`,
      ),
    },
  } as PageChart;
}

/** Height that gives each incident a readable row. */
export function timelineHeightPx(incidents: number): number {
  return Math.max(160, 70 + 26 * incidents);
}

export function renderIncidentTable(
  records: readonly IncidentRecord[],
  escapeText: (text: string) => string,
): string {
  const rows = records.map(({ incident, emails }) => {
    const rules = Object.values(incident.rules)
      .map(
        (rule) =>
          `${escapeText(rule.id)} (${rule.severity}): ${rule.peak.toLocaleString('en-US')} over ${rule.horizonMinutes} min, threshold ${rule.threshold.toLocaleString('en-US')}`,
      )
      .join('<br>');
    const end = new Date(incidentEndMs(incident)).toISOString().slice(0, 16).replace('T', ' ');
    return `<tr><td>${escapeText(incident.id)}</td><td>${escapeText(incident.userId)}</td><td><span class="severity" style="background:${SEVERITY_COLOURS[incident.severity]}">${incident.severity}</span></td><td>${escapeText(incident.firstBreachWindow.slice(0, 16).replace('T', ' '))}</td><td>${escapeText(end)}</td><td class="num">${countWindows(incident.breachRuns, incident.windowSeconds)}</td><td>${rules}</td><td class="num">${emails}</td><td>${incident.status}</td></tr>`;
  });
  const head = [
    'incident',
    'user',
    'severity',
    'from (UTC)',
    'to',
    'windows',
    'rules broken: peak',
    'emails',
    'status',
  ]
    .map((name) => `<th>${name}</th>`)
    .join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}
