/**
 * The run behind `clickstream report` (cli/commands/report.ts): runs the dashboard's named queries and writes ONE self-contained HTML page with
 * their charts and first rows. chart.js is inlined and a Content-Security-Policy forbids every network
 * load, so the page opens offline, from an email attachment or an S3 console download alike.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { ChartConfiguration } from 'chart.js';
import { createDynamoClient } from '../adapters/clients.ts';
import type { RunContext } from '../adapters/run-context.ts';
import { type AwsTarget, clientOptions } from '../adapters/target.ts';
import { incidentsFromItems } from '../consumers/bot-alerter/incident-store.ts';
import { integerFlag } from '../core/flags.ts';
import { athenaCostUsd } from './athena-engine.ts';
import type { QueryColumn, QueryResult, QueryRow } from './engine.ts';
import { formatBytes } from './format.ts';
import { type EngineKind, type EngineOptions, openEngine, runCatalogQuery } from './query.ts';
import {
  type IncidentsView,
  incidentEndMs,
  incidentStartMs,
  incidentTimelineConfig,
  type PageChart,
  renderIncidentTable,
  SHARED_Y_AXIS_PX,
  timelineHeightPx,
} from './report-incidents.ts';
import { scanAll } from './verify.ts';

// ---------------------------------------------------------------------------------------------------
// What the report shows

export interface ChartSpec {
  type: 'line' | 'bar';
  /** Category axis column (default: the first column); more columns are appended to the label. */
  x?: string | string[];
  /** Value columns, one dataset each (default: the numeric columns after x, or the first one when pivoting). */
  y?: string[];
  /** Pivot: one dataset per distinct value of this column (e.g. one line per category). */
  series?: string;
  /** Bars along the y axis: readable for long labels such as brand names or user ids. */
  horizontal?: boolean;
  /** Only the first rows go into the chart (the queries sort by relevance); the tables say so too. */
  maxPoints?: number;
  /** x holds timestamps: drawn on a time axis (UTC), spaced by time rather than one slot per row. */
  time?: boolean;
}

export interface ReportQuery {
  name: string;
  title: string;
  chart: ChartSpec;
}

/** The dashboard: which named queries, in which order, charted how. */
export const REPORT_QUERIES: readonly ReportQuery[] = [
  {
    name: 'traffic_per_hour',
    title: 'Traffic per hour (UTC), and the bot incidents that stood out from it',
    chart: { type: 'line', x: 'hour', y: ['events', 'users'], time: true },
  },
  {
    name: 'unique_visitors_per_day',
    title: 'Unique visitors per day',
    chart: { type: 'line', x: 'event_date', y: ['unique_visitors', 'sessions'] },
  },
  {
    name: 'top_categories_by_hour',
    title: 'Top categories by hour of day (UTC)',
    chart: { type: 'bar', x: 'hour_of_day', series: 'category_code', y: ['events'] },
  },
  {
    name: 'top_categories_by_weekday',
    title: 'Top categories by weekday',
    chart: { type: 'bar', x: 'weekday_name', series: 'category_code', y: ['events'] },
  },
  {
    name: 'brands_needing_marketing',
    title: 'Brands needing marketing: view-to-purchase conversion against the shop',
    chart: { type: 'bar', x: 'brand', y: ['conversion', 'shop_conversion'], horizontal: true, maxPoints: 25 },
  },
  {
    name: 'bot_suspects',
    title: 'Bot suspects: windows that broke a rule, over their horizon',
    // One user can cross a threshold in several windows and horizons: label bars with all three.
    chart: {
      type: 'bar',
      x: ['user_id', 'window_start', 'horizon_minutes'],
      y: ['events', 'views', 'sessions'],
      horizontal: true,
      maxPoints: 25,
    },
  },
];

export interface ReportSection {
  name: string;
  title: string;
  description?: string;
  chart?: ChartSpec;
  result: QueryResult;
}

