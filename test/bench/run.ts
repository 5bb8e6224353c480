/**
 * `npm run bench`: runs every docs/performance.md benchmark once, prints progress, and writes BENCHMARKS.md and
 * benchmarks.json at the repository root (the ratios, the machine, the date and this command). When a
 * benchmarks.json exists, each ratio is compared with it and a drop of more than 20% prints a
 * REGRESSION line and is listed in BENCHMARKS.md.
 *
 *   npm run bench                         full run, about 10 minutes on 2 cores
 *   npm run bench -- --quick              smoke run, about 2 minutes (smaller inputs)
 *   npm run bench -- --only alert,scan    selected benches (cpu rss kinesis fold handler alert scan generate e2e cli)
 *   npm run bench -- --skip rss
 *   npm run bench -- --only e2e --e2e-events 100000   end to end on a larger generated input
 *   npm run bench -- --with scale         the full run plus the opt-in scale bench: the demo at 1,000,000
 *                                         and 100,000 events (about 30 minutes more on 2 cores)
 *   npm run bench -- --only scale --scale-events 200000   the scale bench alone, at 200,000 and 20,000
 *
 * The end-to-end bench also runs on the real Kaggle sample when it is found (test/support/analytics-fixtures.ts:
 * ../shared/data/ beside the repository, or CLICKSTREAM_KAGGLE_SAMPLE), and says why it skipped it when not.
 *
 * Only a full run of every bench (with or without the opt-in ones) writes the files at the root; quick or partial runs write into
 * bench-results/ (gitignored) unless --out-dir says otherwise, but are still compared with the root
 * benchmarks.json.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  BENCH_IDS,
  type BenchId,
  type BenchResults,
  findRegressions,
  type GeneratorRssFigure,
  type Metric,
  OPT_IN_BENCH_IDS,
  RESULTS_FORMAT,
  renderBenchmarksMarkdown,
  round,
  type ScanSource,
} from './report.ts';

// The SDK's Node 20 deprecation notice would interleave with the progress output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const REPO = resolve(import.meta.dirname, '..', '..');
const RSS_LIMIT_MB = 200;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    skip: { type: 'string' },
    'out-dir': { type: 'string' },
    'e2e-events': { type: 'string' },
    with: { type: 'string' },
    'scale-events': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(
    `usage: npm run bench -- [--quick] [--only ${BENCH_IDS.join(',')}] [--with ${OPT_IN_BENCH_IDS.join(',')}] [--skip LIST] [--out-dir DIR] [--e2e-events N] [--scale-events N]`,
  );
  process.exit(0);
}

function benchList(text: string | undefined): BenchId[] {
  if (text === undefined) return [];
  const ids = text
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  for (const id of ids) {
    if (!(BENCH_IDS as readonly string[]).includes(id)) {
      console.error(`unknown bench "${id}"; benches: ${BENCH_IDS.join(', ')}`);
      process.exit(2);
    }
  }
  return ids as BenchId[];
}

const only = benchList(values.only);
const skip = new Set(benchList(values.skip));
const optedIn = new Set(benchList(values.with));
const selected = BENCH_IDS.filter((id) =>
  only.length > 0
    ? only.includes(id) && !skip.has(id)
    : (!OPT_IN_BENCH_IDS.includes(id) || optedIn.has(id)) && !skip.has(id),
);
const quick = values.quick;
// Every bench a full run makes (the opt-in ones may be added): the run the root files describe.
const complete = !quick && BENCH_IDS.every((id) => OPT_IN_BENCH_IDS.includes(id) || selected.includes(id));
const outDir = values['out-dir'] ? resolve(values['out-dir']) : complete ? REPO : join(REPO, 'bench-results');

const args = process.argv.slice(2);
// The real sample's location changes what runs (test/support/analytics-fixtures.ts): part of the exact command.
const sampleEnv = process.env.CLICKSTREAM_KAGGLE_SAMPLE
  ? `CLICKSTREAM_KAGGLE_SAMPLE=${process.env.CLICKSTREAM_KAGGLE_SAMPLE} `
  : '';
const command =
  sampleEnv +
  (process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
    : `node ${process.execArgv.join(' ')} ${relative(REPO, process.argv[1] ?? 'test/bench/run.ts')} ${args.join(' ')}`.trim());

/** Input sizes: full mode is sized for about 10 minutes on 2 cores, quick for about 2. */
const SIZES = quick
  ? {
      cpu: { megabytes: 20, rounds: 2 },
      rssMb: [10, 50],
      kinesis: { shards: 4, events: 15_000, aggregatedEvents: 75_000, naiveEvents: 300 },
      foldEvents: 500_000,
      handlerBatches: 5,
      alert: {
        tumblingWindowSeconds: 5,
        maxBatchingWindowSeconds: 1,
        repetitions: 3,
        backgroundEventsPerSecond: 50,
      },
      syntheticScanEvents: 0,
      generateEvents: [100_000, 1_000_000],
      e2eEvents: 20_000, // fewer are too few for the generator's bots
      scaleEvents: 200_000,
    }
  : {
      cpu: { megabytes: 100, rounds: 3 },
      rssMb: [10, 200, 2_000],
      kinesis: { shards: 4, events: 60_000, aggregatedEvents: 300_000, naiveEvents: 1_000 },
      foldEvents: 2_000_000,
      handlerBatches: 20,
      alert: {
        tumblingWindowSeconds: 5,
        maxBatchingWindowSeconds: 1,
        repetitions: 5,
        backgroundEventsPerSecond: 50,
      },
      syntheticScanEvents: 20_000,
      generateEvents: [1_000_000, 10_000_000],
      // The demo's default size.
      e2eEvents: 30_000,
      // The size the scale target names; the bench also runs a tenth of it.
      scaleEvents: 1_000_000,
    };
