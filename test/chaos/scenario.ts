/**
 * One chaos scenario: a small generated dataset (plus a few bad rows) replayed through the local
 * pipeline on a stack under a chaos profile, drained, and checked with verify's own checks against
 * the source CSV. The tests say what to break and when; this file only runs the flow and collects
 * what the assertions need.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import { openLocalEngine } from '../../analytics/local-engine.ts';
import { computeSourceTruth, type SourceTruth } from '../../analytics/source-truth.ts';
import { readSentAlerts, runChecks, type VerifyCheck } from '../../analytics/verify.ts';
import { createJsonLogger } from '../../consumers/logger.ts';
import { CSV_HEADER_LINE, type RejectReason } from '../../core/event.ts';
import { createSyntheticGenerator, type SyntheticTruth } from '../../core/synthetic.ts';
import type { ChaosProfileName } from '../../local/chaos.ts';
import type { ReceivedMail } from '../../local/mail.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { type ReplaySummary, type ReplayToStreamOptions, replayToStream } from '../../producer/replay.ts';
import { ShardRateLimiter } from '../../producer/shards.ts';
import { incidentMail, mailsPerAlert } from '../support/alert-mail.ts';
import { localConfig } from '../support/local-config.ts';

/** Few user-windows (the DynamoDB emulators merge a few hundred partials a second), two bots to alert on. */
const DATASET = { events: 4_000, bots: 2, seed: 7, rate: 10 };

/** Bad rows mixed into the source, each with the reason the producer must count it under. */
export const BAD_ROWS: ReadonlyArray<{ line: string; reason: RejectReason }> = [
  { line: '2019-10-01 00:00:05 UTC,view,1003461,2053013555631882655,,,489.07', reason: 'column_count' },
  {
    line: '2019-13-01 00:00:05 UTC,view,1003461,2053013555631882655,,,489.07,520088904,s1',
    reason: 'bad_time',
  },
  {
    line: '2019-10-01 00:00:05 UTC,click,1003461,2053013555631882655,,,489.07,520088904,s1',
    reason: 'unknown_event_type',
  },
  { line: '2019-10-01 00:00:05 UTC,view,1003461,2053013555631882655,,,489.07,,s1', reason: 'empty_user_id' },
  {
    line: '2019-10-01 00:00:05 UTC,view,1003461,2053013555631882655,,,-3,520088904,s1',
    reason: 'bad_number',
  },
  {
    line: '2019-10-01 00:00:05 UTC,view,1003461,2053013555631882655,,br\u0000and,1.00,520088904,s1',
    reason: 'invalid_utf8',
  },
];
/** An opening quote never closed can only be the last row: it swallows everything after it. */
export const LAST_BAD_ROW = {
  line: '2019-10-01 00:00:05 UTC,view,1,2,,,1.00,5,"never closed',
  reason: 'malformed_csv',
} as const;

export function expectedRejects(): Partial<Record<RejectReason, number>> {
  const counts: Partial<Record<RejectReason, number>> = {};
  for (const { reason } of [...BAD_ROWS, LAST_BAD_ROW]) counts[reason] = (counts[reason] ?? 0) + 1;
  return counts;
}

export interface Source {
  path: string;
  /** The generated rows, in order, without header and bad rows. */
  goodLines: string[];
  groundTruth: SyntheticTruth;
}

/** Writes the CSV: generated rows with the bad rows spread through them, the unclosed quote last. */
export function writeSource(dir: string, extraLines: readonly string[] = []): Source {
  const generator = createSyntheticGenerator(DATASET);
  let text = '';
  for (const chunk of generator.chunks()) text += chunk;
  const goodLines = text.trimEnd().split('\n').slice(1);
  const lines = [...goodLines];
  for (const [i, bad] of BAD_ROWS.entries())
    lines.splice(Math.floor(((i + 1) * lines.length) / (BAD_ROWS.length + 1)), 0, bad.line);
  const path = join(dir, extraLines.length ? 'as-delivered.csv' : 'source.csv');
  // NUL marks the invalid UTF-8 byte: a JS string cannot hold one, so it is swapped for 0xFF as bytes.
  const body = [CSV_HEADER_LINE, ...lines, ...extraLines, LAST_BAD_ROW.line].join('\n');
  writeFileSync(
    path,
    Buffer.from(body, 'utf8').map((byte) => (byte === 0 ? 0xff : byte)),
  );
  return { path, goodLines, groundTruth: generator.truth };
}

export interface ScenarioContext {
  stack: LocalStack;
  pipeline: LocalPipeline;
  dir: string;
  source: Source;
}

export interface ScenarioOptions {
  profile: ChaosProfileName;
  /** CDK context the stack is synthesized with, as a user would pass it (`-c batchSize=10`). */
  context?: Readonly<Record<string, string>>;
  /** Runs the producer; default one in-process replay. */
  replay?: (context: ScenarioContext) => Promise<ReplaySummary>;
  /** Runs beside the replay (e.g. restarts an emulator once the replay is under way). */
  during?: (context: ScenarioContext, replayDone: Promise<unknown>) => Promise<void>;
  /** After the replay, before the drain (e.g. look at queued mail, then end an outage). */
  beforeDrain?: (context: ScenarioContext) => Promise<void>;
  /** The CSV verify compares with; default the source. */
  truthSource?: (context: ScenarioContext) => Promise<string>;
}

