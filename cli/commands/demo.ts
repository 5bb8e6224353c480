/**
 * `clickstream demo` (= `npm run demo`): the whole pipeline on the embedded stack, end to end —
 * generate (or take) a Kaggle CSV, put it in local S3, replay it into Kinesis, aggregate, alert, deliver
 * to the lake, run every named query and verify the lot against the source CSV.
 */

import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Command } from 'commander';
import { createDynamoClient, createKinesisClient, createS3Client } from '../../adapters/clients.ts';
import type { QueryRow } from '../../analytics/engine.ts';
import { formatResult } from '../../analytics/format.ts';
import { openLocalEngine } from '../../analytics/local-engine.ts';
import { loadNamedQueries, runNamedQuery } from '../../analytics/named-queries.ts';
import { computeSourceTruth } from '../../analytics/source-truth.ts';
import {
  type AlertScore,
  alertScore,
  loadGroundTruth,
  runChecks,
  summarizeStoredTotals,
  type VerifyCheck,
} from '../../analytics/verify.ts';
import { EVENT_TYPES, type EventType } from '../../core/event.ts';
import { choiceFlag, integerFlag } from '../../core/flags.ts';
import { parseS3Url } from '../../core/resources.ts';
import { RAW_EVENTS_PREFIX } from '../../core/tables.ts';
import type { LambdaRunner, LambdaRunnerStats } from '../../local/lambda-runner.ts';
import type { StreamThrottles } from '../../local/limits/kinesis-front.ts';
import { saveMailDevEmails } from '../../local/mail.ts';
import { type DrainTimings, type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { cpuMsBetween, processTreeCpu, processTreePeaks } from '../../local/process-usage.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { formatContext, LOCAL_DEFAULT_CONTEXT } from '../../local/synth.ts';
import type { CfnTemplate } from '../../local/template.ts';
import { generate } from '../../producer/generate.ts';
import { replayToStream } from '../../producer/replay.ts';
import type { Colours } from '../colours.ts';
import { ClickstreamError, type CommandContext, type CommandSpec } from '../command.ts';
import { createContext } from '../context.ts';
import {
  addTemplateOptions,
  type ResolvedTemplate,
  resolveLocalTemplate,
  type TemplateFlags,
} from '../stack-template.ts';
import { renderAlertScore } from './verify.ts';

export interface DemoOptions extends TemplateFlags {
  events?: string;
  seed?: string;
  source?: string;
  workDir?: string;
  rows?: string;
  /** `--no-limits`: kinesalite as it is, without the Kinesis shard limits. */
  limits?: boolean;
  /** `--consumers`: both functions in the CLI's thread (default), or each in a worker thread of its own. */
  consumers?: string;
}

const CONSUMER_MODES = ['in-process', 'threads'] as const;

export interface DemoSummary {
  /** Where the stack's configuration came from (synthesized, cached, or --template) and with what context. */
  template: ResolvedTemplate['template'];
  events: { read: number; sent: number; rejected: number; failed: number; source: string };
  aggregates: { eventsCounted: number; byType: Record<EventType, number>; windows: number };
  /** `emails` counts the mails delivered to the mailbox; incidents and scores come from the dedupe table. */
  alerts: AlertScore & {
    /** The alert mails as text files, saved before the stack (and its MailDev) stops. */
    mailDirectory?: string;
  };
  queries: Record<string, QueryRow[]>;
  verify: { passed: boolean; checks: VerifyCheck[] };
  /** IAM decisions on the functions' calls, against their roles in the template; denied is 0 or the demo fails. */
  iam: { checked: number; denied: number };
  /**
   * What the Kinesis shard limits refused, per stream: write entries (resent by the producer or the
   * aggregator) and GetRecords calls (made again by the runner or Firehose). Null with --no-limits.
   */
  throttles: StreamThrottles | null;
  /** Batches the consumers gave up on and sent to their on-failure destination (records in them). */
  onFailure: { batches: number; records: number };
  /**
   * The consumers' runner counters (invocations, records read, throttled reads): the alerter's records
   * are the partials the aggregator put on the user-activity stream, one per merge unless a partial was
   * too large for one record. `npm run bench` divides by them.
   */
  consumers: { aggregator: ConsumerCounters; alerter: ConsumerCounters };
  /** The drain stage phase by phase: what it waited for longest. */
  drain: DrainTimings;
  /** Peak resident memory of each process of the run, in MB (null where the OS does not tell). */
  memory: Array<{ process: string; pid: number; peakRssMb: number }> | null;
  /**
   * Each stage's wall time, and the CPU time this process spent in it, all its threads together (the
   * CLI with the producer, the local Firehose and DuckDB, and the consumers, in this thread or each in a worker thread of its
   * own; the stack and the DynamoDB emulator run in processes of their own): a stage whose `cpuMs` comes
   * near its `ms` was bound by one core's worth of this process's work, not by waiting.
   * `allProcessesCpuMs` adds the stack's process and the DynamoDB emulator (absent where the OS does
   * not tell): a stage whose `allProcessesCpuMs` comes near `ms` times the machine's cores kept the
   * whole machine busy.
   */
  stages: Array<{ name: string; ms: number; cpuMs: number; allProcessesCpuMs?: number; rate?: string }>;
  /** The cores this machine has, for reading `allProcessesCpuMs`. */
  cores: number;
  boundBy: string;
  workDir: string;
  durationMs: number;
}

export type ConsumerCounters = Pick<
  LambdaRunnerStats,
  | 'invocations'
  | 'finalInvocations'
  | 'recordsProcessed'
  | 'readThrottles'
  | 'retries'
  | 'longestInvocationMs'
  | 'invocationsPastTimeout'
> & {
  /** Calls the function sent to DynamoDB (the aggregator's merges; the alerter's reads and claims). */
  dynamodbCalls: number;
  /** The function's Timeout in the template, in ms (null when it sets none). */
  timeoutMs: number | null;
};

function consumerCounters(runner: LambdaRunner, dynamodbCalls: number): ConsumerCounters {
  const stats = runner.stats();
  const { invocations, finalInvocations, recordsProcessed, readThrottles, retries } = stats;
  const { longestInvocationMs, invocationsPastTimeout } = stats;
  return {
    invocations,
    finalInvocations,
    recordsProcessed,
    readThrottles,
    retries,
    dynamodbCalls,
    longestInvocationMs,
    invocationsPastTimeout,
    timeoutMs: runner.settings.deployedTimeoutMs ?? null,
  };
}

/**
 * Sized to finish well within a minute on 2 cores (measured 38 s; 50k took 63 s; emulator rates in docs/performance.md): the run is
 * bound by DynamoDB merges, one per (user, event-time window, shard) partial, which the local emulator
 * serves at a few hundred per second.
 * Larger runs work the same, only longer (`--events 200000`).
 */
const DEFAULT_DEMO_EVENTS = 30_000;

export async function demo(options: DemoOptions, context: CommandContext): Promise<DemoSummary> {
  const started = performance.now();
  const events = integerFlag(options.events ?? DEFAULT_DEMO_EVENTS, '--events');
  const seed = options.seed ?? '1';
  const previewRows = integerFlag(options.rows ?? 3, '--rows');
  const consumerMode = choiceFlag(options.consumers ?? 'in-process', CONSUMER_MODES, '--consumers');
  const workDir = resolve(options.workDir ?? join('.clickstream', 'demo'));
  mkdirSync(workDir, { recursive: true });
  const { stages, stage } = stageTimer(context);

  // The deployed settings (shards, batching, tumbling window) keep the demo as quick as the old local
  // ones did (108.6 s before, 111.7 s after, back to back on this machine): no override but the mailbox.
  const { config, cfn, template } = await stage(
    'reading the stack template (infra/ synthesized, or cached)',
    () => resolveLocalTemplate(options, context, { defaults: LOCAL_DEFAULT_CONTEXT, consumers: true }),
  );
  const stack = await stage('starting the embedded AWS stack (Kinesis, DynamoDB, S3, SNS, MailDev)', () =>
    startLocalStack({ ports: 'ephemeral', isolate: true, config, kinesisLimits: options.limits !== false }),
  );
  const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
  const kinesis = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  try {
    const local = createContext({
      json: context.json,
      verbose: false,
      signal: context.signal,
      settings: () => {
        throw new Error('unused');
      },
      target: stack.target,
    });
    const subContext: CommandContext = {
      ...local,
      progress: context.progress,
      info: context.info,
      warn: context.warn,
      debug: context.debug,
    };

    // The source lands in the raw bucket first, as in AWS, and the producer streams it back out of S3.
    let source: string;
    let truthFile: string | undefined;
    if (options.source) {
      source = await stage(`uploading ${options.source} to local S3`, () =>
        uploadSource(options.source as string, stack),
      );
    } else {
      source = `s3://${stack.names.rawBucket}/${RAW_EVENTS_PREFIX}demo-seed${seed}-${events}.csv`;
      truthFile = join(workDir, `demo-seed${seed}-${events}.truth.json`);
      await stage(
        `generating ${events.toLocaleString('en-US')} Kaggle-shaped events with injected bots into ${source}`,
        () => generate({ events, seed, out: source, truth: truthFile }, subContext),
        (summary, ms) => `${Math.round(summary.events / (ms / 1000)).toLocaleString('en-US')} rows/s`,
      );
    }

    // Both functions in this thread unless asked: on 2 cores a worker thread per function, as Lambda runs
    // them apart, was no faster (the emulators use the other core) and took more memory (docs/performance.md).
    const { replayed, onFailure, consumers, drain, windowSeconds, iam } = await runPipeline(
      { stack, kinesis, cfn, workDir, source, consumers: consumerMode },
      stage,
      subContext,
    );

    const stored = await summarizeStoredTotals(dynamo, stack.names.userActivityTable);
    const groundTruth = truthFile ? await loadGroundTruth(truthFile) : undefined;
    const score = await alertScore(dynamo, stack.names.alertDedupeTable, groundTruth);
    const emails = (await stack.sns.stats()).delivered;
    const throttles = await streamThrottles(stack);
    // MailDev goes away with the stack at the end of the demo: keep its mails where people can read them.
    const mailDirectory = join(workDir, 'mail');
    rmSync(mailDirectory, { recursive: true, force: true }); // an earlier run's mails would mix in
    const savedMails = stack.mailUrl ? await saveMailDevEmails(stack.mailUrl, mailDirectory) : [];

    const engine = await openLocalEngine({ s3: stack.s3, names: stack.names });
    try {
      const sampleUser = groundTruth?.bots[0]?.user_id ?? stored.someUser ?? '';
      const queries = await stage(
        'running every named query on the local lake (DuckDB, Athena SQL unchanged)',
        () => runNamedQueries(engine, sampleUser, previewRows, context),
      );
      const checks = await stage('verifying against ground truth computed from the source CSV', async () => {
        const truth = await computeSourceTruth({ source, s3: stack.s3, windowSeconds });
        try {
          return await runChecks({
            truth,
            dynamo,
            userActivityTable: stack.names.userActivityTable,
            alertDedupeTable: stack.names.alertDedupeTable,
            engine,
            ...(groundTruth ? { groundTruth } : {}),
          });
        } finally {
          truth.dispose();
        }
      });
      // Setting up (template, emulators) is not what bounds the pipeline.
      const bound = stages
        .filter((s) => !s.name.startsWith('starting') && !s.name.startsWith('reading the stack template'))
        .sort((a, b) => b.ms - a.ms)[0];
      return {
        template,
        events: {
          read: replayed.read,
          sent: replayed.sent,
          rejected: replayed.rejected.total,
          failed: replayed.failed,
          source,
        },
        aggregates: {
          eventsCounted: EVENT_TYPES.reduce((sum, t) => sum + stored.byType[t], 0),
          byType: stored.byType,
          windows: stored.windows,
        },
        alerts: {
          ...score,
          emails,
          ...(savedMails.length > 0 ? { mailDirectory } : {}),
        },
        queries,
        verify: { passed: checks.every((c) => c.ok), checks },
        iam,
        throttles,
        onFailure,
        consumers,
        drain,
        memory: memoryPeaks(),
        stages,
        boundBy: bound ? bound.name : 'n/a',
        cores: availableParallelism(),
        workDir,
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      await engine.close();
    }
  } finally {
    dynamo.destroy();
    kinesis.destroy();
    await stack.stop();
  }
}

type Stage = <T>(
  name: string,
  work: () => Promise<T>,
  rate?: (result: T, ms: number) => string,
) => Promise<T>;

/** Runs the demo's stages one after another, printing each and keeping its wall and CPU time. */
function stageTimer(context: CommandContext): { stages: DemoSummary['stages']; stage: Stage } {
  const stages: DemoSummary['stages'] = [];
  const stage: Stage = async (name, work, rate) => {
    context.info(`${context.colours.cyan('▸')} ${name}…`);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const tree0 = processTreeCpu();
    const result = await work();
    const ms = Math.round(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    const tree = processTreeCpu();
    const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
    const allProcessesCpuMs = tree0 && tree ? cpuMsBetween(tree0, tree) : undefined;
    const figure = rate?.(result, ms);
    stages.push({
      name,
      ms,
      cpuMs,
      ...(allProcessesCpuMs !== undefined ? { allProcessesCpuMs } : {}),
      ...(figure ? { rate: figure } : {}),
    });
    context.info(`  ${context.colours.dim(`${(ms / 1000).toFixed(1)} s${figure ? ` · ${figure}` : ''}`)}`);
    return result;
  };
  return { stages, stage };
}

/** Replays the source into the events stream with the consumers running, then drains them. */
async function runPipeline(
  run: {
    stack: LocalStack;
    kinesis: KinesisClient;
    cfn: CfnTemplate;
    workDir: string;
    source: string;
    consumers: (typeof CONSUMER_MODES)[number];
  },
  stage: Stage,
  context: CommandContext,
): Promise<
  Pick<DemoSummary, 'onFailure' | 'consumers' | 'drain' | 'iam'> & {
    replayed: Awaited<ReturnType<typeof replayToStream>>;
    windowSeconds: number;
  }
> {
  const pipeline = await startLocalPipeline(run.stack, {
    workDir: run.workDir,
    template: run.cfn,
    consumers: run.consumers,
  });
  try {
    const replayed = await stage(
      'replaying S3 → Kinesis events stream (partition key category_id, --speed max) while the consumers run',
      () => replayWithProgress(run.source, run.stack, run.kinesis, run.workDir, context),
      (summary) =>
        `${summary.eventsPerSecond.toLocaleString('en-US')} events/s in ${summary.records.toLocaleString('en-US')} ${summary.aggregated ? 'KPL-aggregated ' : ''}records`,
    );
    const drain = await stage('draining: final tumbling windows, alerts, lake delivery, mail', () =>
      drainWithProgress(pipeline, context),
    );
    const runners = [pipeline.aggregator.stats(), pipeline.alerter.stats()];
    const onFailure = {
      batches: runners.reduce((sum, s) => sum + s.discardedBatches, 0),
      records: runners.reduce((sum, s) => sum + s.discardedRecords, 0),
    };
    const drained = await pipeline.progress();
    const consumers = {
      aggregator: consumerCounters(pipeline.aggregator, drained.aggregator.dynamodbCalls),
      alerter: consumerCounters(pipeline.alerter, drained.alerter.dynamodbCalls),
    };
    return {
      replayed,
      onFailure,
      consumers,
      drain,
      windowSeconds: pipeline.windowSeconds,
      iam: { checked: pipeline.iam?.checked ?? 0, denied: pipeline.iam?.denied ?? 0 },
    };
  } finally {
    await pipeline.stop();
  }
}

/** Every named query on the local lake, each printed with its first rows; user parameters get `sampleUser`. */
async function runNamedQueries(
  engine: Awaited<ReturnType<typeof openLocalEngine>>,
  sampleUser: string,
  previewRows: number,
  context: CommandContext,
): Promise<DemoSummary['queries']> {
  const results: DemoSummary['queries'] = {};
  for (const query of loadNamedQueries()) {
    const params = Object.fromEntries(query.parameters.map((p) => [p.name, sampleUser]));
    const result = await runNamedQuery(engine, query.name, params, { signal: context.signal });
    results[query.name] = result.rows;
    context.info(
      `\n${context.colours.bold(query.name)}${query.parameters.length ? context.colours.dim(` (${JSON.stringify(params)})`) : ''}`,
    );
    context.info(
      formatResult({ ...result, rows: result.rows.slice(0, previewRows) }, 'table', {
        color: context.interactive,
      }),
    );
    if (result.rows.length > previewRows)
      context.info(context.colours.dim(`… ${result.rows.length - previewRows} more rows`));
  }
  return results;
}

/** Every stream of the stack, those the limits never refused anything on too; null when they are off. */
async function streamThrottles(stack: LocalStack): Promise<StreamThrottles | null> {
  const refused = await stack.kinesisThrottles();
  if (!refused) return null;
  const none = { writes: 0, reads: 0 };
  return {
    [stack.names.eventsStream]: none,
    [stack.names.userActivityStream]: none,
    ...refused,
  };
}

async function replayWithProgress(
  source: string,
  stack: Awaited<ReturnType<typeof startLocalStack>>,
  kinesis: ReturnType<typeof createKinesisClient>,
  workDir: string,
  context: CommandContext,
) {
  // Measured in the source's megabytes, as `replay` does: its size is known before its row count.
  const bar = context.progress('replay', {
    unit: 'MB',
    fields: ['sent', 'rejected', 'retried', 'eventTime'],
  });
  try {
    return await replayToStream({
      kinesis,
      s3: stack.s3,
      streamName: stack.names.eventsStream,
      source,
      rejects: join(workDir, 'replay.rejects.csv'),
      failedOut: join(workDir, 'replay.failed.jsonl'),
      signal: context.signal,
      onProgress: (p) => {
        if (p.sourceBytes) bar.setTotal(Math.max(1, Math.round(p.sourceBytes / 1e6)));
        bar.update(Math.round(p.sourceBytesRead / 1e6), {
          sent: p.sent,
          rejected: p.rejected,
          retried: p.retried,
          eventTime: p.eventTimeMs ? new Date(p.eventTimeMs).toISOString().slice(0, 19) : '-',
        });
      },
    });
  } finally {
    bar.stop();
  }
}

/**
 * The peak RSS of this process (the CLI with the consumers, the local Firehose and DuckDB) and of every
 * process it started (the stack's process, the DynamoDB emulator), read while they all still run.
 */
function memoryPeaks(): DemoSummary['memory'] {
  const peaks = processTreePeaks(process.pid);
  if (!peaks) return null;
  return peaks
    .filter((peak) => peak.program !== 'sh') // the tethers that stop emulators with their parent
    .map((peak) => ({
      process:
        peak.pid === process.pid
          ? 'demo (CLI, consumers, Firehose, DuckDB)'
          : /^stack\.[jt]s$/.test(peak.program)
            ? 'local stack (Kinesis, S3, SNS, mail)'
            : peak.program,
      pid: peak.pid,
      peakRssMb: Math.round(peak.peakRssBytes / 2 ** 20),
    }));
}

/** How often the drain's progress is read: each read asks the SNS server for its mail counters. */
const DRAIN_PROGRESS_INTERVAL_MS = 500;

/**
 * The drain, showing what it waits for: tumbling windows still open, the aggregator's DynamoDB merges
 * (the bulk of a drain: each open window ends in one merge per user window it holds, a count no one
 * knows before it ends), the lake, and the alert mails (with the mail host's last answer while one is
 * retried, which may go on up to the SNS server's retry limit).
 */
async function drainWithProgress(pipeline: LocalPipeline, context: CommandContext): Promise<DrainTimings> {
  const bar = context.progress('draining', {
    unit: 'merges',
    fields: ['windowsOpen', 'lakeObjects', 'mail'],
  });
  const show = async () => {
    const { aggregator, alerter, lake, mail } = await pipeline.progress();
    bar.update(aggregator.dynamodbCalls, {
      windowsOpen: aggregator.openWindows + alerter.openWindows,
      lakeObjects: lake.objects,
      mail: mail.lastError
        ? `${mail.pending} waiting, mail host: ${mail.lastError}`
        : `${mail.delivered} sent, ${mail.pending} queued`,
    });
  };
  // One read at a time: on a busy machine the stack's answer can take longer than the interval.
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    show()
      .catch(() => undefined)
      .finally(() => {
        reading = false;
      });
  }, DRAIN_PROGRESS_INTERVAL_MS);
  try {
    const timings = await pipeline.drain(context.signal);
    await show();
    return timings;
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}

/** A given CSV (local file, or an S3 object read with the standard AWS chain) copied into the raw bucket. */
async function uploadSource(
  location: string,
  stack: Awaited<ReturnType<typeof startLocalStack>>,
): Promise<string> {
  const url = parseS3Url(location);
  let body: NodeJS.ReadableStream;
  if (url) {
    const remote = createS3Client();
    const object = await remote.send(new GetObjectCommand({ Bucket: url.bucket, Key: url.key }));
    body = object.Body as NodeJS.ReadableStream;
  } else {
    body = createReadStream(location);
    await new Promise<void>((ok, fail) => {
      (body as ReturnType<typeof createReadStream>)
        .once('open', () => ok())
        .once('error', (error) =>
          fail(
            new ClickstreamError(
              `cannot read --source ${location}`,
              'give a CSV file path or s3://bucket/key',
              { cause: error },
            ),
          ),
        );
    });
  }
  const key = `${RAW_EVENTS_PREFIX}${basename(url ? url.key : location)}`;
  await new Upload({
    client: stack.s3,
    params: { Bucket: stack.names.rawBucket, Key: key, Body: body as never },
  }).done();
  return `s3://${stack.names.rawBucket}/${key}`;
}

/**
 * Each function's longest invocation against its deployed timeout, which runs here unenforced: one
 * that ran past it here would have been cut off in AWS, unless AWS's services are that much faster.
 */
export function renderInvocationTimes(consumers: DemoSummary['consumers'], pc: Colours): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return Object.entries(consumers)
    .map(([name, c]) => {
      const longest = `${name} longest invocation ${seconds(c.longestInvocationMs)}`;
      if (c.timeoutMs === null) return longest;
      if (c.invocationsPastTimeout === 0) return `${longest} of its ${seconds(c.timeoutMs)} timeout`;
      return pc.yellow(
        `${longest}: ${c.invocationsPastTimeout} ran past its ${seconds(c.timeoutMs)} timeout (not enforced locally; AWS would have retried them)`,
      );
    })
    .join(' · ');
}

export function renderDemo(summary: DemoSummary, pc: Colours): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const lines: string[] = [];
  lines.push('', pc.bold('Clickstream demo: summary'));
  lines.push(
    `  template   ${summary.template.source} ${summary.template.path} · context ${formatContext(summary.template.context)}`,
  );
  lines.push(
    `  events     read ${n(summary.events.read)} · sent ${n(summary.events.sent)} · rejected ${n(summary.events.rejected)} · failed ${n(summary.events.failed)}`,
  );
  lines.push(
    `  aggregates ${n(summary.aggregates.eventsCounted)} events counted in ${n(summary.aggregates.windows)} user windows (${EVENT_TYPES.map((t) => `${t} ${n(summary.aggregates.byType[t])}`).join(', ')})`,
  );
  const a = summary.alerts;
  const score = renderAlertScore(a, pc, '             ');
  lines.push(`  alerts     ${(score[0] ?? '').trimStart()}`, ...score.slice(1));
  if (a.mailDirectory)
    lines.push(`  mail       the ${n(a.emails)} alert emails, one text file each, in ${a.mailDirectory}`);
  lines.push(`  queries    ${Object.keys(summary.queries).length} named queries ran on the local lake`);
  const failed = summary.verify.checks.filter((c) => !c.ok);
  lines.push(
    `  verify     ${summary.verify.passed ? pc.green(`passed (${summary.verify.checks.length} checks)`) : pc.red(`FAILED: ${failed.map((c) => `${c.name} expected ${c.expected} got ${c.actual}`).join('; ')}`)}`,
  );
  lines.push(
    `  iam        ${n(summary.iam.checked)} IAM decisions on the functions' calls, against their roles in the template: ${n(summary.iam.denied)} denied`,
  );
  lines.push(
    `  kinesis    ${
      summary.throttles
        ? `shard limits enforced; refused, then retried: ${Object.entries(summary.throttles)
            .map(([stream, t]) => `${stream} ${n(t.writes)} write entries, ${n(t.reads)} GetRecords calls`)
            .join(' · ')}`
        : 'shard limits off (--no-limits)'
    }`,
  );
  lines.push(`  functions  ${renderInvocationTimes(summary.consumers, pc)}`);
  lines.push(
    `  failures   ${n(summary.onFailure.batches)} batches (${n(summary.onFailure.records)} records) sent to the on-failure destinations`,
  );
  if (summary.memory)
    lines.push(
      `  memory     peak RSS: ${summary.memory.map((p) => `${p.process} ${n(p.peakRssMb)} MB`).join(' · ')}`,
    );
  lines.push(`  time       ${(summary.durationMs / 1000).toFixed(1)} s, bound by: ${summary.boundBy}`);
  for (const s of summary.stages) {
    const figures = [
      ...(s.rate ? [s.rate] : []),
      // Worth reading only where the stage ran long enough for the 10 ms CPU clock to mean something.
      ...(s.allProcessesCpuMs !== undefined && s.ms >= 1000
        ? [`${(s.allProcessesCpuMs / s.ms).toFixed(1)} of ${summary.cores} cores busy`]
        : []),
    ];
    lines.push(
      pc.dim(
        `             ${(s.ms / 1000).toFixed(1).padStart(6)} s  ${s.name}${figures.length > 0 ? ` (${figures.join(', ')})` : ''}`,
      ),
    );
  }
  lines.push(pc.dim(`  files      ${summary.workDir}`));
  return lines.join('\n');
}