if (values['e2e-events'] !== undefined) {
  const events = Number(values['e2e-events']);
  if (!Number.isInteger(events) || events < 1) {
    console.error(`--e2e-events must be a positive integer, got ${values['e2e-events']}`);
    process.exit(2);
  }
  SIZES.e2eEvents = events;
}
if (values['scale-events'] !== undefined) {
  const events = Number(values['scale-events']);
  if (!Number.isInteger(events) || events < 200_000) {
    console.error(
      `--scale-events must be an integer of at least 200000 (a tenth of it runs too, and the demo needs 20,000 for its bots), got ${values['scale-events']}`,
    );
    process.exit(2);
  }
  SIZES.scaleEvents = events;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const log = (line: string) => console.log(line);

const metrics: Metric[] = [];
const details: BenchResults['details'] = {};
const errors: BenchResults['errors'] = {};
const timings: BenchResults['timings'] = {};

function metric(m: Omit<Metric, 'met' | 'ratio'> & { ratio: number }): void {
  const ratio = Number.isFinite(m.ratio) ? round(m.ratio) : m.ratio;
  const met = m.target === null ? null : ratio >= m.target;
  metrics.push({ ...m, ratio, met });
  const verdict = met === null ? '' : met ? '  met' : '  NOT MET';
  log(`    ${m.name}: ${m.figure} → ratio ${ratio} (${m.ratioOf}; target ${m.targetText})${verdict}`);
}

const runners: Record<BenchId, () => Promise<void>> = {
  async cpu() {
    const { benchCpuPath } = await import('./producer.ts');
    const figures = await benchCpuPath(SIZES.cpu);
    details.cpu = { ...figures, rounds: SIZES.cpu.rounds };
    metric({
      id: 'producer.cpu',
      bench: 'cpu',
      name: 'Producer CPU path (KPL-aggregated, the default) vs bare csv-parse',
      figure: `${fmt(figures.producerRowsPerSecond)} vs ${fmt(figures.bareRowsPerSecond)} rows/s (${figures.megabytes} MB)`,
      ratio: figures.ratio,
      ratioOf: 'producer / bare csv-parse',
      target: 0.85,
      targetText: '≥ 0.85',
    });
    metric({
      id: 'producer.cpu.plain',
      bench: 'cpu',
      name: 'Producer CPU path (--no-aggregate) vs bare csv-parse',
      figure: `${fmt(figures.plainProducerRowsPerSecond)} vs ${fmt(figures.bareRowsPerSecond)} rows/s`,
      ratio: figures.plainProducerRowsPerSecond / figures.bareRowsPerSecond,
      ratioOf: 'producer / bare csv-parse',
      target: null,
      targetText: 'n/a',
    });
    metric({
      id: 'producer.cpu.reader',
      bench: 'cpu',
      name: "Producer's reader alone (csv-parse with its options, rows in chunks) vs bare csv-parse",
      figure: `${fmt(figures.readerRowsPerSecond)} vs ${fmt(figures.bareRowsPerSecond)} rows/s`,
      ratio: figures.readerRowsPerSecond / figures.bareRowsPerSecond,
      ratioOf: 'reader / bare csv-parse',
      target: null,
      targetText: 'n/a',
    });
  },
  async rss() {
    const { benchPeakRss } = await import('./producer.ts');
    const figures = await benchPeakRss({ sizesMb: SIZES.rssMb });
    details.rss = figures;
    const peaks = figures.map((f) => f.peakRssMb);
    const maxPeak = Math.max(...peaks);
    const first = figures[0];
    const last = figures[figures.length - 1];
    metric({
      id: 'producer.rss',
      bench: 'rss',
      name: `Producer peak RSS, ${figures.map((f) => `${f.megabytes} MB`).join(' / ')} input`,
      figure: figures.map((f) => `${f.megabytes} MB → ${f.peakRssMb} MB`).join(', '),
      ratio: RSS_LIMIT_MB / maxPeak,
      ratioOf: `${RSS_LIMIT_MB} MB / largest peak`,
      target: 1,
      targetText: `≥ 1 (every peak < ${RSS_LIMIT_MB} MB)`,
    });
    if (first && last && figures.length > 1) {
      metric({
        id: 'producer.rss.flatness',
        bench: 'rss',
        name: `Producer peak RSS growth, ${first.megabytes} MB → ${last.megabytes} MB input`,
        figure: `${first.peakRssMb} MB → ${last.peakRssMb} MB`,
        ratio: first.peakRssMb / last.peakRssMb,
        ratioOf: 'smallest input peak / largest input peak (1 = flat)',
        target: null,
        targetText: 'flat',
      });
    }
  },
  async kinesis() {
    const { benchKinesalite } = await import('./producer.ts');
    const figures = await benchKinesalite(SIZES.kinesis);
    details.kinesis = { ...figures, ...SIZES.kinesis };
    metric({
      id: 'producer.kinesis.ceiling',
      bench: 'kinesis',
      name: 'Producer (--no-aggregate) vs kinesalite PutRecords ceiling',
      figure: `${fmt(figures.plainProducerRecordsPerSecond)} vs ${fmt(figures.ceilingRecordsPerSecond)} records/s (${figures.shards} shards, one event a record)`,
      ratio: figures.plainShareOfCeiling,
      ratioOf: 'producer / ceiling',
      target: 0.9,
      targetText: '≥ 0.9',
    });
    metric({
      id: 'producer.kinesis.ceiling.aggregated',
      bench: 'kinesis',
      name: 'Producer (KPL-aggregated, the default) vs kinesalite ceiling for aggregates',
      figure: `${fmt(figures.producerEventsPerSecond)} vs ${fmt(figures.aggregatedCeilingEventsPerSecond)} events/s (${figures.shards} shards)`,
      ratio: figures.producerShareOfAggregatedCeiling,
      ratioOf: 'producer / ceiling',
      target: 0.9,
      targetText: '≥ 0.9',
    });
    metric({
      id: 'producer.kinesis.naive',
      bench: 'kinesis',
      name: 'Producer (KPL-aggregated) vs one PutRecord per event',
      figure: `${fmt(figures.producerEventsPerSecond)} vs ${fmt(figures.naiveRecordsPerSecond)} events/s`,
      ratio: figures.producerOverNaive,
      ratioOf: 'producer / naive',
      target: 50,
      targetText: '≥ 50',
    });
    metric({
      id: 'producer.kinesis.naive.plain',
      bench: 'kinesis',
      name: 'Producer (--no-aggregate) vs one PutRecord per event',
      figure: `${fmt(figures.plainProducerRecordsPerSecond)} vs ${fmt(figures.naiveRecordsPerSecond)} events/s`,
      ratio: figures.plainProducerRecordsPerSecond / figures.naiveRecordsPerSecond,
      ratioOf: 'producer / naive (bounded by ceiling / naive)',
      target: null,
      targetText: 'n/a',
    });
  },
  async fold() {
    const { benchFold } = await import('./consumers.ts');
    const figures = benchFold(SIZES.foldEvents);
    details.fold = figures;
    metric({
      id: 'consumers.fold',
      bench: 'fold',
      name: 'Window fold, in-process',
      figure: `${fmt(figures.eventsPerSecond)} events/s (${fmt(figures.events)} events)`,
      ratio: figures.eventsPerSecond / 1_000_000,
      ratioOf: 'events/s / 1M',
      target: 1,
      targetText: '≥ 1 (1M events/s)',
    });
  },
  async handler() {
    const { benchAggregatorHandler } = await import('./consumers.ts');
    const figures = await benchAggregatorHandler(SIZES.handlerBatches);
    details.handler = figures;
    metric({
      id: 'consumers.handler',
      bench: 'handler',
      name: 'Aggregator handler, 10k-record batches',
      figure: `${fmt(figures.recordsPerSecond)} records/s (${fmt(figures.records)} records)`,
      ratio: figures.recordsPerSecond / 200_000,
      ratioOf: 'records/s / 200k',
      target: 1,
      targetText: '≥ 1 (200k records/s)',
    });
  },
  async alert() {
    const { benchAlertLatency } = await import('./alert-latency.ts');
    const figures = await benchAlertLatency({ ...SIZES.alert, log });
    details.alert = figures;
    const setup = `${figures.samples.length} alerts; ${figures.tumblingWindowSeconds} s window + ${figures.maxBatchingWindowMs} ms batching; ${figures.backgroundEventsPerSecond} background events/s`;
    metric({
      id: 'alert.latency.max',
      bench: 'alert',
      name: 'Alert latency (local), worst of the run',
      figure: `max ${fmt(figures.maxMs)} ms, median ${fmt(figures.medianMs)} ms vs ${fmt(figures.targetMs)} ms (${setup})`,
      ratio: figures.targetMs / figures.maxMs,
      ratioOf: 'target / max latency',
      target: 1,
      targetText: `≥ 1 (≤ ${fmt(figures.targetMs)} ms = window + batching + 2 s)`,
    });
    metric({
      id: 'alert.latency.median',
      bench: 'alert',
      name: 'Alert latency (local), median',
      figure: `${fmt(figures.medianMs)} ms`,
      ratio: figures.targetMs / figures.medianMs,
      ratioOf: 'target / median latency',
      target: null,
      targetText: 'n/a',
    });
  },
  async scan() {
    const { scanBytesForCsv } = await import('./scan-bytes.ts');
    const { KAGGLE_SAMPLE } = await import('../support/analytics-fixtures.ts');
    const sources: Array<{ key: string; label: string; path: string }> = [];
    const dir = mkdtempSync(join(tmpdir(), 'bench-scan-'));
    try {
      if (existsSync(KAGGLE_SAMPLE)) {
        sources.push({
          key: 'kaggle',
          label: `Kaggle sample (${relative(REPO, KAGGLE_SAMPLE)})`,
          path: KAGGLE_SAMPLE,
        });
      }
      const syntheticEvents = SIZES.syntheticScanEvents || (sources.length === 0 ? 5_000 : 0);
      if (syntheticEvents > 0) {
        const { createSyntheticGenerator } = await import('../../core/synthetic.ts');
        const generator = createSyntheticGenerator({ events: syntheticEvents, seed: 7 });
        const path = join(dir, 'synthetic.csv');
        writeFileSync(path, [...generator.chunks()].join(''));
        sources.push({ key: 'synthetic', label: `Synthetic, ${fmt(syntheticEvents)} events, seed 7`, path });
      }
      const scanned: ScanSource[] = [];
      for (const source of sources) {
        log(`    lake from ${source.label}`);
        const rows = await scanBytesForCsv(source.path);
        scanned.push({ label: source.label, csvBytes: rows[0]?.rawCsvBytes ?? 0, rows });
        for (const row of rows) {
          metric({
            id: `athena.scan.${source.key}.${row.query}`,
            bench: 'scan',
            name: `Athena scan bytes, ${row.query} (${source.key})`,
            figure: `${fmt(row.lakeBytes)} B lake vs ${fmt(row.rawCsvBytes)} B CSV`,
            ratio: row.ratio,
            ratioOf: 'raw CSV / lake',
            target: 10,
            targetText: '≥ 10',
          });
        }
      }
      details.scan = scanned;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async generate() {
    const figures: GeneratorRssFigure[] = [];
    for (const events of SIZES.generateEvents) {
      // Its own process per size, so maxRSS is that size's peak.
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO, 'test', 'bench', 'generate-rss.ts'),
          '--events',
          String(events),
          '--seed',
          '7',
        ],
        { cwd: REPO, maxBuffer: 1 << 20 },
      );
      const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
        rows: number;
        bytes: number;
        rowsPerSecond: number;
        maxRssMiB: number;
      };
      figures.push({
        events,
        rows: result.rows,
        bytes: result.bytes,
        rowsPerSecond: result.rowsPerSecond,
        peakRssMb: result.maxRssMiB,
      });
      log(`    ${fmt(events)} events: peak RSS ${result.maxRssMiB} MB, ${fmt(result.rowsPerSecond)} rows/s`);
    }
    details.generate = figures;
    const [small, large] = [figures[0], figures[figures.length - 1]];
    if (small && large) {
      metric({
        id: 'generator.rss',
        bench: 'generate',
        name: `Generator peak RSS, ${fmt(small.events)} vs ${fmt(large.events)} events`,
        figure: `${small.peakRssMb} MB vs ${large.peakRssMb} MB`,
        ratio: small.peakRssMb / large.peakRssMb,
        ratioOf: 'small run peak / large run peak (1 = flat)',
        target: null,
        targetText: 'flat',
      });
    }
  },
  async cli() {
    const { benchCliStart } = await import('./cli-start.ts');
    // What a fresh clone runs: dist/ as `npm ci` builds it.
    await promisify(execFile)(process.execPath, [join(REPO, 'scripts', 'build-cli.mjs')], { cwd: REPO });
    const figures = await benchCliStart(REPO, 5);
    details.cli = figures;
    for (const [id, name, ms] of [
      ['cli.help', 'clickstream --help starts in under 1 s', figures.builtHelpMs],
      ['cli.status', 'clickstream local status starts in under 1 s', figures.builtStatusMs],
    ] as const) {
      metric({
        id,
        bench: 'cli',
        name,
        figure: `${ms} ms median of ${figures.rounds}${id === 'cli.help' ? ` (${figures.sourcesHelpMs} ms from the sources through tsx)` : ''}`,
        ratio: 1000 / ms,
        ratioOf: '1 s / median wall time',
        target: 1,
        targetText: 'under 1 s',
      });
    }
  },
  async e2e() {
    const { benchEndToEnd } = await import('./end-to-end.ts');
    const { KAGGLE_SAMPLE } = await import('../support/analytics-fixtures.ts');
    const real = existsSync(KAGGLE_SAMPLE);
    const figures = await benchEndToEnd({
      events: SIZES.e2eEvents,
      ...(real
        ? { realSource: KAGGLE_SAMPLE }
        : {
            realMissingReason: `the real Kaggle sample is not at ${KAGGLE_SAMPLE} (set CLICKSTREAM_KAGGLE_SAMPLE to its path)`,
          }),
      log,
    });
    details.e2e = figures;
    for (const c of figures.cases) {
      metric({
        id: `e2e.${c.key}`,
        bench: 'e2e',
        name: `End to end, ${c.label}: replay to verified DynamoDB totals and lake vs the emulators' lowest ceiling`,
        figure: `${fmt(c.eventsPerSecond)} vs ${fmt(c.ceilingEventsPerSecond)} events/s (${c.ceilingName}; ${fmt(c.sent)} events, replay ${c.replaySeconds.toFixed(1)} s + drain ${c.drainSeconds.toFixed(1)} s)`,
        ratio: c.ratio,
        ratioOf: 'pipeline / ceiling',
        target: 0.8,
        targetText: '≥ 0.8',
      });
      if (c.ratioToCpuAdjusted !== undefined && c.cpuAdjustedCeilingEventsPerSecond !== undefined)
        metric({
          id: `e2e.${c.key}.cpu`,
          bench: 'e2e',
          name: `End to end, ${c.label}: the same run vs the merge ceiling scaled by the CPU a merge alone costs against what a partial costs the pipeline (all processes): below 1, the pipeline waits more than the ceiling's run did`,
          figure: `${fmt(c.eventsPerSecond)} vs ${fmt(c.cpuAdjustedCeilingEventsPerSecond)} events/s; a partial ${c.cpuMsPerPartial?.toFixed(2)} ms of CPU, a merge alone ${c.merges.at(-1)?.cpuMsPerMerge?.toFixed(2)} ms; ${((c.machineCoreShare ?? 0) * (c.cores ?? 1)).toFixed(2)} of ${c.cores} cores busy`,
          ratio: c.ratioToCpuAdjusted,
          ratioOf: 'pipeline / CPU-adjusted merge ceiling',
          target: 0.8,
          targetText: '≥ 0.8',
        });
      metric({
        id: `e2e.${c.key}.call-mix`,
        bench: 'e2e',
        name: `End to end, ${c.label}: the same run vs the ceiling of its DynamoDB call mix (merge + the alerter's read per partial)`,
        figure: `${fmt(c.eventsPerSecond)} vs ${fmt(c.callMixCeilingEventsPerSecond)} events/s (${fmt(c.callMix.partialsPerSecond)} partials/s at ${c.callMix.concurrency} in flight)`,
        ratio: c.ratioToCallMix,
        ratioOf: 'pipeline / call-mix ceiling',
        target: 0.8,
        targetText: '≥ 0.8',
      });
    }
  },
  async scale() {
    const { benchScale, SCALE_PROCESSES } = await import('./scale.ts');
    // What a fresh clone runs: dist/ as `npm ci` builds it.
    await promisify(execFile)(process.execPath, [join(REPO, 'scripts', 'build-cli.mjs')], { cwd: REPO });
    const small = Math.round(SIZES.scaleEvents / 10);
    const figures = await benchScale({ repo: REPO, sizes: [small, SIZES.scaleEvents], log });
    details.scale = figures;
    const [first, large] = [figures.runs[0], figures.runs[figures.runs.length - 1]];
    if (!first || !large) return;
    const passedChecks = large.checks - large.failedChecks.length;
    metric({
      id: 'scale.verify',
      bench: 'scale',
      name: `The ${fmt(large.events)}-event demo passes verify`,
      figure: `${passedChecks} of ${large.checks} checks in ${large.seconds.toFixed(1)} s (replay ${large.replaySeconds.toFixed(1)} s, drain ${large.drainSeconds.toFixed(1)} s; ${fmt(large.windows)} user windows)`,
      ratio: large.checks > 0 ? passedChecks / large.checks : 0,
      ratioOf: 'checks passed / checks',
      target: 1,
      targetText: 'all pass',
    });
    metric({
      id: 'scale.throughput',
      bench: 'scale',
      name: `Demo throughput at ${fmt(large.events)} events vs at ${fmt(first.events)}`,
      figure: `${fmt(large.eventsPerSecond)} vs ${fmt(first.eventsPerSecond)} events/s (whole demo, setup included)`,
      ratio: large.eventsPerSecond / first.eventsPerSecond,
      ratioOf: 'large / small',
      target: 0.8,
      targetText: '≥ 0.8',
    });
    for (const { key } of SCALE_PROCESSES) {
      const before = first.peaks.find((p) => p.process === key);
      const after = large.peaks.find((p) => p.process === key);
      if (!before || !after) continue;
      metric({
        id: `scale.rss.${key}`,
        bench: 'scale',
        name: `Peak RSS of the ${key} process, ${fmt(first.events)} → ${fmt(large.events)} events`,
        figure: `${before.peakRssMb} MB → ${after.peakRssMb} MB`,
        ratio: before.peakRssMb / after.peakRssMb,
        ratioOf: 'small input peak / large input peak (1 = flat)',
        target: null,
        targetText: 'flat',
      });
    }
  },
};

