/**
 * The benchmark results file (benchmarks.json) and its rendering as BENCHMARKS.md. Every figure in
 * the Markdown comes from a results object produced by test/bench/run.ts; nothing here measures.
 *
 * Every metric carries one ratio where higher is better (throughputs as measured / target, latency
 * and memory as budget / measured), so a regression check is the same for all: the ratio dropped by
 * more than REGRESSION_DROP against the previous results.
 */
import type { AlertLatencyFigures } from './alert-latency.ts';
import type { CliStartFigures } from './cli-start.ts';
import type { EndToEndCase, EndToEndFigures } from './end-to-end.ts';
import type { CpuPathFigures, KinesisFigures, RssFigure } from './producer.ts';
import { describeFunctions, type ScaleFigures } from './scale.ts';
import type { ScanBytesRow } from './scan-bytes.ts';

export const RESULTS_FORMAT = 'clickstream-benchmarks/1';
/** A ratio more than 20% below the previous run's is reported as a regression. */
export const REGRESSION_DROP = 0.2;

export const BENCH_IDS = [
  'cpu',
  'rss',
  'kinesis',
  'fold',
  'handler',
  'alert',
  'scan',
  'generate',
  'e2e',
  'cli',
  'scale',
] as const;
export type BenchId = (typeof BENCH_IDS)[number];
/**
 * Benches a full run leaves out unless `--with` names them: the scale bench runs a million-event demo,
 * about half an hour on 2 cores, three times the rest together.
 */
export const OPT_IN_BENCH_IDS: readonly BenchId[] = ['scale'];

export interface Metric {
  id: string;
  bench: BenchId;
  /** The docs/performance.md line, or a short name for figures without a target. */
  name: string;
  /** The measured figures, human-readable. */
  figure: string;
  /** Higher is better. */
  ratio: number;
  /** What the ratio divides, e.g. "producer / bare csv-parse". */
  ratioOf: string;
  /** Minimum ratio that meets the target; null for informational figures. */
  target: number | null;
  targetText: string;
  met: boolean | null;
}

export interface Regression {
  id: string;
  name: string;
  previous: number;
  current: number;
  /** Relative change, negative = worse. */
  change: number;
}

export interface GeneratorRssFigure {
  events: number;
  rows: number;
  bytes: number;
  rowsPerSecond: number;
  peakRssMb: number;
}

export interface ScanSource {
  label: string;
  csvBytes: number;
  rows: ScanBytesRow[];
}

export interface BenchTiming {
  seconds: number;
  /** 1-minute load average when the bench started. */
  load1AtStart: number;
}

export interface BenchResults {
  format: typeof RESULTS_FORMAT;
  date: string;
  command: string;
  mode: 'full' | 'quick';
  benches: BenchId[];
  machine: {
    cpuModel: string;
    cores: number;
    memoryGb: number;
    node: string;
    platform: string;
    loadAverageStart: number[];
    loadAverageEnd: number[];
  };
  durationSeconds: number;
  timings: Partial<Record<BenchId, BenchTiming>>;
  metrics: Metric[];
  details: {
    cpu?: CpuPathFigures & { rounds: number };
    rss?: RssFigure[];
    kinesis?: KinesisFigures & { events: number; aggregatedEvents: number; naiveEvents: number };
    fold?: { events: number; seconds: number; eventsPerSecond: number };
    handler?: { records: number; seconds: number; recordsPerSecond: number };
    alert?: AlertLatencyFigures;
    scan?: ScanSource[];
    generate?: GeneratorRssFigure[];
    e2e?: EndToEndFigures;
    cli?: CliStartFigures;
    scale?: ScaleFigures;
  };
  errors: Partial<Record<BenchId, string>>;
  /** Against the previous benchmarks.json, when there was one. */
  previous?: { date: string; command: string };
  regressions: Regression[];
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Metrics whose ratio dropped by more than REGRESSION_DROP since `previous`. */
export function findRegressions(
  previous: BenchResults | undefined,
  metrics: readonly Metric[],
): Regression[] {
  if (!previous) return [];
  const before = new Map(previous.metrics.map((metric) => [metric.id, metric]));
  const regressions: Regression[] = [];
  for (const metric of metrics) {
    const old = before.get(metric.id);
    if (!old || !Number.isFinite(old.ratio) || !Number.isFinite(metric.ratio) || old.ratio <= 0) continue;
    const change = (metric.ratio - old.ratio) / old.ratio;
    if (change < -REGRESSION_DROP) {
      regressions.push({
        id: metric.id,
        name: metric.name,
        previous: old.ratio,
        current: metric.ratio,
        change: round(change),
      });
    }
  }
  return regressions;
}

function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '∞';
  return ratio >= 100
    ? ratio.toFixed(0)
    : ratio >= 10
      ? ratio.toFixed(1)
      : ratio.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}

