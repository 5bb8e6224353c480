/**
 * End to end (docs/performance.md, "end to end"): events/s through the whole local pipeline, from the
 * replay to verified DynamoDB totals and lake, beside the ceilings of the emulators it runs on, measured
 * in the same run on the same data.
 *
 * - The pipeline: `demo()` itself (cli/commands/demo.ts), called as a library with a silent context, on
 *   a fresh embedded stack with ephemeral ports in its own temp directories. Its rate is the events
 *   sent over the replay and drain stages (replay start → every total in DynamoDB, the lake flushed,
 *   the mails gone); the demo then verifies the lot against the source CSV, and a run that fails verify
 *   fails the bench.
 * - The ceilings, on a second fresh stack started as the demo starts it (emulators isolated in a child
 *   process, the Kinesis shard limits on):
 *   - Kinesis PutRecords: the same CSV packed into 50 KiB KPL aggregates per shard of the events stream
 *     (partition key category_id, ExplicitHashKey as the producer sends them), put through the stack's
 *     Kinesis port as fast as the shard limits take them, refused entries resent after 50 ms. The
 *     hottest shard decides, as it does for the producer.
 *   - Kinesis GetRecords: the same records read back from every shard at once (10,000 a call),
 *     throttled calls made again after 50 ms.
 *   - DynamoDB merges: the first 6,000 partials the aggregator's fold makes of the same CSV
 *     (core/window.ts, flushed by state size only), merged with the aggregator's own `mergePartial` (a conditional UpdateItem)
 *     at the concurrency the pipeline uses (16 per flush, one flush per events shard at a time) and at
 *     16 alone. The ceiling it implies in events/s is the merge rate times the events per partial the
 *     pipeline's own run produced (its user-activity records).
 *   - DynamoDB, the pipeline's call mix: per partial what the pipeline must do with it, the aggregator's
 *     merge and then the alerter's consistent Query of that user's windows over the rules' horizon
 *     (consumers/user-activity-item.ts readUserWindows, the range its processor reads), at the same
 *     concurrency as the merges at the pipeline's. A merge-only ceiling counts half the calls a user
 *     window costs the pipeline; this one counts them all (the alerter's rarer claim writes aside).
 *
 *   npx tsx test/bench/end-to-end.ts [--events 30000] [--real PATH]
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import pLimit from 'p-limit';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import type { CommandContext } from '../../cli/command.ts';
import { type DemoSummary, demo } from '../../cli/commands/demo.ts';
import { createContext } from '../../cli/context.ts';
import { resolveLocalTemplate } from '../../cli/stack-template.ts';
import { readRange } from '../../consumers/bot-alerter/processor.ts';
import { mergePartial, readUserWindows } from '../../consumers/user-activity-item.ts';
import { DEFAULT_WRITE_CONCURRENCY } from '../../consumers/window-aggregator/processor.ts';
import type { UserWindowPartial } from '../../core/aggregate.ts';
import { eventId, parseRow } from '../../core/event.ts';
import { AggregateBuilder, DEFAULT_AGGREGATE_BYTES } from '../../core/kpl.ts';
import { LAMBDA_ENV } from '../../core/lambda-env.ts';
import { alertSettingsFromJson, ruleHorizons } from '../../core/rules.ts';
import { emptyWindowState, foldEvent, takePartials } from '../../core/window.ts';
import { cpuMsBetween, processTreeCpu } from '../../local/process-usage.ts';
import { startLocalStack } from '../../local/stack.ts';
import { LOCAL_DEFAULT_CONTEXT } from '../../local/synth.ts';
import { eventRecordJson } from '../../producer/batcher.ts';
import { generate } from '../../producer/generate.ts';
import { readRowChunks } from '../../producer/rows.ts';
import { loadShardMap } from '../../producer/shards.ts';

/** Per flush, as the aggregator's `writeConcurrency` defaults. */
export const MERGE_CONCURRENCY_PER_FLUSH = DEFAULT_WRITE_CONCURRENCY;
const RETRY_MS = 50;
/** Partials merged per concurrency for the DynamoDB ceiling. */
const MERGE_SAMPLE = 6_000;
const PUT_CALL_BYTES = 1024 * 1024;
const PUT_CALL_RECORDS = 500;

