import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueryColumn, QueryResult, QueryRow } from '../../analytics/engine.ts';
import {
  chartConfig,
  chartJsSource,
  REPORT_QUERIES,
  type ReportSection,
  renderReport,
  renderReportHtml,
  report,
  timeMs,
} from '../../analytics/report.ts';
import { coloursFor } from '../../cli/colours.ts';
import type { AwsTarget, CommandContext } from '../../cli/command.ts';
import type { IncidentRecord } from '../../consumers/bot-alerter/incident-store.ts';
import { sumWindows } from '../../core/horizon.ts';
import { applyMatches, closeIncident, DEFAULT_INCIDENT_SETTINGS } from '../../core/incident.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { DEFAULT_ALERT_RULES } from '../../core/rules.ts';

const run = promisify(execFile);

function result(columns: Array<[string, QueryColumn['type']]>, rows: QueryRow[]): QueryResult {
  return {
    engine: 'local',
    durationMs: 12,
    bytesScanned: 4096,
    columns: columns.map(([name, type]) => ({ name, type })),
    rows,
  };
}

const CATEGORIES = ['electronics.smartphone', 'appliances.kitchen', 'computers.notebook'];
const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** One fixed result per dashboard query, with the columns sql/queries returns, plus an empty one. */
const FIXTURES: Record<string, QueryResult> = {
  traffic_per_hour: result(
    [
      ['hour', 'timestamp'],
      ['events', 'bigint'],
      ['users', 'bigint'],
    ],
    Array.from({ length: 48 }, (_, h) => ({
      hour: `2019-10-0${1 + Math.floor(h / 24)} ${String(h % 24).padStart(2, '0')}:00:00.000`,
      events: 100 + ((h * 37) % 90) + (h === 26 ? 900 : 0),
      users: 20 + (h % 7),
    })),
  ),
  unique_visitors_per_day: result(
    [
      ['event_date', 'date'],
      ['unique_visitors', 'bigint'],
      ['sessions', 'bigint'],
      ['events', 'bigint'],
    ],
    ['2019-10-01', '2019-10-02', '2019-10-03'].map((d, i) => ({
      event_date: d,
      unique_visitors: 1200 + i * 100,
      sessions: 1500 + i * 90,
      events: 9000 + i,
    })),
  ),
  top_categories_by_hour: result(
    [
      ['hour_of_day', 'integer'],
      ['category_rank', 'bigint'],
      ['category_code', 'varchar'],
      ['events', 'bigint'],
      ['purchases', 'bigint'],
    ],
    Array.from({ length: 24 }, (_, hour) =>
      CATEGORIES.map((c, i) => ({
        hour_of_day: hour,
        category_rank: i + 1,
        category_code: c,
        events: (hour + 1) * (3 - i),
        purchases: i,
      })),
    ).flat(),
  ),
  top_categories_by_weekday: result(
    [
      ['weekday', 'bigint'],
      ['weekday_name', 'varchar'],
      ['category_rank', 'bigint'],
      ['category_code', 'varchar'],
      ['events', 'bigint'],
      ['purchases', 'bigint'],
    ],
    WEEKDAYS.flatMap((name, d) =>
      CATEGORIES.map((c, i) => ({
        weekday: d + 1,
        weekday_name: name,
        category_rank: i + 1,
        category_code: c,
        events: 100 + d * 10 - i,
        purchases: 3,
      })),
    ),
  ),
  brands_needing_marketing: result(
    [
      ['brand', 'varchar'],
      ['views', 'bigint'],
      ['carts', 'bigint'],
      ['purchases', 'bigint'],
      ['conversion', 'double'],
      ['shop_conversion', 'double'],
    ],
    [
      { brand: 'samsung', views: 900, carts: 20, purchases: 2, conversion: 0.00222, shop_conversion: 0.015 },
      // Data is never markup: a hostile brand name must not end the script or inject an image.
      {
        brand: '</script><img src=x onerror=alert(1)>',
        views: 150,
        carts: 0,
        purchases: 0,
        conversion: 0,
        shop_conversion: 0.015,
      },
    ],
  ),
  bot_suspects: result(
    [
      ['user_id', 'bigint'],
      ['window_start', 'timestamp'],
      ['horizon_minutes', 'integer'],
      ['windows', 'bigint'],
      ['events', 'bigint'],
      ['views', 'bigint'],
      ['carts', 'bigint'],
      ['purchases', 'bigint'],
      ['sessions', 'bigint'],
      ['products', 'bigint'],
    ],
    [
      {
        user_id: '9007199254740993',
        window_start: '2019-10-01 00:01:00',
        horizon_minutes: 1,
        windows: 1,
        events: 400,
        views: 400,
        carts: 0,
        purchases: 0,
        sessions: 1,
        products: 380,
      },
      {
        user_id: '9007199254740993',
        window_start: '2019-10-01 00:02:00',
        horizon_minutes: 1,
        windows: 1,
        events: 390,
        views: 390,
        carts: 0,
        purchases: 0,
        sessions: 1,
        products: 370,
      },
      {
        user_id: 512475445,
        window_start: '2019-10-01 00:05:00',
        horizon_minutes: 10,
        windows: 3,
        events: 90,
        views: 20,
        carts: 30,
        purchases: 40,
        sessions: 8,
        products: 12,
      },
    ],
  ),
};