function metLabel(met: boolean | null): string {
  return met === null ? 'n/a (no target)' : met ? '**met**' : '**NOT met**';
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const bytes = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);

export function renderBenchmarksMarkdown(results: BenchResults): string {
  const lines: string[] = [];
  const { machine } = results;
  const push = (...more: string[]) => lines.push(...more);
  push(
    '# Benchmarks',
    '',
    'Generated by `test/bench/run.ts` from one run; do not edit figures by hand (re-run instead). docs/performance.md asks for ratios',
    'measured in one run on one machine; absolute rates depend on the machine and on what else was running.',
    '',
    `- Command: \`${results.command}\` (${results.mode} mode; benches: ${results.benches.join(', ')})`,
    `- Date: ${results.date}; the run took ${(results.durationSeconds / 60).toFixed(1)} min`,
    `- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB memory, Node ${machine.node} (${machine.platform})`,
    `- Load average (1, 5, 15 min): ${machine.loadAverageStart.map((v) => v.toFixed(2)).join(', ')} at the start, ${machine.loadAverageEnd.map((v) => v.toFixed(2)).join(', ')} at the end. The machine is shared with other engineers' processes, so absolute rates are lower and noisier than on an idle machine; the ratios are measured side by side within the run.`,
    '',
  );

  const targeted = results.metrics.filter((metric) => metric.target !== null);
  const met = targeted.filter((metric) => metric.met).length;
  push(`## Performance targets (docs/performance.md): ${met} of ${targeted.length} met`, '');
  push('| Target | Figure | Ratio | Target ratio | Met |', '|---|---|---|---|---|');
  for (const metric of targeted) {
    push(
      `| ${cell(metric.name)} | ${cell(metric.figure)} | ${formatRatio(metric.ratio)} (${cell(metric.ratioOf)}) | ${cell(metric.targetText)} | ${metLabel(metric.met)} |`,
    );
  }
  push('');
  const errors = Object.entries(results.errors);
  if (errors.length > 0) {
    push('### Benches that failed', '');
    for (const [bench, message] of errors) push(`- \`${bench}\`: ${message}`);
    push('');
  }

  push('## Regressions', '');
  if (!results.previous) push('No previous benchmarks.json to compare with.', '');
  else if (results.regressions.length === 0) {
    push(
      `None: no ratio dropped by more than ${REGRESSION_DROP * 100}% against the run of ${results.previous.date}.`,
      '',
    );
  } else {
    push(`Against the run of ${results.previous.date} (\`${results.previous.command}\`):`, '');
    push('| Metric | Previous ratio | This run | Change |', '|---|---|---|---|');
    for (const r of results.regressions) {
      push(
        `| ${cell(r.name)} | ${formatRatio(r.previous)} | ${formatRatio(r.current)} | ${(r.change * 100).toFixed(0)}% |`,
      );
    }
    push('');
  }

  const { details } = results;
  push('## Details', '');
  if (details.cpu) {
    const c = details.cpu;
    push(
      '### Producer CPU path',
      '',
      `Dry-run replay (csv-parse → validate → JSON → KPL aggregates → PutRecords batches, null sink) vs bare csv-parse (\`parse()\` with default options, one row per stream read) on the same ${c.megabytes} MB file of ${c.rows.toLocaleString('en')} rows; ${c.rounds} alternated rounds, best of each: producer ${c.producerRowsPerSecond.toLocaleString('en')} rows/s, with --no-aggregate ${c.plainProducerRowsPerSecond.toLocaleString('en')} rows/s, its reader alone (csv-parse with the options the producer needs: both line endings, relaxed quotes and column counts, bounded record size, errors skipped and counted; rows handed over in chunks) ${c.readerRowsPerSecond.toLocaleString('en')} rows/s, bare ${c.bareRowsPerSecond.toLocaleString('en')} rows/s. The gap between reader and producer is typing and validating every field, building each record's JSON, and (by default) packing KPL aggregates with their MD5.`,
      '',
    );
  }
  if (details.rss) {
    push(
      '### Producer peak RSS',
      '',
      'Dry-run replay in its own process per input size (maxRSS from `process.resourceUsage()`).',
      '',
    );
    push('| Input | Rows | Peak RSS | Time |', '|---|---|---|---|');
    for (const r of details.rss)
      push(`| ${r.megabytes} MB | ${r.rows.toLocaleString('en')} | ${r.peakRssMb} MB | ${r.seconds} s |`);
    push('');
  }
  if (details.kinesis) {
    const k = details.kinesis;
    push(
      '### Producer against kinesalite',
      '',
      `kinesalite in its own process, ${k.shards} shards; each ceiling and producer run twice, alternated, best of each. Ceiling, one event a record: tight loop of 500-record PutRecords, best concurrency ${k.ceilingConcurrency}: ${k.ceilingRecordsPerSecond.toLocaleString('en')} records/s. Ceiling for KPL aggregates: tight loop of PutRecords of 20 ready-made 50 KiB aggregates (1 MiB, the producer's call size), best concurrency ${k.aggregatedCeilingConcurrency}: ${k.aggregatedCeilingEventsPerSecond.toLocaleString('en')} events/s. Producer with --no-aggregate (replay of ${k.events.toLocaleString('en')} events from a file): ${k.plainProducerRecordsPerSecond.toLocaleString('en')} records/s. Producer, default (replay of ${k.aggregatedEvents.toLocaleString('en')} events in ${k.producerRecords.toLocaleString('en')} KPL-aggregated records): ${k.producerEventsPerSecond.toLocaleString('en')} events/s. Naive one-PutRecord-per-event loop (${k.naiveEvents.toLocaleString('en')} events): ${k.naiveRecordsPerSecond.toLocaleString('en')} records/s.`,
      '',
    );
    if (details.cpu) {
      // Which side bounds the aggregated producer: the emulator, or the producer's own parsing.
      push(
        `With aggregation the emulator takes far more events per second than one producer process can parse: the producer's CPU path alone (dry run, above) runs at ${details.cpu.producerRowsPerSecond.toLocaleString('en')} rows/s with a core to itself, and here it shares the 2 cores with kinesalite, so the aggregated ratio measures the producer's parsing, not its sending.`,
        '',
      );
    }
  }
  if (details.fold || details.handler) {
    push('### Consumers', '');
    if (details.fold) {
      push(
        `- Window fold: ${details.fold.events.toLocaleString('en')} events in ${details.fold.seconds.toFixed(2)} s = ${details.fold.eventsPerSecond.toLocaleString('en')} events/s.`,
      );
    }
    if (details.handler) {
      push(
        `- Aggregator handler, 10k-record batches, in-memory clients: ${details.handler.records.toLocaleString('en')} records in ${details.handler.seconds.toFixed(2)} s = ${details.handler.recordsPerSecond.toLocaleString('en')} records/s.`,
      );
    }
    push('');
  }
  if (details.alert) {
    const a = details.alert;
    push(
      '### Alert latency (local)',
      '',
      `Embedded stack (kinesalite, DynamoDB emulator, our SNS endpoint, in-memory SMTP sink) and the local pipeline with a ${a.tumblingWindowSeconds} s tumbling window and a ${a.maxBatchingWindowMs} ms batching window; ${a.backgroundEventsPerSecond} normal events/s of background traffic (${a.backgroundEvents.toLocaleString('en')} in all). Per repetition a fresh user puts exactly the threshold of rule \`${a.samples[0]?.rule ?? ''}\` in one PutRecords call, then the crossing event in its own call; latency runs from the start of that call to the mail in the sink. The crossing events are spread over the window (the first just after a boundary, the worst case: the aggregator flushes partials only at the window's end). pipeline.drain() is never called: the local runner ends windows on its own when the wall clock passes the window end (${a.aggregatorFinalInvocations} final invocations). Mails for users other than the bots: ${a.unexpectedMails}.`,
      '',
      '| User | Put at (ms into window) | Latency | Wait for window end | Window end → final invoke | → alerter invoke | → mail |',
      '|---|---|---|---|---|---|---|',
    );
    for (const s of a.samples) {
      push(
        `| ${s.userId} | ${s.offsetInWindowMs} | ${s.latencyMs} ms | ${s.stages.waitForWindowEndMs} ms | ${s.stages.windowEndToFinalInvokeMs} ms | ${s.stages.finalInvokeToAlerterMs} ms | ${s.stages.alerterToMailMs} ms |`,
      );
    }
    push(
      '',
      `Median ${a.medianMs} ms, max ${a.maxMs} ms, target ${a.targetMs} ms (tumbling window + batching window + 2 s).`,
      '',
    );
  }
  if (details.scan) {
    push(
      '### Athena scan bytes per named query',
      '',
      "Bytes Athena would scan on the Parquet lake (footers plus the column chunks of the referenced columns, every dt partition) vs the whole raw CSV. The lake is built by `scanBytesForCsv` from the CSV: one Parquet object per table and event date, written with the local Firehose's Parquet writer; user_activity holds the per-user 60 s partials of two pseudo-shards.",
      '',
    );
    for (const source of details.scan) {
      push(
        `**${source.label}** (raw CSV ${bytes(source.csvBytes)})`,
        '',
        '| Query | Lake bytes | Raw CSV / lake | ≥ 10× | Columns |',
        '|---|---|---|---|---|',
      );
      for (const row of source.rows) {
        const columns = Object.entries(row.columns)
          .map(([table, names]) => `${table}: ${names.join(', ')}`)
          .join('; ');
        push(
          `| ${row.query} | ${bytes(row.lakeBytes)} | ${formatRatio(row.ratio)}× | ${row.ratio >= 10 ? 'yes' : '**no**'} | ${cell(columns)} |`,
        );
      }
      push('');
    }
  }
  if (details.generate) {
    push(
      '### Synthetic generator',
      '',
      'Generator into a null sink, each size in its own process (test/bench/generate-rss.ts).',
      '',
    );
    push('| Events | Bytes | Rows/s | Peak RSS |', '|---|---|---|---|');
    for (const g of details.generate) {
      push(
        `| ${g.events.toLocaleString('en')} | ${bytes(g.bytes)} | ${g.rowsPerSecond.toLocaleString('en')} | ${g.peakRssMb} MB |`,
      );
    }
    push('');
  }
  if (details.e2e) renderEndToEnd(details.e2e, push);
  if (details.cli) {
    const c = details.cli;
    push(
      '### CLI start',
      '',
      `Median wall time of ${c.rounds} alternated runs each (test/bench/cli-start.ts): the built CLI that \`npm ci\` makes in dist/, against the same command run from the TypeScript sources through tsx (every run's cost before the build, and a checkout's with stale dist/).`,
      '',
      '| Command | Built | From the sources (tsx) |',
      '|---|---|---|',
      `| \`clickstream --help\` | ${c.builtHelpMs} ms | ${c.sourcesHelpMs} ms |`,
      `| \`clickstream local status\` (no stack) | ${c.builtStatusMs} ms | |`,
      `| \`clickstream local down\` (no stack) | ${c.builtDownMs} ms | |`,
      '',
    );
  }
  if (details.scale) {
    push(
      '### Scale: the demo at two sizes',
      '',
      "`clickstream demo --events N --json` through the built CLI, each size in its own process and work dir (test/bench/scale.ts). Peak RSS is each process's high-water mark as the demo reports it. The longest invocation of each function is set beside the timeout the template deploys it with, which the local runners watch but do not enforce: one past it here would have been cut off and retried in AWS, unless AWS's services are that much faster than the emulators.",
      '',
      '| Events | Total | Replay | Drain | Events/s | User windows | Verify | Peak RSS: demo process | local stack | DynamoDB emulator | Longest invocations |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const run of details.scale.runs) {
      const peak = (key: string) => {
        const found = run.peaks.find((p) => p.process === key);
        return found ? `${found.peakRssMb.toLocaleString('en')} MB` : 'n/a';
      };
      push(
        `| ${run.events.toLocaleString('en')} | ${run.seconds.toFixed(1)} s | ${run.replaySeconds.toFixed(1)} s | ${run.drainSeconds.toFixed(1)} s | ${run.eventsPerSecond.toLocaleString('en')} | ${run.windows.toLocaleString('en')} | ${run.verifyPassed ? `passed (${run.checks} checks)` : `FAILED: ${cell(run.failedChecks.join('; '))}`} | ${peak('demo')} | ${peak('stack')} | ${peak('dynamodb')} | ${cell(describeFunctions(run))} |`,
      );
    }
    push('');
  }
  const informational = results.metrics.filter((metric) => metric.target === null);
  if (informational.length > 0) {
    push(
      '### Other ratios (no target in docs/performance.md; checked for regressions)',
      '',
      '| Figure | Measured | Ratio |',
      '|---|---|---|',
    );
    for (const metric of informational)
      push(
        `| ${cell(metric.name)} | ${cell(metric.figure)} | ${formatRatio(metric.ratio)} (${cell(metric.ratioOf)}) |`,
      );
    push('');
  }
  push('### Time per bench', '', '| Bench | Seconds | Load average (1 min) at its start |', '|---|---|---|');
  for (const [bench, timing] of Object.entries(results.timings)) {
    push(`| ${bench} | ${timing.seconds.toFixed(1)} | ${timing.load1AtStart.toFixed(2)} |`);
  }
  push('');
  return `${lines.join('\n')}\n`;
}