export interface KinesisCeiling {
  shards: number;
  events: number;
  records: number;
  bytes: number;
  /** Share of the events on the hottest shard. */
  hotShardShare: number;
  putSeconds: number;
  putEventsPerSecond: number;
  /** PutRecords entries the shard limits refused (each resent). */
  putRefused: number;
  getSeconds: number;
  getEventsPerSecond: number;
  /** GetRecords calls the shard limits refused (each made again). */
  getRefused: number;
}

export interface MergeCeiling {
  concurrency: number;
  merges: number;
  calls: number;
  seconds: number;
  mergesPerSecond: number;
  /**
   * CPU time of every process meanwhile (this one as the client, the stack's process with the
   * DynamoDB front, the emulator), per merge: what a merge alone costs the machine.
   */
  cpuMsPerMerge?: number;
}

/** Merge then the alerter's read of the same user, per partial: the pipeline's DynamoDB calls. */
export interface CallMixCeiling {
  concurrency: number;
  partials: number;
  calls: number;
  seconds: number;
  partialsPerSecond: number;
}

export interface EndToEndCase {
  key: 'generated' | 'real';
  label: string;
  source: string;
  /** The demo run. */
  sent: number;
  windows: number;
  /** Records the aggregator put on the user-activity stream (≈ partials merged). */
  partialRecords: number;
  eventsPerPartial: number;
  replaySeconds: number;
  drainSeconds: number;
  verifySeconds: number;
  demoSeconds: number;
  /** sent / (replay + drain). */
  eventsPerSecond: number;
  /** CPU time of the process the consumers run in over the replay and drain, as a share of one core. */
  consumersCoreShare: number;
  /**
   * CPU time of all the run's processes (the consumers', the stack's, the DynamoDB emulator's) over the
   * replay and drain, as a share of all the machine's cores: near 1, the pipeline kept the machine
   * busy and was bound by its CPU, not by waiting.
   */
  machineCoreShare?: number;
  cores?: number;
  /** That CPU time per partial, to set beside the merge ceiling's `cpuMsPerMerge`. */
  cpuMsPerPartial?: number;
  /**
   * The merge ceiling scaled by the CPU a merge alone costs against what a partial costs the pipeline
   * (de-aggregating, folding, the alerter's reads, the lake, the user-activity records): what the
   * machine allows the pipeline's own work, at the rate the ceiling's run used it.
   */
  cpuAdjustedCeilingEventsPerSecond?: number;
  ratioToCpuAdjusted?: number;
  verifyPassed: boolean;
  failedChecks: string[];
  boundBy: string;
  stages: DemoSummary['stages'];
  throttles: DemoSummary['throttles'];
  consumers: DemoSummary['consumers'];
  drain: DemoSummary['drain'];
  onFailure: DemoSummary['onFailure'];
  /** The ceilings, on a second stack. */
  kinesis: KinesisCeiling;
  merges: MergeCeiling[];
  /** Partials of the offline fold used for the merge ceiling. */
  foldPartials: number;
  /** Merges/s at the pipeline's concurrency × the pipeline's events per partial. */
  mergeCeilingEventsPerSecond: number;
  callMix: CallMixCeiling;
  /** Merge-and-read partials/s at the pipeline's concurrency × the pipeline's events per partial. */
  callMixCeilingEventsPerSecond: number;
  /** The pipeline against the call-mix ceiling (the run's other ratio is against the lowest one). */
  ratioToCallMix: number;
  /** The lowest of the three ceilings, in events/s, and which it is. */
  ceilingEventsPerSecond: number;
  ceilingName: string;
  ratio: number;
}