const SECTIONS: ReportSection[] = [
  ...REPORT_QUERIES.map((q): ReportSection => {
    const fixture = FIXTURES[q.name];
    if (!fixture) throw new Error(`no fixture for ${q.name}`);
    return { name: q.name, title: q.title, chart: q.chart, result: fixture };
  }),
  { name: 'empty_query', title: 'Nothing yet', result: result([['x', 'varchar']], []) },
];
const CHARTED = SECTIONS.filter((s) => s.result.rows.length > 0).length;

/** Two incidents as the alerter records them: one closed (2 emails), one still open (1). */
function incidentAt(user: string, hour: number, ruleId: string, windows: number): IncidentRecord['incident'] {
  const rule = DEFAULT_ALERT_RULES.find((r) => r.id === ruleId)!;
  const matches = Array.from({ length: windows }, (_, i) => {
    const start = new Date(Date.UTC(2019, 9, 1, hour, i)).toISOString().replace('.000Z', 'Z');
    const total = sumWindows(
      [
        {
          total: {
            user_id: user,
            window_start: start,
            window_seconds: 60,
            view_count: 0,
            cart_count: 0,
            remove_from_cart_count: 0,
            purchase_count: 0,
            total_count: 0,
            distinct_sessions: 0,
            distinct_products: 0,
            revenue: 0,
            first_event_time: start,
            last_event_time: start,
            contributions: 1,
          },
          sessions: new Set<string>(),
          products: new Set<string>(),
        },
      ],
      0,
      0,
      rule.horizonMinutes,
    );
    return { rule, value: rule.threshold + 10 + i, total };
  });
  return applyMatches(undefined, matches, DEFAULT_INCIDENT_SETTINGS).incident!;
}
const INCIDENTS: IncidentRecord[] = [
  {
    incident: closeIncident(incidentAt('512475445', 2, 'purchase-burst', 3), 'quiet', '2019-10-01T03:00:00Z'),
    emails: 2,
  },
  { incident: incidentAt('900000001', 26, 'views-without-cart-hour', 40), emails: 1 },
];

