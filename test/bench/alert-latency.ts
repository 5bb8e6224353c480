/**
 * Alert latency on the embedded stack (docs/performance.md): from the PutRecords call carrying the event that
 * makes a user cross a default rule threshold to the alert mail's arrival in the SMTP sink. Target:
 * ≤ tumbling window + batching window + 2 s.
 *
 * The aggregator only emits partials when its tumbling window ends (isFinalInvokeForWindow), and the
 * windows align on arrival time, so the latency depends on where in the window the crossing event
 * lands: right after a window starts is the worst case (a whole window to wait). The repetitions
 * therefore spread the crossing event over the window, starting just after a boundary, so the max is
 * close to the worst case and the median to the typical one.
 *
 * pipeline.drain() is never called: the local runner must end each window on its own when the wall
 * clock passes the window end (local/lambda-runner.ts, `ended`), or when a later record arrives on the
 * shard; with background traffic both happen.
 *
 * `npx tsx test/bench/alert-latency.ts [tumblingWindowSeconds] [maxBatchingWindowSeconds] [backgroundEventsPerSecond]`
 *
 * Both windows reach the local pipeline as CDK context of the synthesized stack, as a user sets them.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { EventRecord, EventType } from '../../core/event.ts';
import { DEFAULT_ALERT_RULES } from '../../core/rules.ts';
import { startLocalPipeline } from '../../local/pipeline.ts';
import { startLocalStack } from '../../local/stack.ts';
import { localConfig } from '../local-config.ts';

export interface AlertLatencyOptions {
  /** Lambda TumblingWindowInSeconds of the aggregator (arrival-time windows). Default 5. */
  tumblingWindowSeconds?: number;
  /** MaximumBatchingWindowInSeconds of both consumers (whole seconds, as AWS takes it). Default 1. */
  maxBatchingWindowSeconds?: number;
  /** Fresh bot users, one per tumbling window. Default 5. */
  repetitions?: number;
  /** Normal background events per second on the events stream during the whole run. Default 50. */
  backgroundEventsPerSecond?: number;
  /** Progress lines (one per repetition). */
  log?: (line: string) => void;
}

export interface AlertLatencySample {
  userId: string;
  rule: string;
  /** Where in its tumbling window (arrival time) the crossing event was put, in ms after the window start. */
  offsetInWindowMs: number;
  /** Duration of the crossing event's PutRecords call. */
  putMs: number;
  /** Start of that PutRecords call → mail in the sink. */
  latencyMs: number;
  /**
   * Where the time went: tumbling-window end → the last aggregator final invocation of that window
   * (any shard), → the last alerter invocation carrying the user's partial, → the mail.
   */
  stages: {
    waitForWindowEndMs: number;
    windowEndToFinalInvokeMs: number;
    finalInvokeToAlerterMs: number;
    alerterToMailMs: number;
  };
}

export interface AlertLatencyFigures {
  tumblingWindowSeconds: number;
  maxBatchingWindowMs: number;
  /** tumbling window + batching window + 2 s. */
  targetMs: number;
  samples: AlertLatencySample[];
  medianMs: number;
  maxMs: number;
  /** targetMs / maxMs: ≥ 1 when every alert met the target. */
  headroom: number;
  backgroundEventsPerSecond: number;
  backgroundEvents: number;
  /** Mails that were not for a bot user of this run (false alerts from background traffic): expected 0. */
  unexpectedMails: number;
  /** Final invocations the aggregator runner made without drain(): windows that ended on their own. */
  aggregatorFinalInvocations: number;
}

const RULE = DEFAULT_ALERT_RULES.find((rule) => rule.id === 'events-per-window');
// A few categories, so one user's burst spreads over several shards and the rule must fire on the merged total.
const CATEGORIES = [
  '2053013555631882655',
  '2053013553559896355',
  '2053013554415534427',
  '2232732093077520756',
  '2053013563810775923',
  '2053013558920217191',
  '2053013552326770905',
  '2053013565983425517',
];

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function entry(event: EventRecord): PutRecordsRequestEntry {
  return { Data: Buffer.from(JSON.stringify(event)), PartitionKey: event.category_id };
}

let eventCount = 0;