export interface EndToEndFigures {
  cases: EndToEndCase[];
  /** Why a case did not run (the real sample absent). */
  skipped: Array<{ key: string; reason: string }>;
}

function silentContext(signal: AbortSignal): CommandContext {
  const context = createContext({
    json: true,
    verbose: false,
    signal,
    settings: () => {
      throw new Error('the bench runs on its own local stacks only');
    },
  });
  return { ...context, info: () => undefined, warn: () => undefined };
}

interface PreparedData {
  events: number;
  /** Events per shard index of the events stream, as KPL aggregates with their event counts. */
  shards: Array<{
    shardId: string;
    explicitHashKey: string;
    aggregates: Array<{ data: Buffer; key: string; events: number }>;
  }>;
  partials: UserWindowPartial[];
}

/** Packs the CSV as the producer does and folds it as the aggregator does. */
async function prepare(
  file: string,
  shardMap: Awaited<ReturnType<typeof loadShardMap>>,
  windowSeconds: number,
): Promise<PreparedData> {
  const replayedAt = new Date().toISOString();
  const shards = shardMap.shards.map((shard) => ({
    explicitHashKey: shard.startingHashKey.toString(),
    aggregates: [] as Array<{ data: Buffer; key: string; events: number }>,
    builder: new AggregateBuilder(),
    firstKey: '',
    state: emptyWindowState(windowSeconds),
    id: shard.shardId,
  }));
  const partials: UserWindowPartial[] = [];
  type Shard = (typeof shards)[number];
  const close = (shard: Shard) => {
    if (shard.builder.count === 0) return;
    const events = shard.builder.count;
    shard.aggregates.push({ data: Buffer.from(shard.builder.build()), key: shard.firstKey, events });
    shard.builder = new AggregateBuilder();
  };
  const flush = (shard: Shard) => {
    for (const partial of takePartials(shard.state, shard.id)) partials.push(partial);
    shard.state = emptyWindowState(windowSeconds);
  };
  let events = 0;
  let position = 0;
  for await (const chunk of readRowChunks(createReadStream(file))) {
    for (const fields of chunk.rows) {
      const parsed = parseRow(fields);
      if (!parsed.ok) continue;
      events++;
      const key = parsed.event.category_id;
      const shard = shards[shardMap.shardOf(key)] as Shard;
      const id = eventId('bench', events);
      const json = eventRecordJson(parsed.event, id, replayedAt);
      const bytes = Buffer.byteLength(json);
      if (
        shard.builder.count > 0 &&
        shard.builder.size + shard.builder.sizeOf(key, bytes) > DEFAULT_AGGREGATE_BYTES
      )
        close(shard);
      if (shard.builder.count === 0) shard.firstKey = key;
      shard.builder.add(key, json, bytes);
      if (foldEvent(shard.state, parsed.event, parsed.eventMs, String(position++), undefined, id))
        flush(shard);
    }
  }
  for (const shard of shards) {
    close(shard);
    flush(shard);
  }
  return {
    events,
    shards: shards.map(({ id, explicitHashKey, aggregates }) => ({
      shardId: id,
      explicitHashKey,
      aggregates,
    })),
    partials,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isThrottle(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  return name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException';
}

async function kinesisCeiling(
  kinesis: KinesisClient,
  streamName: string,
  data: PreparedData,
): Promise<KinesisCeiling> {
  let putRefused = 0;
  const putStarted = performance.now();
  // One sender per shard, 1 MiB calls, as the producer sends; what the limits refuse goes again.
  await Promise.all(
    data.shards.map(async (shard) => {
      const pending = shard.aggregates.map(
        (aggregate): PutRecordsRequestEntry => ({
          Data: aggregate.data,
          PartitionKey: aggregate.key,
          ExplicitHashKey: shard.explicitHashKey,
        }),
      );
      while (pending.length > 0) {
        const call: PutRecordsRequestEntry[] = [];
        let bytes = 0;
        while (pending.length > 0 && call.length < PUT_CALL_RECORDS) {
          const next = pending[0] as PutRecordsRequestEntry;
          const size = (next.Data as Buffer).length + (next.PartitionKey ?? '').length;
          if (call.length > 0 && bytes + size > PUT_CALL_BYTES) break;
          call.push(pending.shift() as PutRecordsRequestEntry);
          bytes += size;
        }
        let result: PutRecordsCommandOutput;
        try {
          result = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: call }));
        } catch (error) {
          if (!isThrottle(error)) throw error;
          putRefused += call.length;
          pending.unshift(...call);
          await sleep(RETRY_MS);
          continue;
        }
        const refused = call.filter((_, i) => result.Records?.[i]?.ErrorCode);
        if (refused.length > 0) {
          putRefused += refused.length;
          pending.unshift(...refused);
          await sleep(RETRY_MS);
        }
      }
    }),
  );
  const putSeconds = (performance.now() - putStarted) / 1000;

  let getRefused = 0;
  const getStarted = performance.now();
  await Promise.all(
    data.shards.map(async (shard) => {
      const shardId = shard.shardId;
      const expected = shard.aggregates.length;
      const { ShardIterator } = await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      let iterator = ShardIterator;
      let read = 0;
      while (read < expected && iterator) {
        try {
          const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
          read += page.Records?.length ?? 0;
          iterator = page.NextShardIterator;
        } catch (error) {
          if (!isThrottle(error)) throw error;
          getRefused++;
          await sleep(RETRY_MS);
        }
      }
      if (read < expected) throw new Error(`${shardId}: read ${read} of ${expected} records back`);
    }),
  );
  const getSeconds = (performance.now() - getStarted) / 1000;
  const perShard = data.shards.map((s) => s.aggregates.reduce((n, a) => n + a.events, 0));
  return {
    shards: data.shards.length,
    events: data.events,
    records: data.shards.reduce((n, s) => n + s.aggregates.length, 0),
    bytes: data.shards.reduce((n, s) => n + s.aggregates.reduce((m, a) => m + a.data.length, 0), 0),
    hotShardShare: Math.max(...perShard) / data.events,
    putSeconds,
    putEventsPerSecond: data.events / putSeconds,
    putRefused,
    getSeconds,
    getEventsPerSecond: data.events / getSeconds,
    getRefused,
  };
}