export const demoCommand: CommandSpec<DemoOptions, DemoSummary> = {
  name: 'demo',
  summary: 'run the whole pipeline locally on embedded emulators and print a summary (npm run demo)',
  configure: (command: Command) =>
    addTemplateOptions(command)
      .option('--events <n>', 'events to generate', String(DEFAULT_DEMO_EVENTS))
      .option('--seed <n>', 'generator seed (same seed, same data)', '1')
      .option('--source <file|s3://bucket/key>', 'replay this Kaggle CSV instead of generated data')
      .option('--rows <n>', 'rows of each query to print', '3')
      .option(
        '--work-dir <dir>',
        'where rejects, on-failure records and ground truth go',
        '.clickstream/demo',
      )
      .option(
        '--no-limits',
        'turn off the Kinesis shard limits (writes 1 MiB and 1,000 records/s, reads 2 MB and 5 GetRecords calls/s per shard), on by default as kinesalite has none',
      )
      .option(
        '--consumers <in-process|threads>',
        "where the functions run: both in the CLI's thread, or each in a worker thread of its own as Lambda runs them apart (uses more memory; faster only with cores to spare)",
        'in-process',
      ),
  run: demo,
  render: renderDemo,
  exitCode: (summary) => (summary.verify.passed ? 0 : 1),
};