describe('renderReportHtml', () => {
  const html = renderReportHtml(SECTIONS, {
    generatedAt: new Date('2019-11-01T00:00:00Z'),
    tableRows: 5,
    incidents: { records: INCIDENTS },
  });

  it('is one self-contained page: chart.js inlined, a CSP that forbids every network load, no URL to fetch', () => {
    expect(html).toContain('Chart.js v4');
    expect(html).toMatch(
      /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">/,
    );
    // Nothing loads from elsewhere: no src/href/url()/@import pointing at http(s) or protocol-relative URLs.
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    expect(html).not.toMatch(/<(link|iframe|object|embed|img)\b/i);
    // Outside chart.js's licence banner, no URL text at all.
    expect(html.replace(chartJsSource(), '')).not.toMatch(/https?:\/\//);
  });

  it('has one canvas per section with rows, one for the incident timeline, and says "No rows." for an empty one', () => {
    expect(html.match(/<canvas /g)).toHaveLength(CHARTED + 1);
    expect(html).toContain('No rows.');
    for (const q of REPORT_QUERIES) expect(html).toContain(`<section id="${q.name}">`);
  });

  it('shows the first rows in tables, escaped, and says how many were left out', () => {
    expect(html).toContain('<td class="num">1200</td>');
    expect(html).toContain('<td>2019-10-01 00:02:00</td>');
    expect(html).toContain('first 5 of 72 rows');
    expect(html).toContain('9007199254740993');
    expect(html).not.toContain('</script><img');
    expect(html).toContain('&#60;/script&#62;&#60;img');
    // The only </script> tags close the three script elements.
    expect(html.match(/<\/script>/g)).toHaveLength(3);
  });
});

describe('the report fits each chart to its data', () => {
  it('shows a single point as its figures, not as a chart', () => {
    const oneDay = result(
      [
        ['event_date', 'date'],
        ['unique_visitors', 'bigint'],
        ['sessions', 'bigint'],
      ],
      [{ event_date: '2019-10-01', unique_visitors: 1234, sessions: 1500 }],
    );
    const { html, charts } = renderReport([
      { name: 'unique_visitors_per_day', title: 'Visitors', chart: REPORT_QUERIES[1]!.chart, result: oneDay },
    ]);
    expect(charts).toBe(0);
    expect(html).not.toContain('<canvas ');
    expect(html).toContain(
      '<span class="value">1,234</span><span class="label">unique_visitors · 2019-10-01</span>',
    );
    expect(html).toContain('<span class="value">1,500</span>');
  });

  it('draws hours on a time axis that also spans the incidents, and the timeline right under it', () => {
    const traffic = REPORT_QUERIES.find((q) => q.name === 'traffic_per_hour')!;
    const config = chartConfig(FIXTURES.traffic_per_hour!, traffic.chart, { min: 0, max: 1 });
    expect(config?.data.labels).toBeUndefined();
    expect(config?.data.datasets[0]?.data[2]).toEqual({ x: Date.UTC(2019, 9, 1, 2), y: 174 });
    expect(config?.clickstream).toEqual({ timeAxis: 'x', yAxisWidth: 110 });
    expect(timeMs('2019-10-01 02:00:00.000')).toBe(Date.UTC(2019, 9, 1, 2));
    expect(timeMs('2019-10-01T02:00:00Z')).toBe(Date.UTC(2019, 9, 1, 2));

    const html = renderReportHtml(SECTIONS, { incidents: { records: INCIDENTS } });
    const canvas = html.indexOf('<canvas id="chart-0"');
    const timeline = html.indexOf('<canvas id="chart-incidents"');
    const trafficTable = html.indexOf('<th>hour</th>');
    expect(canvas).toBeGreaterThan(-1);
    expect(timeline).toBeGreaterThan(canvas);
    expect(trafficTable).toBeGreaterThan(timeline);
    const charts = JSON.parse(/id="report-charts">(.*?)<\/script>/s.exec(html)![1]!) as Array<{
      id: string;
      config: {
        data: { labels: string[]; datasets: Array<{ label: string; data: unknown[] }> };
        options: { scales: { x: { min: number; max: number } } };
      };
    }>;
    const bars = charts.find((c) => c.id === 'chart-incidents')!.config;
    expect(bars.data.labels).toEqual(['user 512475445', 'user 900000001']);
    // One dataset per severity present, each bar [first window, last window end] in epoch ms.
    expect(bars.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ['medium', [null, [Date.UTC(2019, 9, 2, 2, 0), Date.UTC(2019, 9, 2, 2, 40)]]],
      ['high', [[Date.UTC(2019, 9, 1, 2, 0), Date.UTC(2019, 9, 1, 2, 3)], null]],
    ]);
    const traffic0 = charts.find((c) => c.id === 'chart-0')!.config.options.scales.x;
    expect(traffic0).toEqual(bars.options.scales.x);
    expect(traffic0).toEqual({ type: 'linear', min: Date.UTC(2019, 9, 1, 0), max: Date.UTC(2019, 9, 2, 23) });
  });

  it('lists each incident with its span, windows, rules and peaks, emails and status', () => {
    const html = renderReportHtml(SECTIONS, { incidents: { records: INCIDENTS } });
    expect(html).toContain('Bot incidents: 2,');
    expect(html).toContain('<td>512475445-20191001T0200Z</td><td>512475445</td>');
    expect(html).toContain('purchase-burst (high): 15 over 1 min, threshold 3');
    expect(html).toMatch(
      /<td class="num">3<\/td><td>purchase-burst[^<]*<\/td><td class="num">2<\/td><td>closed<\/td>/,
    );
    expect(html).toMatch(
      /<td class="num">40<\/td><td>views-without-cart-hour[^<]*<\/td><td class="num">1<\/td><td>open<\/td>/,
    );
  });

  it('says why when the incidents could not be read, and still renders the rest', () => {
    const html = renderReportHtml(SECTIONS, {
      incidents: { records: [], error: 'incidents not shown: no table' },
    });
    expect(html).toContain('<p class="empty">incidents not shown: no table</p>');
    expect(html.match(/<canvas /g)).toHaveLength(CHARTED);
  });
});