async function mergeCeiling(
  endpoint: string,
  tableName: string,
  partials: UserWindowPartial[],
  concurrency: number,
): Promise<MergeCeiling> {
  const dynamo = createDynamoClient({ endpoint });
  try {
    const expiresAt = Math.floor(Date.now() / 1000) + 86_400;
    const limit = pLimit(concurrency);
    let calls = 0;
    const cpuBefore = processTreeCpu();
    const started = performance.now();
    // Users of their own per concurrency, so each run writes fresh items as the pipeline does.
    await Promise.all(
      partials.map((partial) =>
        limit(async () => {
          const result = await mergePartial(
            dynamo,
            tableName,
            { ...partial, user_id: `c${concurrency}-${partial.user_id}` },
            expiresAt,
          );
          calls += result.calls;
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = processTreeCpu();
    return {
      concurrency,
      merges: partials.length,
      calls,
      seconds,
      mergesPerSecond: partials.length / seconds,
      ...(cpuBefore && cpuAfter
        ? { cpuMsPerMerge: cpuMsBetween(cpuBefore, cpuAfter) / partials.length }
        : {}),
    };
  } finally {
    dynamo.destroy();
  }
}

async function callMixCeiling(
  endpoint: string,
  tableName: string,
  partials: UserWindowPartial[],
  concurrency: number,
  horizonMinutes: number,
): Promise<CallMixCeiling> {
  const dynamo = createDynamoClient({ endpoint });
  try {
    const expiresAt = Math.floor(Date.now() / 1000) + 86_400;
    const limit = pLimit(concurrency);
    let calls = 0;
    const started = performance.now();
    // Users of their own, apart from the merge ceilings' items, so each merge writes fresh items.
    await Promise.all(
      partials.map((partial) =>
        limit(async () => {
          const userId = `mix${concurrency}-${partial.user_id}`;
          const result = await mergePartial(dynamo, tableName, { ...partial, user_id: userId }, expiresAt);
          const { readFrom, readTo } = readRange(new Set([partial.window_start]), horizonMinutes);
          await readUserWindows(dynamo, tableName, userId, readFrom, readTo);
          calls += result.calls + 1;
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      concurrency,
      partials: partials.length,
      calls,
      seconds,
      partialsPerSecond: partials.length / seconds,
    };
  } finally {
    dynamo.destroy();
  }
}

/** The emulators' ceilings for this CSV, on a fresh stack started as the demo starts it. */
async function measureCeilings(
  file: string,
  eventsShards: number,
  log: (line: string) => void,
  context: CommandContext,
) {
  const { config } = await resolveLocalTemplate({}, context, {
    defaults: LOCAL_DEFAULT_CONTEXT,
    consumers: true,
  });
  const stack = await startLocalStack({ ports: 'ephemeral', isolate: true, config, kinesisLimits: true });
  const kinesis = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  try {
    const shardMap = await loadShardMap(kinesis, stack.names.eventsStream);
    const windowSeconds = config.functions.find((fn) => fn.handler === 'aggregator')?.environment[
      LAMBDA_ENV.windowSeconds
    ];
    // The alerter reads one longest horizon of the rules its environment sets on each side.
    const alerterRules = config.functions.find((fn) => fn.handler === 'alerter')?.environment[
      LAMBDA_ENV.alertRules
    ];
    const horizonMinutes = Math.max(
      ...ruleHorizons(alertSettingsFromJson(alerterRules, LAMBDA_ENV.alertRules).rules),
    );
    const data = await prepare(file, shardMap, Number(windowSeconds ?? 60));
    const k = await kinesisCeiling(kinesis, stack.names.eventsStream, data);
    log(
      `      Kinesis through the stack (limits on, ${k.shards} shards, hottest ${(k.hotShardShare * 100).toFixed(0)}%): put ${fmt(k.putEventsPerSecond)} events/s, get ${fmt(k.getEventsPerSecond)} events/s`,
    );
    const merges: MergeCeiling[] = [];
    // A sample of the partials keeps the bench short; the rate does not depend on how many.
    const sample = data.partials.slice(0, MERGE_SAMPLE);
    for (const concurrency of [MERGE_CONCURRENCY_PER_FLUSH, MERGE_CONCURRENCY_PER_FLUSH * eventsShards]) {
      const m = await mergeCeiling(
        stack.endpoints.dynamodb,
        stack.names.userActivityTable,
        sample,
        concurrency,
      );
      merges.push(m);
      log(
        `      DynamoDB merges at ${concurrency} in flight: ${fmt(m.mergesPerSecond)}/s (${fmt(m.merges)}${m.cpuMsPerMerge === undefined ? '' : `, ${m.cpuMsPerMerge.toFixed(2)} ms of CPU each, all processes`})`,
      );
    }
    const atPipeline = merges[merges.length - 1] as MergeCeiling;
    const callMix = await callMixCeiling(
      stack.endpoints.dynamodb,
      stack.names.userActivityTable,
      sample,
      atPipeline.concurrency,
      horizonMinutes,
    );
    log(
      `      DynamoDB merge + the alerter's read per partial at ${callMix.concurrency} in flight: ${fmt(callMix.partialsPerSecond)} partials/s (${fmt(callMix.calls)} calls)`,
    );
    return { kinesis: k, merges, callMix, foldPartials: data.partials.length };
  } finally {
    kinesis.destroy();
    await stack.stop();
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const formatShare = (ratio: number) => ratio.toFixed(2);

async function runCase(
  key: EndToEndCase['key'],
  label: string,
  options: { events?: number; source?: string },
  log: (line: string) => void,
): Promise<EndToEndCase> {
  const dir = mkdtempSync(join(tmpdir(), `bench-e2e-${key}-`));
  const context = silentContext(new AbortController().signal);
  try {
    let file = options.source;
    if (!file) {
      // The very CSV the demo generates (same generator, events and seed), for the ceilings.
      file = join(dir, 'generated.csv');
      await generate(
        { events: String(options.events), seed: '1', out: file, truth: join(dir, 'generated.truth.json') },
        context,
      );
    }
    log(`    ${label}: ceilings`);
    const ceilings = await measureCeilings(file, 2, log, context);
    log(`    ${label}: demo`);
    const summary = await demo(
      {
        ...(options.source ? { source: options.source } : { events: String(options.events), seed: '1' }),
        workDir: join(dir, 'demo'),
        rows: '1',
      },
      context,
    );
    const stageMs = (prefix: string) =>
      summary.stages.filter((s) => s.name.startsWith(prefix)).reduce((n, s) => n + s.ms, 0);
    const replaySeconds = stageMs('replaying') / 1000;
    const drainSeconds = stageMs('draining') / 1000;
    const pipelineStages = summary.stages.filter(
      (s) => s.name.startsWith('replaying') || s.name.startsWith('draining'),
    );
    // The consumers run in this process (in its thread, or each in a worker thread with --consumers
    // threads): its CPU time, all threads together, over the replay and drain, as a share of one core.
    const consumersCoreShare =
      pipelineStages.reduce((n, s) => n + s.cpuMs, 0) / 1000 / (replaySeconds + drainSeconds);
    // Every process of the run: the consumers', the stack's and the emulator's.
    const allProcessesCpuMs = pipelineStages.every((s) => s.allProcessesCpuMs !== undefined)
      ? pipelineStages.reduce((n, s) => n + (s.allProcessesCpuMs ?? 0), 0)
      : undefined;
    const verifySeconds = stageMs('verifying') / 1000;
    const sent = summary.events.sent;
    const partialRecords = summary.consumers.alerter.recordsProcessed;
    const eventsPerPartial = sent / Math.max(1, partialRecords);
    const eventsPerSecond = sent / (replaySeconds + drainSeconds);
    const atPipeline = ceilings.merges[ceilings.merges.length - 1] as MergeCeiling;
    const mergeCeilingEventsPerSecond = atPipeline.mergesPerSecond * eventsPerPartial;
    const callMixCeilingEventsPerSecond = ceilings.callMix.partialsPerSecond * eventsPerPartial;
    const candidates: Array<[string, number]> = [
      ['Kinesis PutRecords (shard limits)', ceilings.kinesis.putEventsPerSecond],
      ['Kinesis GetRecords (shard limits)', ceilings.kinesis.getEventsPerSecond],
      [`DynamoDB merges at ${atPipeline.concurrency} in flight`, mergeCeilingEventsPerSecond],
    ];
    const [ceilingName, ceilingEventsPerSecond] = candidates.sort((a, b) => a[1] - b[1])[0] as [
      string,
      number,
    ];
    const cpuFigures = (): Partial<EndToEndCase> => {
      if (allProcessesCpuMs === undefined) return {};
      const cpuMsPerPartial = allProcessesCpuMs / Math.max(1, partialRecords);
      const figures = {
        machineCoreShare: allProcessesCpuMs / 1000 / (replaySeconds + drainSeconds) / summary.cores,
        cores: summary.cores,
        cpuMsPerPartial,
      };
      if (atPipeline.cpuMsPerMerge === undefined) return figures;
      const cpuAdjusted = mergeCeilingEventsPerSecond * (atPipeline.cpuMsPerMerge / cpuMsPerPartial);
      return {
        ...figures,
        cpuAdjustedCeilingEventsPerSecond: cpuAdjusted,
        ratioToCpuAdjusted: eventsPerSecond / cpuAdjusted,
      };
    };
    const result: EndToEndCase = {
      key,
      label,
      source: options.source ?? `demo generator, ${fmt(options.events ?? 0)} events, seed 1`,
      sent,
      windows: summary.aggregates.windows,
      partialRecords,
      eventsPerPartial,
      replaySeconds,
      drainSeconds,
      verifySeconds,
      demoSeconds: summary.durationMs / 1000,
      eventsPerSecond,
      verifyPassed: summary.verify.passed,
      failedChecks: summary.verify.checks
        .filter((c) => !c.ok)
        .map((c) => `${c.name}: expected ${c.expected}, got ${c.actual}`),
      boundBy: summary.boundBy,
      stages: summary.stages,
      throttles: summary.throttles,
      consumers: summary.consumers,
      drain: summary.drain,
      onFailure: summary.onFailure,
      ...ceilings,
      mergeCeilingEventsPerSecond,
      callMixCeilingEventsPerSecond,
      ratioToCallMix: eventsPerSecond / callMixCeilingEventsPerSecond,
      ceilingEventsPerSecond,
      ceilingName,
      ratio: eventsPerSecond / ceilingEventsPerSecond,
      consumersCoreShare,
      ...cpuFigures(),
    };
    log(
      `      pipeline: ${fmt(sent)} events, replay ${replaySeconds.toFixed(1)} s + drain ${drainSeconds.toFixed(1)} s = ${fmt(eventsPerSecond)} events/s; verify ${summary.verify.passed ? 'passed' : 'FAILED'}; ${fmt(partialRecords)} partials (${eventsPerPartial.toFixed(2)} events each); the consumers' process used ${consumersCoreShare.toFixed(2)} of a core meanwhile${result.machineCoreShare === undefined ? '' : `, all the run's processes ${formatShare(result.machineCoreShare)} of the machine's ${result.cores} cores (${result.cpuMsPerPartial?.toFixed(2)} ms of CPU a partial, against ${atPipeline.cpuMsPerMerge?.toFixed(2)} for a merge alone)`}; ${formatShare(result.ratioToCallMix)} of the call-mix ceiling (${fmt(callMixCeilingEventsPerSecond)} events/s); DynamoDB calls per partial: pipeline ${((summary.consumers.aggregator.dynamodbCalls + summary.consumers.alerter.dynamodbCalls) / Math.max(1, partialRecords)).toFixed(2)}, call-mix ceiling ${(ceilings.callMix.calls / ceilings.callMix.partials).toFixed(2)}`,
    );
    if (!summary.verify.passed) throw new Error(`${label}: verify failed: ${result.failedChecks.join('; ')}`);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchEndToEnd(options: {
  events: number;
  /** The real Kaggle sample; absent or missing: that case is skipped with the reason. */
  realSource?: string;
  realMissingReason?: string;
  log: (line: string) => void;
}): Promise<EndToEndFigures> {
  const cases: EndToEndCase[] = [];
  const skipped: EndToEndFigures['skipped'] = [];
  cases.push(
    await runCase(
      'generated',
      `generated, ${fmt(options.events)} events`,
      { events: options.events },
      options.log,
    ),
  );
  if (options.realSource) {
    cases.push(await runCase('real', 'real Kaggle sample', { source: options.realSource }, options.log));
  } else {
    const reason = options.realMissingReason ?? 'no real sample given';
    skipped.push({ key: 'real', reason });
    options.log(`    real Kaggle sample: skipped (${reason})`);
  }
  return { cases, skipped };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '30000' }, real: { type: 'string' } },
  });
  const figures = await benchEndToEnd({
    events: Number(values.events),
    ...(values.real ? { realSource: values.real } : {}),
    log: console.log,
  });
  console.log(JSON.stringify(figures, null, 2));
  process.exit(0);
}