/** The CPU (all processes) a partial cost the pipeline, beside what a merge alone cost the ceiling. */
function cpuPerPartial(c: EndToEndCase): string {
  const alone = c.merges[c.merges.length - 1]?.cpuMsPerMerge;
  if (c.cpuMsPerPartial === undefined || alone === undefined) return 'n/a';
  const adjusted =
    c.cpuAdjustedCeilingEventsPerSecond !== undefined && c.ratioToCpuAdjusted !== undefined
      ? `; the merge ceiling scaled by it: ${Math.round(c.cpuAdjustedCeilingEventsPerSecond).toLocaleString('en')} events/s, ratio ${formatRatio(c.ratioToCpuAdjusted)}`
      : '';
  return `${c.cpuMsPerPartial.toFixed(2)} / ${alone.toFixed(2)} ms (${(c.cpuMsPerPartial / alone).toFixed(1)}×)${adjusted}`;
}

function renderEndToEnd(figures: EndToEndFigures, push: (...more: string[]) => void): void {
  const n = (value: number) => Math.round(value).toLocaleString('en');
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  push(
    '### End to end (local pipeline vs its emulators)',
    '',
    "`demo()` (cli/commands/demo.ts) called as a library on a fresh embedded stack (ephemeral ports, its own temp directories, Kinesis shard limits on): the pipeline's rate is the events sent over the replay and drain stages, from the replay's start until every total is in DynamoDB, the lake flushed and the mails sent; verify then checks it all against the source CSV. The ceilings are measured in the same run on a second fresh stack started the same way, with the same CSV (test/bench/end-to-end.ts): Kinesis PutRecords and GetRecords through the stack's Kinesis port with the shard limits as the stack applies them (the CSV packed per shard into 50 KiB KPL aggregates as the producer packs it, refused entries and calls made again after 50 ms), and DynamoDB merges (the aggregator's `mergePartial`, a conditional UpdateItem, on partials of the aggregator's own fold of the CSV) at 16 in flight (one flush) and at 16 per events shard (both shards flushing at once, the most the pipeline puts in flight). The merge ceiling in events/s is that merge rate times the events per partial of the pipeline's own run. The call-mix ceiling does per partial what the pipeline must do with it, the aggregator's merge and then the alerter's consistent Query of that user's windows over the rules' horizon, at the same concurrency; it too is times the events per partial. The CPU columns read every process's CPU time from /proc (the consumers', the stack's, the emulator's; in the ceilings' runs the bench's own as the client): over the replay and drain as a share of the machine's cores, and per partial beside what a merge alone cost in the ceiling's run. The merge ceiling scaled by that ratio is what the machine allows the pipeline's own work at the rate the ceiling's run used it: a ratio to it below 1 means the pipeline waited more than a bare merge loop does.",
    '',
  );
  push(
    "| Data | Events | Pipeline events/s | Kinesis put ceiling | Kinesis get ceiling | DynamoDB merges/s (16 / 32 in flight) | Merge ceiling, events/s | Ratio to the lowest ceiling | Merge + read ceiling, events/s | Ratio to it | DynamoDB calls a partial (pipeline / ceiling) | Consumers' process CPU, of one core | All processes' CPU, of the machine's cores | CPU a partial: pipeline / a merge alone | Verify |",
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const c of figures.cases) {
    const merges = c.merges.map((m) => n(m.mergesPerSecond)).join(' / ');
    // Runs recorded before the call-mix ceiling existed have none.
    const mix = c.callMix
      ? [
          `${n(c.callMixCeilingEventsPerSecond)} (${n(c.callMix.partialsPerSecond)} partials/s at ${c.callMix.concurrency} in flight)`,
          formatRatio(c.ratioToCallMix),
          `${((c.consumers.aggregator.dynamodbCalls + c.consumers.alerter.dynamodbCalls) / Math.max(1, c.partialRecords)).toFixed(2)} / ${(c.callMix.calls / c.callMix.partials).toFixed(2)}`,
        ]
      : ['n/a', 'n/a', 'n/a'];
    push(
      `| ${cell(c.label)} | ${n(c.sent)} | ${n(c.eventsPerSecond)} | ${n(c.kinesis.putEventsPerSecond)} | ${n(c.kinesis.getEventsPerSecond)} | ${merges} | ${n(c.mergeCeilingEventsPerSecond)} (${c.eventsPerPartial.toFixed(2)} events a partial) | ${formatRatio(c.ratio)} (of ${cell(c.ceilingName)}) | ${mix.join(' | ')} | ${c.consumersCoreShare === undefined ? 'n/a' : c.consumersCoreShare.toFixed(2)} | ${c.machineCoreShare === undefined ? 'n/a' : `${c.machineCoreShare.toFixed(2)} of ${c.cores}`} | ${cpuPerPartial(c)} | ${c.verifyPassed ? 'passed' : '**FAILED**'} |`,
    );
  }
  push('');
  for (const skipped of figures.skipped) push(`- ${skipped.key}: skipped, ${skipped.reason}.`);
  if (figures.skipped.length > 0) push('');
  push(
    'Where the pipeline waits, what was tried and what is still open: docs/performance.md, "End to end: where the local pipeline waits".',
    '',
    "Where the time went in each pipeline run (the demo's stages; the drain phase by phase, each from the end of the one before):",
    '',
    '| Data | Replay | Drain | of which: aggregator (final windows, merges) | alerter and lake catch up | end of stream | mail | Partials (user-activity records) | Aggregator invocations (final) | Alerter invocations | Bound by |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const c of figures.cases) {
    const d = c.drain;
    push(
      `| ${cell(c.label)} | ${c.replaySeconds.toFixed(1)} s | ${c.drainSeconds.toFixed(1)} s | ${s(d.aggregatorMs)} | ${s(d.alerterAndLakeMs)} | ${s(d.endOfStreamMs)} | ${s(d.mailMs)} | ${n(c.partialRecords)} | ${c.consumers.aggregator.invocations} (${c.consumers.aggregator.finalInvocations}) | ${c.consumers.alerter.invocations} | ${cell(c.boundBy)} |`,
    );
  }
  push('');
  for (const c of figures.cases) {
    const d = c.drain;
    const phases: Array<[string, number]> = [
      ['the replay', c.replaySeconds * 1000],
      ["the aggregator's final windows (merges into DynamoDB)", d.aggregatorMs],
      ['the alerter and the lake catching up', d.alerterAndLakeMs],
      ["the alerter's end of stream", d.endOfStreamMs],
      ['the mails', d.mailMs],
    ];
    const total = phases.reduce((sum, [, ms]) => sum + ms, 0);
    const [longest, longestMs] = [...phases].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const atPipeline = c.merges[c.merges.length - 1];
    const mergeRate = c.partialRecords / (d.aggregatorMs / 1000);
    push(
      `- ${c.label}: ${longest} took ${((longestMs / total) * 100).toFixed(0)}% of the pipeline's ${(total / 1000).toFixed(1)} s.${atPipeline ? ` ${n(c.partialRecords)} partials over the aggregator's drain phase are ${n(mergeRate)}/s, ${formatRatio(mergeRate / atPipeline.mergesPerSecond)} of the emulator's ${n(atPipeline.mergesPerSecond)} merges/s at ${atPipeline.concurrency} in flight (an upper bound on the pipeline's merge rate: partials merged during the replay count too).` : ''}`,
    );
  }
  push('');
  for (const c of figures.cases) {
    const k = c.kinesis;
    push(
      `- ${c.label}: Kinesis ceiling on ${k.shards} events shards, hottest shard ${(k.hotShardShare * 100).toFixed(0)}% of the events, ${n(k.records)} aggregates (${(k.bytes / 1e6).toFixed(2)} MB): put in ${k.putSeconds.toFixed(1)} s (${n(k.putRefused)} entries refused and resent), read back in ${k.getSeconds.toFixed(1)} s (${n(k.getRefused)} calls refused). Merges: ${c.merges.map((m) => `${n(m.merges)} partials at ${m.concurrency} in flight in ${m.seconds.toFixed(1)} s (${n(m.calls)} calls)`).join('; ')}. The demo's whole run took ${c.demoSeconds.toFixed(1)} s (verify ${c.verifySeconds.toFixed(1)} s).`,
    );
  }
  push('');
}