export interface RenderOptions {
  title?: string;
  generatedAt?: Date;
  /** Rows shown in each section's table. */
  tableRows?: number;
  /** The chart.js UMD bundle to inline (default: read from node_modules once). */
  chartJs?: string;
  /** Bot incidents, drawn on a timeline under the time-axis chart (the traffic), or at the end. */
  incidents?: IncidentsView;
}

// ---------------------------------------------------------------------------------------------------
// Rendering (pure)

const NUMERIC = new Set<QueryColumn['type']>(['bigint', 'integer', 'double']);
const MAX_SERIES = 8;
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

/**
 * One HTML page: a chart per section that has rows (or, when its rows hold a single point, the
 * figures themselves: one value is a number, not a chart), then a table of its first rows; the bot
 * incidents on a timeline right under the traffic they stood out from. When every chart has been
 * drawn, the page sets `data-charts-rendered` on <body> (charts with a non-empty canvas and painted
 * pixels), next to `data-charts-expected`, so a headless browser can check the page really works.
 */
export function renderReportHtml(sections: readonly ReportSection[], options: RenderOptions = {}): string {
  return renderReport(sections, options).html;
}

/** The page, and how many charts it draws (a result of one point is shown as figures, not charted). */
export function renderReport(
  sections: readonly ReportSection[],
  options: RenderOptions = {},
): { html: string; charts: number } {
  const title = options.title ?? 'Clickstream report';
  const tableRows = options.tableRows ?? 20;
  const charts: Array<{ id: string; config: PageChart }> = [];
  const timeSection = sections.find((s) => s.chart?.time && s.result.rows.length > 0);
  const range = timeRange(timeSection, options.incidents);
  const body = sections.map((section, index) => {
    const isTime = section === timeSection;
    // Drawn before the timeline, so the incidents come right under the traffic they stood out from.
    const chart = renderChart(section, `chart-${index}`, charts, isTime ? range : undefined);
    const incidents = isTime && options.incidents ? renderIncidents(options.incidents, charts, range) : '';
    return renderSection(section, chart + incidents, tableRows);
  });
  if (!timeSection && options.incidents)
    body.push(
      `<section>\n<h2>Bot incidents</h2>\n${renderIncidents(options.incidents, charts, range)}\n</section>`,
    );
  const generated = (options.generatedAt ?? new Date()).toISOString();

  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
h3 { margin: 1.5rem 0 0.5rem; font-size: 15px; }
.meta { color: #666; font-size: 12px; }
.chart { position: relative; height: 360px; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 1rem 0; }
.figure { border: 1px solid #ddd; border-radius: 4px; padding: 8px 16px; min-width: 140px; }
.figure .value { display: block; font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .label { color: #666; font-size: 12px; }
.severity { padding: 0 6px; border-radius: 3px; color: #222; }
table { border-collapse: collapse; margin-top: 1rem; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 2px 8px; vertical-align: top; } th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td.null { color: #aaa; }
.empty { color: #999; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">generated ${escapeHtml(generated)}</p>
${body.join('\n')}
<script>${inlineScript(options.chartJs ?? chartJsSource())}</script>
<script type="application/json" id="report-charts">${jsonForHtml(charts)}</script>
<script>${DRAW_CHARTS}</script>
</body>
</html>
`;
  return { html, charts: charts.length };
}

interface TimeRange {
  min: number;
  max: number;
}

/** The time axis shared by the traffic chart and the incident timeline: all of both. */
function timeRange(section: ReportSection | undefined, incidents: IncidentsView | undefined): TimeRange {
  const points: number[] = [];
  const x = typeof section?.chart?.x === 'string' ? section.chart.x : section?.result.columns[0]?.name;
  if (section && x) for (const row of section.result.rows) points.push(timeMs(row[x]));
  for (const { incident } of incidents?.records ?? [])
    points.push(incidentStartMs(incident), incidentEndMs(incident));
  const valid = points.filter(Number.isFinite);
  return valid.length > 0 ? { min: Math.min(...valid), max: Math.max(...valid) } : { min: 0, max: 1 };
}

/** A timestamp cell as epoch ms: Athena and DuckDB give `2019-10-01 00:00:00[.000]`, meant as UTC. */
export function timeMs(value: QueryRow[string] | undefined): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  const iso = value.trim().replace(' ', 'T');
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}

/** A section's chart, its figures when it has a single point, or "No rows.". */
function renderChart(
  section: ReportSection,
  id: string,
  charts: Array<{ id: string; config: PageChart }>,
  range: TimeRange | undefined,
): string {
  if (section.result.rows.length === 0) return '<p class="empty">No rows.</p>';
  const config = chartConfig(section.result, section.chart ?? { type: 'bar' }, range);
  if (!config) return '<p class="empty">No rows.</p>';
  if (pointCount(config) < 2) return renderFigures(config);
  charts.push({ id, config });
  return `<div class="chart"><canvas id="${id}" role="img" aria-label="${escapeHtml(section.title)}"></canvas></div>`;
}

function renderSection(section: ReportSection, figure: string, tableRows: number): string {
  const meta = [
    `${section.result.rows.length.toLocaleString('en-US')} rows`,
    `${section.result.engine} engine`,
    `${section.result.durationMs.toLocaleString('en-US')} ms`,
    ...(section.result.bytesScanned !== undefined
      ? [`${formatBytes(section.result.bytesScanned)} scanned`]
      : []),
  ].join(' · ');
  return `<section id="${escapeHtml(section.name)}">
<h2>${escapeHtml(section.title)}</h2>
<p class="meta"><code>${escapeHtml(section.name)}</code> · ${escapeHtml(meta)}</p>
${section.description ? `<p>${escapeHtml(section.description)}</p>` : ''}
${figure}
${renderHtmlTable(section.result, tableRows)}
</section>`;
}

/** Distinct x positions a chart would draw. */
function pointCount(config: PageChart): number {
  if (config.data.labels) return config.data.labels.length;
  const xs = new Set<number>();
  for (const dataset of config.data.datasets)
    for (const point of dataset.data as Array<{ x: number } | null>) if (point) xs.add(point.x);
  return xs.size;
}

/** A chart of one point, as the numbers it holds. */
function renderFigures(config: PageChart): string {
  const where = config.data.labels?.[0] !== undefined ? String(config.data.labels[0]) : '';
  const tiles = config.data.datasets.map((dataset) => {
    const raw = dataset.data[0] as number | { x: number; y: number } | null | undefined;
    const value = typeof raw === 'number' ? raw : (raw?.y ?? null);
    const shown = value === null ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: 4 });
    return `<div class="figure"><span class="value">${escapeHtml(shown)}</span><span class="label">${escapeHtml(String(dataset.label ?? ''))}${where ? ` · ${escapeHtml(where)}` : ''}</span></div>`;
  });
  return `<div class="figures">${tiles.join('')}</div>`;
}

function renderIncidents(
  view: IncidentsView,
  charts: Array<{ id: string; config: PageChart }>,
  range: TimeRange,
): string {
  const id = 'chart-incidents';
  const records = view.records;
  let content: string;
  if (view.error) content = `<p class="empty">${escapeHtml(view.error)}</p>`;
  else if (records.length === 0) content = '<p class="empty">No incidents: no user broke a rule.</p>';
  else {
    charts.push({ id, config: incidentTimelineConfig(records, range) });
    content = `<div class="chart" style="height:${timelineHeightPx(records.length)}px"><canvas id="${id}" role="img" aria-label="Bot incidents on a timeline"></canvas></div>
${renderIncidentTable(records, escapeHtml)}`;
  }
  return `<div id="incidents">
<h3>Bot incidents: ${records.length.toLocaleString('en-US')}, from the first window that broke a rule to the last (colour: severity)</h3>
${content}
</div>`;
}

// Runs in the page. Animation is off so each chart paints synchronously and the marker is final. The
// `clickstream` hooks of a config become the callbacks JSON cannot carry: UTC tick labels, tooltips.
const DRAW_CHARTS = `(function () {
  var charts = JSON.parse(document.getElementById('report-charts').textContent);
  var rendered = 0, sizes = [], errors = [];
  function utc(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
  }
  charts.forEach(function (entry) {
    try {
      var hooks = entry.config.clickstream || {};
      delete entry.config.clickstream;
      var options = entry.config.options || (entry.config.options = {});
      if (hooks.timeAxis) {
        var scale = options.scales[hooks.timeAxis];
        scale.ticks = scale.ticks || {};
        scale.ticks.maxTicksLimit = 10;
        scale.ticks.callback = function (value) { return utc(value); };
      }
      if (hooks.yAxisWidth) {
        var y = (options.scales = options.scales || {}).y || (options.scales.y = {});
        y.afterFit = function (axis) { axis.width = hooks.yAxisWidth; };
      }
      var tooltip = (options.plugins = options.plugins || {}).tooltip = {};
      tooltip.callbacks = {};
      if (hooks.tooltips) tooltip.callbacks.label = function (item) { return hooks.tooltips[item.dataIndex]; };
      else if (hooks.timeAxis) tooltip.callbacks.title = function (items) { return items.length ? utc(items[0].parsed.x) + ' UTC' : ''; };
      var canvas = document.getElementById(entry.id);
      var chart = new Chart(canvas, entry.config);
      var w = canvas.width, h = canvas.height, painted = 0;
      if (w > 0 && h > 0) {
        var pixels = canvas.getContext('2d').getImageData(0, 0, w, h).data;
        for (var i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
      }
      sizes.push(entry.id + ':' + Math.round(chart.width) + 'x' + Math.round(chart.height) + ':' + painted);
      if (w > 0 && h > 0 && painted > 0) rendered++;
    } catch (e) {
      errors.push(entry.id + ': ' + (e && e.message ? e.message : String(e)));
    }
  });
  document.body.dataset.chartsExpected = String(charts.length);
  document.body.dataset.chartSizes = sizes.join(' ');
  if (errors.length) document.body.dataset.chartErrors = errors.join('; ');
  document.body.dataset.chartsRendered = String(rendered);
})();`;

/** Chart.js configuration for one result, pivoting long results (x, series, y) into one dataset per series. */
export function chartConfig(
  result: Pick<QueryResult, 'columns' | 'rows'>,
  spec: ChartSpec,
  range?: TimeRange,
): PageChart | undefined {
  const { columns } = result;
  const has = (name: string | undefined) => name !== undefined && columns.some((c) => c.name === name);
  const wantedX = (typeof spec.x === 'string' ? [spec.x] : (spec.x ?? [])).filter((name) => has(name));
  const x = wantedX[0] ?? columns[0]?.name;
  if (x === undefined) return undefined;
  const labelColumns = wantedX.length > 0 ? wantedX : [x];
  const rest = columns.filter((c) => !labelColumns.includes(c.name));
  const series = has(spec.series)
    ? spec.series
    : spec.series === undefined
      ? rest.find((c) => !NUMERIC.has(c.type))?.name
      : undefined;
  // "rank"/"rn" columns are positions, not measures: never chart them by default.
  const measures = rest.filter(
    (c) => NUMERIC.has(c.type) && c.name !== series && !/^(rank|rnk|rn|row_number)$|_rank$/i.test(c.name),
  );
  const wanted = spec.y?.filter((name) => has(name));
  const y = wanted?.length
    ? wanted
    : series
      ? measures.slice(0, 1).map((c) => c.name)
      : measures.slice(0, 4).map((c) => c.name);
  if (y.length === 0) return undefined;

  const rows = spec.maxPoints === undefined || series ? result.rows : result.rows.slice(0, spec.maxPoints);
  // Only a column of instants goes on a time axis; anything else keeps one slot per row.
  const xType = columns.find((c) => c.name === x)?.type;
  if (spec.time && !series && (xType === 'timestamp' || xType === 'date'))
    return timeChartConfig(rows, x, y, spec, range);
  const label = (row: QueryRow) => labelColumns.map((name) => String(row[name] ?? 'NULL')).join(' · ');
  let labels: string[];
  let datasets: Array<{ label: string; data: Array<number | null> }>;
  if (series && y[0] !== undefined) {
    const measure = y[0];
    labels = unique(rows.map(label));
    if (xType && NUMERIC.has(xType)) labels.sort((a, b) => Number(a) - Number(b));
    const totals = new Map<string, number>();
    for (const row of rows) {
      const key = String(row[series] ?? 'NULL');
      totals.set(key, (totals.get(key) ?? 0) + toNumber(row[measure]));
    }
    // Beyond a handful of series a chart is unreadable: keep the biggest ones overall.
    const kept = [...totals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_SERIES)
      .map(([key]) => key);
    datasets = kept.map((key) => {
      const byLabel = new Map(
        rows.filter((r) => String(r[series] ?? 'NULL') === key).map((r) => [label(r), toNumber(r[measure])]),
      );
      return { label: key, data: labels.map((l) => byLabel.get(l) ?? null) };
    });
  } else {
    labels = rows.map(label);
    datasets = y.map((name) => ({
      label: name,
      data: rows.map((r) => (r[name] === null || r[name] === undefined ? null : toNumber(r[name]))),
    }));
  }

  const stacked = !!series && spec.type === 'bar';
  return {
    type: spec.type,
    data: {
      labels,
      datasets: datasets.map((d, i) => {
        const colour = PALETTE[i % PALETTE.length] as string;
        return {
          ...d,
          backgroundColor: colour,
          borderColor: colour,
          ...(spec.type === 'line' ? { fill: false, tension: 0.2, pointRadius: 2 } : {}),
        };
      }),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      ...(spec.horizontal ? { indexAxis: 'y' as const } : {}),
      scales: { x: { stacked }, y: { stacked, ...(spec.horizontal ? {} : { beginAtZero: true }) } },
      plugins: { legend: { display: datasets.length > 1 } },
    },
  } as ChartConfiguration;
}

/** Rows against a time axis: points at their instant, so gaps in time show as gaps. */
function timeChartConfig(
  rows: readonly QueryRow[],
  x: string,
  y: readonly string[],
  spec: ChartSpec,
  range: TimeRange | undefined,
): PageChart {
  const points = rows.map((row) => ({ row, at: timeMs(row[x]) })).filter((p) => Number.isFinite(p.at));
  return {
    type: spec.type,
    data: {
      datasets: y.map((name, i) => {
        const colour = PALETTE[i % PALETTE.length] as string;
        return {
          label: name,
          data: points.map((p) => ({ x: p.at, y: toNumber(p.row[name]) })),
          backgroundColor: colour,
          borderColor: colour,
          // A week of hours is too many points to mark; the line is the data.
          ...(spec.type === 'line'
            ? { fill: false, tension: 0.2, pointRadius: points.length > 60 ? 0 : 2 }
            : {}),
        };
      }),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        x: { type: 'linear', ...(range ? { min: range.min, max: range.max } : {}) },
        y: { beginAtZero: true },
      },
      plugins: { legend: { display: y.length > 1 } },
    },
    clickstream: { timeAxis: 'x', yAxisWidth: SHARED_Y_AXIS_PX },
  } as PageChart;
}

function renderHtmlTable(result: QueryResult, maxRows: number): string {
  const shown = result.rows.slice(0, maxRows);
  const head = result.columns.map((c) => `<th>${escapeHtml(c.name)}</th>`).join('');
  const body = shown
    .map((row) => {
      const cells = result.columns.map((c) => {
        const value = row[c.name];
        if (value === null || value === undefined) return '<td class="null">NULL</td>';
        return `<td${NUMERIC.has(c.type) ? ' class="num"' : ''}>${escapeHtml(String(value))}</td>`;
      });
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('\n');
  const more =
    result.rows.length > shown.length
      ? `<p class="meta">first ${shown.length} of ${result.rows.length.toLocaleString('en-US')} rows</p>`
      : '';
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>${more}`;
}

function toNumber(value: QueryRow[string] | undefined): number {
  return typeof value === 'number' ? value : Number(value ?? 0) || 0;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** JSON inside <script>: "<" escaped so data such as a brand named "</script>" cannot end the element. */
function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function inlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1');
}

let chartJsCache: string | undefined;
/** chart.js 4 ships its browser bundle as dist/chart.umd.js; the package's exports map hides it, so go via the main entry. */
export function chartJsSource(): string {
  if (chartJsCache === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartJsCache = readFileSync(join(dirname(main), 'chart.umd.js'), 'utf8');
  }
  return chartJsCache;
}

// ---------------------------------------------------------------------------------------------------
// The command

export interface ReportOptions extends EngineOptions {
  out?: string;
  rows?: string;
}

export interface ReportSummary {
  out: string;
  engine: EngineKind;
  queries: Array<{ name: string; rowCount: number; bytesScanned: number; durationMs: number }>;
  charts: number;
  /** Bot incidents read from the alert-dedupe table and drawn on the timeline. */
  incidents: number;
  bytesScanned: number;
  /** Athena only: list-price estimate for all the report's queries together. */
  costUsd?: number;
  sizeBytes: number;
}

export async function report(options: ReportOptions, ctx: RunContext): Promise<ReportSummary> {
  const out = resolve(options.out ?? 'report.html');
  const tableRows = integerFlag(options.rows ?? 20, '--rows', 0);

  const target = await ctx.target();
  const { kind, engine } = await openEngine(options, target);
  const sections: ReportSection[] = [];
  try {
    const progress = ctx.progress('queries', { total: REPORT_QUERIES.length });
    for (const [i, entry] of REPORT_QUERIES.entries()) {
      ctx.debug(`report: running ${entry.name}`);
      const result = await runCatalogQuery(engine, entry.name, {}, ctx.signal);
      sections.push({ name: entry.name, title: entry.title, chart: entry.chart, result });
      progress.update(i + 1);
    }
    progress.stop();
  } finally {
    await engine.close();
  }

  const incidents = await readIncidents(target, ctx);
  const { html, charts } = renderReport(sections, { tableRows, incidents });
  writeFileSync(out, html);
  const bytesScanned = sections.reduce((sum, s) => sum + (s.result.bytesScanned ?? 0), 0);
  const summary: ReportSummary = {
    out,
    engine: kind,
    queries: sections.map((s) => ({
      name: s.name,
      rowCount: s.result.rows.length,
      bytesScanned: s.result.bytesScanned ?? 0,
      durationMs: s.result.durationMs,
    })),
    charts,
    incidents: incidents.records.length,
    bytesScanned,
    // Athena bills each query separately, each with its own 10 MB minimum.
    ...(kind === 'athena'
      ? { costUsd: sections.reduce((sum, s) => sum + athenaCostUsd(s.result.bytesScanned ?? 0), 0) }
      : {}),
    sizeBytes: Buffer.byteLength(html),
  };
  ctx.info(
    `${formatBytes(bytesScanned)} scanned${summary.costUsd !== undefined ? ` · ≈ $${summary.costUsd.toPrecision(2)} (Athena: USD 5/TB, 10 MB minimum per query)` : ''}`,
  );
  return summary;
}

/**
 * The incidents the alerter recorded in the alert-dedupe table. A report without them is still worth
 * having, so a failure to read them (no table, no access) is a line in the page and a warning.
 */
async function readIncidents(target: AwsTarget, ctx: RunContext): Promise<IncidentsView> {
  const dynamo = createDynamoClient(clientOptions(target, 'dynamodb'));
  try {
    return { records: incidentsFromItems(await scanAll(dynamo, target.names.alertDedupeTable)) };
  } catch (error) {
    const reason = `incidents not shown: reading ${target.names.alertDedupeTable} failed (${(error as Error).message})`;
    ctx.warn(reason);
    return { records: [], error: reason };
  } finally {
    dynamo.destroy();
  }
}