export interface ScenarioResult {
  replay: ReplaySummary;
  truth: SourceTruth;
  checks: VerifyCheck[];
  mails: readonly ReceivedMail[];
  /** Alert emails marked sent in the dedupe table, one per (incident, step). */
  alertsSent: number;
  aggregatorDiscarded: number;
  alerterDiscarded: number;
  context: ScenarioContext;
}

/** One in-process replay of the source, fast (or paced by `options`), resuming from `checkpoint` if given. */
export function replayOnce(
  context: ScenarioContext,
  options: Partial<ReplayToStreamOptions> = {},
): Promise<ReplaySummary> {
  const kinesis = createKinesisClient({ endpoint: context.stack.endpoints.kinesis, maxAttempts: 1 });
  return replayToStream({
    ...options,
    kinesis,
    streamName: context.stack.names.eventsStream,
    source: context.source.path,
    rejects: join(context.dir, 'replay.rejects.csv'),
    failedOut: join(context.dir, 'replay.failed.jsonl'),
    // The chaos proxy throttles at random, not by rate, so slowing down cannot help: a high floor keeps
    // the adaptive rate from collapsing (pacing has its own tests); this test is about what is counted.
    limiter: new ShardRateLimiter({ floorPerSecond: 2_000 }),
    backoff: { baseMs: 5, maxMs: 100 },
    maxRetries: 50,
  }).finally(() => kinesis.destroy());
}

/**
 * CHAOS_LOG=<file> writes the consumers' debug log there, one line per entry prefixed with the time
 * in ms: what to read when a profile fails (which invocation failed, which alert was sent when).
 */
const pipelineLog = process.env.CHAOS_LOG
  ? (line: string) => appendFileSync(process.env.CHAOS_LOG as string, `${Date.now()} ${line}\n`)
  : undefined;

/** Runs the scenario; `inspect` sees the result while the stack still runs (counters, mailbox). */
export async function runScenario<T>(
  options: ScenarioOptions,
  inspect: (result: ScenarioResult) => T | Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `clickstream-chaos-${options.profile}-`));
  const stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: await localConfig(options.context),
    chaos: options.profile,
  });
  let pipeline: LocalPipeline | undefined;
  const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
  try {
    const source = writeSource(dir);
    pipeline = await startLocalPipeline(stack, {
      workDir: join(dir, 'work'),
      chaos: options.profile,
      ...(pipelineLog ? { logger: createJsonLogger('debug', pipelineLog) } : {}),
    });
    const context: ScenarioContext = { stack, pipeline, dir, source };
    const replaying = (options.replay ?? replayOnce)(context);
    const during = options.during?.(
      context,
      replaying.catch(() => undefined),
    );
    const [replay] = await Promise.all([replaying, during]);
    await options.beforeDrain?.(context);
    await pipeline.drain();

    const truthSource = options.truthSource ? await options.truthSource(context) : source.path;
    const truth = await computeSourceTruth({
      source: truthSource,
      windowSeconds: pipeline.windowSeconds,
    });
    const engine = await openLocalEngine({ s3: stack.s3, names: stack.names });
    let checks: VerifyCheck[];
    try {
      checks = await runChecks({
        truth,
        dynamo,
        userActivityTable: stack.names.userActivityTable,
        alertDedupeTable: stack.names.alertDedupeTable,
        engine,
        groundTruth: source.groundTruth,
      });
    } finally {
      await engine.close();
    }
    const sent = await readSentAlerts(dynamo, stack.names.alertDedupeTable);
    return await inspect({
      replay,
      truth,
      checks,
      mails: [...(stack.mailbox?.messages ?? [])],
      alertsSent: sent.length,
      aggregatorDiscarded: pipeline.aggregator.stats().discardedRecords,
      alerterDiscarded: pipeline.alerter.stats().discardedRecords,
      context,
    });
  } finally {
    dynamo.destroy();
    await pipeline?.stop();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What every profile must keep: verify's checks all pass (nothing lost, nothing counted twice, every
 * bot kind alerted, no false alert), one mail per (incident, step) and one per email marked sent, one
 * incident per bot with an opening and a closing mail, and every row read accounted for as sent or
 * rejected by reason.
 */
export function expectExactlyOnce(result: ScenarioResult): void {
  expectVerified(result);
  const { replay } = result;
  expect(replay.read).toBe(replay.sent + replay.rejected.total + replay.failed);
  expect(replay.failed).toBe(0);
  expect(replay.rejected.byReason).toEqual(expectedRejects());
}

/** The pipeline's side of expectExactlyOnce, for runs whose producer side is checked differently. */
export function expectVerified(result: ScenarioResult): void {
  expect(result.checks.filter((check) => !check.ok)).toEqual([]);
  expect(result.checks.length).toBeGreaterThan(5);
  const perAlert = mailsPerAlert(result.mails);
  expect([...perAlert].filter(([, count]) => count !== 1)).toEqual([]);
  expect(result.alertsSent).toBeGreaterThan(0);
  expect(result.mails.length).toBe(result.alertsSent);
  const steps = new Map<string, string[]>();
  for (const mail of result.mails) {
    const { user, step } = incidentMail(mail);
    steps.set(user, [...(steps.get(user) ?? []), step].sort());
  }
  const bots = result.context.source.groundTruth.bots.map((bot) => bot.user_id).sort();
  expect([...steps.keys()].sort()).toEqual(bots);
  for (const [user, mails] of steps) expect(mails, user).toEqual(['close', 'open']);
  expect(result.truth.rejected).toBe(BAD_ROWS.length + 1);
  expect(result.aggregatorDiscarded).toBe(0);
  expect(result.alerterDiscarded).toBe(0);
}
