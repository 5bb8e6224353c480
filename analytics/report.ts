/**
 * `clickstream report`: runs the dashboard's named queries and writes ONE self-contained HTML page with
 * their charts and first rows. chart.js is inlined and a Content-Security-Policy forbids every network
 * load, so the page opens offline, from an email attachment or an S3 console download alike.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { ChartConfiguration } from 'chart.js';
import { ClickstreamError, type CommandContext, type CommandSpec } from '../cli/command.ts';
import { athenaCostUsd } from './athena-engine.ts';
import type { QueryColumn, QueryResult, QueryRow } from './engine.ts';
import { formatBytes } from './format.ts';
import { ENGINE_KINDS, type EngineKind, type EngineOptions, openEngine, runCatalogQuery } from './query.ts';

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
}

export interface ReportQuery {
  name: string;
  title: string;
  chart: ChartSpec;
}

/** The dashboard: which named queries, in which order, charted how. */
export const REPORT_QUERIES: readonly ReportQuery[] = [
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
    title: 'Bot suspects: busiest user windows',
    // One user can cross a threshold in several windows: label bars with both.
    chart: {
      type: 'bar',
      x: ['user_id', 'window_start'],
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
 * One HTML page: a chart per section that has rows, then a table of its first rows. When every chart
 * has been drawn, the page sets `data-charts-rendered` on <body> (charts with a non-empty canvas and
 * painted pixels), next to `data-charts-expected`, so a headless browser can check the page really works.
 */
export function renderReportHtml(sections: readonly ReportSection[], options: RenderOptions = {}): string {
  const title = options.title ?? 'Clickstream report';
  const tableRows = options.tableRows ?? 20;
  const charts: Array<{ id: string; config: ChartConfiguration }> = [];
  const body = sections.map((section, index) => {
    const id = `chart-${index}`;
    const config =
      section.result.rows.length > 0
        ? chartConfig(section.result, section.chart ?? { type: 'bar' })
        : undefined;
    if (config) charts.push({ id, config });
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
${config ? `<div class="chart"><canvas id="${id}" role="img" aria-label="${escapeHtml(section.title)}"></canvas></div>` : '<p class="empty">No rows.</p>'}
${renderHtmlTable(section.result, tableRows)}
</section>`;
  });
  const generated = (options.generatedAt ?? new Date()).toISOString();

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 12px; }
.chart { position: relative; height: 360px; }
table { border-collapse: collapse; margin-top: 1rem; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 2px 8px; } th { background: #f4f4f4; text-align: left; }
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
}

// Runs in the page. Animation is off so each chart paints synchronously and the marker is final.
const DRAW_CHARTS = `(function () {
  var charts = JSON.parse(document.getElementById('report-charts').textContent);
  var rendered = 0, sizes = [], errors = [];
  charts.forEach(function (entry) {
    try {
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
): ChartConfiguration | undefined {
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
  const label = (row: QueryRow) => labelColumns.map((name) => String(row[name] ?? 'NULL')).join(' · ');
  let labels: string[];
  let datasets: Array<{ label: string; data: Array<number | null> }>;
  if (series && y[0] !== undefined) {
    const measure = y[0];
    const xType = columns.find((c) => c.name === x)?.type;
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
  bytesScanned: number;
  /** Athena only: list-price estimate for all the report's queries together. */
  costUsd?: number;
  sizeBytes: number;
}

export async function report(options: ReportOptions, ctx: CommandContext): Promise<ReportSummary> {
  const out = resolve(options.out ?? 'report.html');
  const tableRows = options.rows === undefined ? 20 : Number(options.rows);
  if (!Number.isInteger(tableRows) || tableRows < 0)
    throw new ClickstreamError(`--rows must be a whole number, got "${options.rows}"`);

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

  const html = renderReportHtml(sections, { tableRows });
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
    charts: sections.filter((s) => s.result.rows.length > 0).length,
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

export const reportCommand: CommandSpec<ReportOptions, ReportSummary> = {
  name: 'report',
  summary: 'run the dashboard queries and write one self-contained HTML page of charts (opens offline)',
  configure: (command) =>
    command
      .option('--out <file>', 'HTML file to write', 'report.html')
      .option('--engine <engine>', `${ENGINE_KINDS.join(' | ')} (default: local with --local, else athena)`)
      .option('--rows <n>', 'rows shown in each table', '20'),
  run: report,
  render: (summary) =>
    `wrote ${summary.out} (${formatBytes(summary.sizeBytes)}, ${summary.charts} charts, ${summary.queries.length} queries on ${summary.engine})`,
};