describe('chartConfig', () => {
  it('charts each dashboard query the way its columns mean', () => {
    const config = (name: string) => {
      const q = REPORT_QUERIES.find((entry) => entry.name === name);
      const fixture = FIXTURES[name];
      if (!q || !fixture) throw new Error(name);
      return chartConfig(fixture, q.chart);
    };
    const visitors = config('unique_visitors_per_day');
    expect(visitors?.type).toBe('line');
    expect(visitors?.data.datasets.map((d) => d.label)).toEqual(['unique_visitors', 'sessions']);
    const hourly = config('top_categories_by_hour');
    expect(hourly?.data.labels).toHaveLength(24);
    expect(hourly?.data.datasets.map((d) => d.label)).toEqual(CATEGORIES);
    expect(config('top_categories_by_weekday')?.data.labels).toEqual(WEEKDAYS);
    // A user over the threshold in two windows gets two bars, told apart by the window.
    expect(config('bot_suspects')?.data.labels).toEqual([
      '9007199254740993 · 2019-10-01 00:01:00 · 1',
      '9007199254740993 · 2019-10-01 00:02:00 · 1',
      '512475445 · 2019-10-01 00:05:00 · 10',
    ]);
    expect(config('brands_needing_marketing')?.data.datasets.map((d) => d.label)).toEqual([
      'conversion',
      'shop_conversion',
    ]);
  });

  it('pivots (x, series, measure) rows into one dataset per series, numeric x sorted, ranks not charted', () => {
    const rows = [
      { hour: 2, category_code: 'a', events: 5, rnk: 1 },
      { hour: 1, category_code: 'b', events: 7, rnk: 1 },
      { hour: 1, category_code: 'a', events: 1, rnk: 2 },
    ];
    const config = chartConfig(
      result(
        [
          ['hour', 'integer'],
          ['category_code', 'varchar'],
          ['events', 'bigint'],
          ['rnk', 'bigint'],
        ],
        rows,
      ),
      { type: 'bar' },
    );
    expect(config?.data.labels).toEqual(['1', '2']);
    // Series ordered by their total (b: 7, a: 6); a missing (hour, series) pair is a gap, not a zero.
    expect(config?.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ['b', [7, null]],
      ['a', [1, 5]],
    ]);
  });

  it('charts the numeric columns against the first one, up to maxPoints rows', () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({ brand: `b${i}`, views: i, conversion: i / 100 }));
    const config = chartConfig(
      result(
        [
          ['brand', 'varchar'],
          ['views', 'bigint'],
          ['conversion', 'double'],
        ],
        rows,
      ),
      { type: 'bar', y: ['conversion'], maxPoints: 25 },
    );
    expect(config?.data.labels).toHaveLength(25);
    expect(config?.data.datasets.map((d) => d.label)).toEqual(['conversion']);
    expect(config?.data.datasets[0]?.data[3]).toBe(0.03);
  });

  it('keeps at most 8 series, the biggest ones', () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ day: 'Mon', category_code: `c${i}`, events: i }));
    const config = chartConfig(
      result(
        [
          ['day', 'varchar'],
          ['category_code', 'varchar'],
          ['events', 'bigint'],
        ],
        rows,
      ),
      { type: 'line' },
    );
    expect(config?.data.datasets.map((d) => d.label)).toEqual([
      'c11',
      'c10',
      'c9',
      'c8',
      'c7',
      'c6',
      'c5',
      'c4',
    ]);
  });
});