const previousPath = join(REPO, 'benchmarks.json');
let previous: BenchResults | undefined;
if (existsSync(previousPath)) {
  try {
    const parsed = JSON.parse(readFileSync(previousPath, 'utf8')) as BenchResults;
    if (parsed.format === RESULTS_FORMAT) previous = parsed;
  } catch {
    console.warn(`ignoring unreadable ${previousPath}`);
  }
}

const cpuList = cpus();
const machine: BenchResults['machine'] = {
  cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
  cores: cpuList.length,
  memoryGb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  loadAverageStart: loadavg().map((v) => round(v, 2)),
  loadAverageEnd: [],
};
const date = new Date().toISOString();
log(`clickstream benchmarks, ${quick ? 'quick' : 'full'} mode: ${selected.join(', ')}`);
log(
  `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}; load average ${machine.loadAverageStart.join(', ')}`,
);
const started = performance.now();

for (const [index, id] of selected.entries()) {
  const load1AtStart = round(loadavg()[0] ?? 0, 2);
  log(`[${index + 1}/${selected.length}] ${id} (load ${load1AtStart})`);
  const benchStarted = performance.now();
  try {
    await runners[id]();
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    errors[id] = message;
    log(`    FAILED: ${message}`);
  }
  const seconds = round((performance.now() - benchStarted) / 1000, 1);
  timings[id] = { seconds, load1AtStart };
  log(`    ${id} took ${seconds} s`);
}