function event(userId: string, type: EventType, n: number, session: string, eventMs: number): EventRecord {
  eventCount++;
  return {
    event_time: isoSeconds(eventMs),
    event_type: type,
    product_id: String(1_000_000 + (n % 5_000)),
    category_id: CATEGORIES[n % CATEGORIES.length] as string,
    category_code: 'electronics.smartphone',
    brand: 'samsung',
    price: 199.99,
    user_id: userId,
    user_session: session,
    event_id: `latency${eventCount.toString(36)}`,
    replayed_at: new Date().toISOString(),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export async function benchAlertLatency(options: AlertLatencyOptions = {}): Promise<AlertLatencyFigures> {
  if (!RULE) throw new Error('default rule events-per-window is missing from DEFAULT_ALERT_RULES');
  const tumblingWindowSeconds = options.tumblingWindowSeconds ?? 5;
  const maxBatchingWindowSeconds = options.maxBatchingWindowSeconds ?? 1;
  const maxBatchingWindowMs = maxBatchingWindowSeconds * 1000;
  const repetitions = options.repetitions ?? 5;
  const backgroundRate = options.backgroundEventsPerSecond ?? 50;
  const log = options.log ?? (() => undefined);
  const windowMs = tumblingWindowSeconds * 1000;
  const targetMs = windowMs + maxBatchingWindowMs + 2000;

  const workDir = await mkdtemp(join(tmpdir(), 'bench-alert-latency-'));
  const config = await localConfig({
    tumblingWindowSeconds: String(tumblingWindowSeconds),
    maxBatchingWindowSeconds: String(maxBatchingWindowSeconds),
    batchSize: '1000',
  });
  const stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink', config });
  const mailbox = stack.mailbox;
  let pipeline: Awaited<ReturnType<typeof startLocalPipeline>> | undefined;
  let backgroundEvents = 0;
  let stopBackground = false;
  let background: Promise<void> = Promise.resolve();
  try {
    if (!mailbox) throw new Error('the stack has no in-memory mailbox (mail: "sink")');
    // Timestamps for the stage breakdown, taken by the runners' invoke hooks.
    const finalInvokes = new Map<string, number>();
    const alerterInvokes = new Map<string, number>();
    pipeline = await startLocalPipeline(stack, {
      workDir,
      hooks: {
        aggregator: {
          beforeInvoke(_n, event) {
            if (event.isFinalInvokeForWindow && event.window)
              finalInvokes.set(event.window.start, Date.now());
          },
        },
        alerter: {
          beforeInvoke(_n, event) {
            const now = Date.now();
            for (const record of event.Records) {
              const text = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
              const user = /"user_id":"(9\d{8})"/.exec(text)?.[1];
              if (user) alerterInvokes.set(user, now);
            }
          },
        },
      },
    });
    const kinesis = stack.kinesis;
    const streamName = stack.names.eventsStream;

    // Normal users: a big pool, a few events each, far below every threshold.
    background = (async () => {
      const perTick = Math.max(1, Math.round(backgroundRate / 10));
      let n = 0;
      while (!stopBackground) {
        const tick = Date.now();
        const records = Array.from({ length: perTick }, () => {
          n++;
          const user = 100_000_000 + ((n * 7_919) % 50_000);
          return entry(event(String(user), n % 9 === 0 ? 'cart' : 'view', n, `bg-${user}`, tick));
        });
        await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: records }));
        backgroundEvents += records.length;
        await sleep(100 - (Date.now() - tick));
      }
    })();

    // Warm up: a first window through the whole chain (SDK clients, emulators, JIT).
    await sleep(windowMs + maxBatchingWindowMs + 1000);

    const threshold = RULE.threshold;
    const samples: AlertLatencySample[] = [];
    const botUsers = new Set<string>();
    const runId = Date.now() % 1_000_000;
    for (let rep = 0; rep < repetitions; rep++) {
      const userId = String(900_000_000 + runId * 100 + rep);
      botUsers.add(userId);
      const session = `bot-${userId}`;
      // Crossing event at 100 ms after a window boundary for the first repetition, spread over the window after.
      const offset = 100 + Math.floor(((windowMs - 600) * rep) / Math.max(1, repetitions));
      // The pre-burst goes 300 ms before, so the crossing put starts at `offset` into a fresh window.
      const now = Date.now();
      let windowStart = Math.floor(now / windowMs) * windowMs + windowMs;
      while (windowStart + offset - 300 < now + 50) windowStart += windowMs;
      await sleep(windowStart + offset - 300 - Date.now());
      const eventMs = Date.now();
      // Exactly `threshold` events: views with some carts (so views-without-cart stays quiet), one session.
      const burst = Array.from({ length: threshold }, (_, i) =>
        entry(event(userId, i % 6 === 5 ? 'cart' : 'view', rep * 1_000 + i, session, eventMs)),
      );
      const pre = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: burst }));
      if ((pre.FailedRecordCount ?? 0) > 0) throw new Error('pre-burst PutRecords had failed records');
      await sleep(windowStart + offset - Date.now());
      const mailsBefore = mailbox.messages.length;
      const putStarted = Date.now();
      const crossing = await kinesis.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: [entry(event(userId, 'view', rep * 1_000 + threshold, session, eventMs))],
        }),
      );
      const putMs = Date.now() - putStarted;
      if ((crossing.FailedRecordCount ?? 0) > 0) throw new Error('crossing PutRecords failed');
      const subjectPart = `user ${userId} `;
      let arrivedMs: number | undefined;
      const deadline = putStarted + targetMs + 30_000;
      for (let seen = mailsBefore; arrivedMs === undefined; ) {
        const remaining = deadline - Date.now();
        if (remaining <= 0)
          throw new Error(`no alert mail for bot user ${userId} within ${targetMs + 30_000} ms`);
        await mailbox.waitFor(seen + 1, remaining);
        const now = Date.now();
        for (; seen < mailbox.messages.length; seen++) {
          if (mailbox.messages[seen]?.subject.includes(subjectPart)) arrivedMs = now;
        }
      }
      const finalMs = finalInvokes.get(isoSeconds(windowStart)) ?? Number.NaN;
      const alerterMs = alerterInvokes.get(userId) ?? Number.NaN;
      const sample: AlertLatencySample = {
        userId,
        rule: RULE.id,
        offsetInWindowMs: putStarted - windowStart,
        putMs,
        latencyMs: arrivedMs - putStarted,
        stages: {
          waitForWindowEndMs: windowStart + windowMs - putStarted,
          windowEndToFinalInvokeMs: finalMs - (windowStart + windowMs),
          finalInvokeToAlerterMs: alerterMs - finalMs,
          alerterToMailMs: arrivedMs - alerterMs,
        },
      };
      samples.push(sample);
      log(
        `  alert ${rep + 1}/${repetitions}: put at +${sample.offsetInWindowMs} ms into the window → mail after ${sample.latencyMs} ms (target ${targetMs} ms; after the window end: final invoke +${sample.stages.windowEndToFinalInvokeMs}, alerter +${sample.stages.finalInvokeToAlerterMs}, mail +${sample.stages.alerterToMailMs} ms)`,
      );
    }

    // Let stray mails (a duplicate, a false alert) arrive before counting them.
    await sleep(windowMs + maxBatchingWindowMs + 1000);
    const unexpectedMails = mailbox.messages.filter(
      (mail) => ![...botUsers].some((user) => mail.subject.includes(`user ${user} `)),
    ).length;
    const latencies = samples.map((sample) => sample.latencyMs);
    const maxMs = Math.max(...latencies);
    return {
      tumblingWindowSeconds,
      maxBatchingWindowMs,
      targetMs,
      samples,
      medianMs: median(latencies),
      maxMs,
      headroom: Math.round((targetMs / maxMs) * 1000) / 1000,
      backgroundEventsPerSecond: backgroundRate,
      backgroundEvents,
      unexpectedMails,
      aggregatorFinalInvocations: pipeline.aggregator.stats().finalInvocations,
    };
  } finally {
    stopBackground = true;
    await background.catch(() => undefined);
    await pipeline?.stop().catch(() => undefined);
    await stack.stop().catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await benchAlertLatency({
    tumblingWindowSeconds: Number(process.argv[2] ?? 5),
    maxBatchingWindowSeconds: Number(process.argv[3] ?? 1),
    ...(process.argv[4] ? { backgroundEventsPerSecond: Number(process.argv[4]) } : {}),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify(figures, null, 2));
}