// A real browser proves the charts draw under the page's CSP with nothing but the inlined chart.js. On a
// CI runner it always runs: scripts/ensure-chromium.sh installs Debian's chromium there when it is missing.
const CHROMIUM = '/usr/bin/chromium';
const browserSkipReason =
  process.env.CLICKSTREAM_BROWSER_TESTS === '1' || process.env.CI === 'true' || existsSync(CHROMIUM)
    ? undefined
    : `no ${CHROMIUM}, not on CI, and CLICKSTREAM_BROWSER_TESTS is not 1 (set it to install Chromium via scripts/ensure-chromium.sh)`;
/** apt-get update and install of chromium: a minute or two on a CI runner, more on a busy one. */
const CHROMIUM_INSTALL_MS = 600_000;

describe('the report in headless Chromium', () => {
  // Made in a hook, not while collecting: a skipped describe runs no hooks, and would leave it behind.
  let dir = '';
  let browser = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clickstream-report-'));
    if (browserSkipReason !== undefined) return;
    const installed = await run('sh', [join(import.meta.dirname, '../../scripts/ensure-chromium.sh')], {
      encoding: 'utf8',
      timeout: CHROMIUM_INSTALL_MS,
    });
    browser = installed.stdout.trim();
  }, CHROMIUM_INSTALL_MS + 10_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(browserSkipReason !== undefined)(
    `renders every chart${browserSkipReason ? ` (skipped: ${browserSkipReason})` : ''}`,
    async () => {
      const page = join(dir, 'report.html');
      writeFileSync(page, renderReportHtml(SECTIONS, { incidents: { records: INCIDENTS } }));
      const { stdout } = await run(
        browser,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${join(dir, 'profile')}`,
          '--virtual-time-budget=5000',
          '--dump-dom',
          `file://${page}`,
        ],
        { timeout: 45_000, maxBuffer: 64 * 1024 * 1024 },
      );
      const body = /<body([^>]*)>/.exec(stdout)?.[1] ?? '';
      const attr = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(body)?.[1];
      expect(attr('data-chart-errors')).toBeUndefined();
      expect(attr('data-charts-expected')).toBe(String(CHARTED + 1));
      expect(attr('data-charts-rendered')).toBe(String(CHARTED + 1));
      // "chart-0:733x360:8856": every canvas has a size and painted pixels.
      const sizes = (attr('data-chart-sizes') ?? '').split(' ').filter(Boolean);
      expect(sizes).toHaveLength(CHARTED + 1);
      for (const size of sizes) {
        const [, w, h, painted] = /^chart-(?:\d+|incidents):(\d+)x(\d+):(\d+)$/.exec(size) ?? [];
        expect(Number(w)).toBeGreaterThan(0);
        expect(Number(h)).toBeGreaterThan(0);
        expect(Number(painted)).toBeGreaterThan(0);
      }
    },
  );
});