machine.loadAverageEnd = loadavg().map((v) => round(v, 2));
const regressions = findRegressions(previous, metrics);
const results: BenchResults = {
  format: RESULTS_FORMAT,
  date,
  command,
  mode: quick ? 'quick' : 'full',
  benches: selected,
  machine,
  durationSeconds: round((performance.now() - started) / 1000, 1),
  timings,
  metrics,
  details,
  errors,
  ...(previous ? { previous: { date: previous.date, command: previous.command } } : {}),
  regressions,
};

for (const r of regressions) {
  console.log(`REGRESSION ${r.id}: ratio ${r.previous} → ${r.current} (${(r.change * 100).toFixed(0)}%)`);
}
mkdirSync(outDir, { recursive: true });
const jsonPath = join(
  outDir,
  complete || values['out-dir'] ? 'benchmarks.json' : `benchmarks.${quick ? 'quick' : 'partial'}.json`,
);
const mdPath = join(
  outDir,
  complete || values['out-dir'] ? 'BENCHMARKS.md' : `BENCHMARKS.${quick ? 'quick' : 'partial'}.md`,
);
writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(mdPath, renderBenchmarksMarkdown(results));
const targeted = metrics.filter((m) => m.target !== null);
log(
  `${targeted.filter((m) => m.met).length} of ${targeted.length} targets met, ${regressions.length} regressions, ${Object.keys(errors).length} failed benches; ${(results.durationSeconds / 60).toFixed(1)} min`,
);
log(`wrote ${relative(process.cwd(), mdPath)} and ${relative(process.cwd(), jsonPath)}`);
// Emulator sockets or SDK agents left by a failed bench must not keep the process alive.
process.exit(Object.keys(errors).length > 0 ? 1 : 0);