describe('clickstream report', () => {
  const athenaMock = mockClient(AthenaClient);
  const dynamoMock = mockClient(DynamoDBDocumentClient);
  const dir = mkdtempSync(join(tmpdir(), 'clickstream-report-cmd-'));
  afterAll(() => {
    athenaMock.restore();
    dynamoMock.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every dashboard query on Athena and writes one page with a chart each, costed per query', async () => {
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q1' });
    athenaMock.on(GetQueryExecutionCommand).resolves({
      QueryExecution: {
        StatementType: 'DML',
        Status: { State: 'SUCCEEDED' },
        Statistics: { DataScannedInBytes: 1024 },
      },
    });
    athenaMock.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: {
          ColumnInfo: [
            { Name: 'label', Type: 'varchar' },
            { Name: 'n', Type: 'bigint' },
          ],
        },
        Rows: [
          { Data: [{ VarCharValue: 'label' }, { VarCharValue: 'n' }] },
          { Data: [{ VarCharValue: 'a' }, { VarCharValue: '7' }] },
          { Data: [{ VarCharValue: 'b' }, { VarCharValue: '9' }] },
        ],
      },
    });
    // The alert-dedupe table as the alerter leaves it: a user's current incident, an archived one
    // (the same incident, closed: shown once), two sent emails and one claim still being sent.
    const [closed, open] = INCIDENTS.map((r) => r.incident);
    // verify's scan reads 4 segments in parallel: the items are all in the first.
    dynamoMock.on(ScanCommand).resolves({ Items: [] });
    dynamoMock.on(ScanCommand, { Segment: 0 }).resolves({
      Items: [
        {
          alert_id: `incident#${open!.userId}`,
          kind: 'incident',
          status: 'open',
          incident: JSON.stringify(open),
        },
        {
          alert_id: `incident#${closed!.userId}`,
          kind: 'incident',
          status: 'open',
          incident: JSON.stringify({ ...closed, status: 'open' }),
        },
        {
          alert_id: `incident-archive#${closed!.id}`,
          kind: 'incident-archive',
          status: 'closed',
          incident: JSON.stringify(closed),
        },
        { alert_id: `${closed!.id}#open`, status: 'sent', incident_id: closed!.id },
        { alert_id: `${closed!.id}#close`, status: 'sent', incident_id: closed!.id },
        { alert_id: `${open!.id}#open`, status: 'sending', incident_id: open!.id },
      ],
    });
    const out = join(dir, 'out.html');
    const target: AwsTarget = { mode: 'aws', region: 'us-east-1', names: DEFAULT_RESOURCE_NAMES };
    const context: CommandContext = {
      json: true,
      interactive: false,
      colours: coloursFor({ isTTY: false }),
      signal: new AbortController().signal,
      info: () => undefined,
      warn: () => undefined,
      debug: () => undefined,
      progress: () => ({ update: () => undefined, setTotal: () => undefined, stop: () => undefined }),
      target: async () => target,
    };

    const summary = await report({ out }, context);

    expect(summary.engine).toBe('athena');
    expect(summary.queries.map((q) => q.name)).toEqual(REPORT_QUERIES.map((q) => q.name));
    // Every query's two rows, and the incident timeline.
    expect(summary.charts).toBe(REPORT_QUERIES.length + 1);
    expect(summary.incidents).toBe(2);
    // Each query is billed on its own, 10 MB minimum each.
    expect(summary.costUsd).toBeCloseTo(REPORT_QUERIES.length * ((10 * 1024 ** 2) / 1024 ** 4) * 5, 12);
    const html = readFileSync(out, 'utf8');
    expect(html.match(/<canvas /g)).toHaveLength(REPORT_QUERIES.length + 1);
    expect(html).toMatch(/<td class="num">2<\/td><td>closed<\/td>/);
    expect(html).toMatch(/<td class="num">0<\/td><td>open<\/td>/);
    expect(summary.sizeBytes).toBe(Buffer.byteLength(html));
    expect(
      athenaMock
        .commandCalls(StartQueryExecutionCommand)
        .every((c) => c.args[0].input.WorkGroup === 'clickstream'),
    ).toBe(true);
  });
});
