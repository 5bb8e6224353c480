/**
 * The whole path a user runs: a generated CSV replayed by `replayToStream` into the embedded stack,
 * the consumers run by the local pipeline, alert mails delivered over SMTP into the stack's sink.
 * Each run must leave exactly the (user, window) totals the source CSV implies, and one incident per
 * bot (an opening and a closing mail, each once, the closing one naming every rule the totals break),
 * whatever the replay speed, batch size, shard count or injected handler failures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import { computeSourceTruth, type SourceTruth } from '../../analytics/source-truth.ts';
import { scanAll } from '../../analytics/verify.ts';
import { ITEM_ATTRIBUTES, totalsOfItems } from '../../consumers/user-activity-item.ts';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { TTL_ATTRIBUTE } from '../../core/dynamo-tables.ts';
import { parseRow } from '../../core/event.ts';
import { DEFAULT_ALERT_RULES, evaluateMerged } from '../../core/rules.ts';
import { createSyntheticGenerator, type SyntheticTruth } from '../../core/synthetic.ts';
import { aggregateEvents } from '../../core/window.ts';
import type { LambdaRunnerHooks, LambdaRunnerStats } from '../../local/lambda-runner.ts';
import type { ReceivedMail } from '../../local/mail.ts';
import { startLocalPipeline } from '../../local/pipeline.ts';
import { startLocalStack } from '../../local/stack.ts';
import { type ReplaySummary, replayToStream } from '../../producer/replay.ts';
import { incidentMail, mailsPerAlert } from '../support/alert-mail.ts';
import { localConfig } from '../support/local-config.ts';

const workDir = mkdtempSync(join(tmpdir(), 'clickstream-consumers-replay-'));
const csvPath = join(workDir, 'events.csv');
// One bot of each kind needs ~2,100 events; 2 normal events/s keeps the (user, window)s, and so the
// DynamoDB merges that bound the run time, to a few hundred.
const generator = createSyntheticGenerator({ events: 2200, bots: 4, seed: 11, rate: 2 });
const csvText = [...generator.chunks()].join('');
writeFileSync(csvPath, csvText);
const groundTruth: SyntheticTruth = generator.truth;
const eventSpanSeconds = ((generator.stats.lastEventMs ?? 0) - (generator.stats.firstEventMs ?? 0)) / 1000;

interface RunOptions {
  speed: 'max' | number;
  eventShards: number;
  batchSize: number;
  hooks?: { aggregator?: LambdaRunnerHooks; alerter?: LambdaRunnerHooks };
}

interface RunResult {
  replay: ReplaySummary;
  totals: Map<string, Omit<UserWindowTotal, 'contributions'>>;
  /**
   * The stored items as they are, sets sorted, minus what depends on how the run cut the events into
   * partials (contribution ids, each partial's first/last second, the size estimate) and the TTL.
   */
  items: Map<string, Record<string, unknown>>;
  mails: readonly ReceivedMail[];
  aggregator: LambdaRunnerStats;
  alerter: LambdaRunnerStats;
  replayMs: number;
}

async function run(options: RunOptions): Promise<RunResult> {
  // Shards and batch size are CDK context, as a user would set them; no batching window keeps it quick.
  const config = await localConfig({
    eventsShards: String(options.eventShards),
    batchSize: String(options.batchSize),
    maxBatchingWindowSeconds: '0',
  });
  const stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink', config });
  const kinesis = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
  const runDir = mkdtempSync(join(workDir, 'run-'));
  try {
    const pipeline = await startLocalPipeline(stack, {
      workDir: runDir,
      ...(options.hooks ? { hooks: options.hooks } : {}),
    });
    let replay: ReplaySummary;
    const started = performance.now();
    try {
      replay = await replayToStream({
        kinesis,
        streamName: stack.names.eventsStream,
        source: csvPath,
        speed: options.speed,
        rejects: join(runDir, 'rejects.csv'),
        failedOut: join(runDir, 'failed.jsonl'),
      });
      await pipeline.drain();
    } finally {
      await pipeline.stop();
    }
    const replayMs = performance.now() - started;
    const totals = new Map<string, Omit<UserWindowTotal, 'contributions'>>();
    const items = new Map<string, Record<string, unknown>>();
    const stored = await scanAll(dynamo, stack.names.userActivityTable);
    for (const { contributions: _merged, ...total } of totalsOfItems(stored))
      totals.set(`${total.user_id}|${total.window_start}`, total);
    for (const item of stored) {
      const {
        [ITEM_ATTRIBUTES.contributions]: _ids,
        [ITEM_ATTRIBUTES.seconds]: _seconds,
        [ITEM_ATTRIBUTES.bytes]: _bytes,
        [TTL_ATTRIBUTE]: _ttl,
        ...rest
      } = item;
      items.set(
        `${String(item.user_id)}|${String(item.window_start)}`,
        Object.fromEntries(
          Object.entries(rest).map(([name, value]) => [
            name,
            value instanceof Set ? [...value].sort() : value,
          ]),
        ),
      );
    }
    return {
      replay,
      totals,
      items,
      mails: [...(stack.mailbox?.messages ?? [])],
      aggregator: pipeline.aggregator.stats(),
      alerter: pipeline.alerter.stats(),
      replayMs,
    };
  } finally {
    kinesis.destroy();
    dynamo.destroy();
    await stack.stop();
  }
}

let truth: SourceTruth;
let expectedTotals: Map<string, Omit<UserWindowTotal, 'contributions'>>;
/** Per user, the rules the merged totals break anywhere, sorted: what its closing email must name. */
let expectedRules: Map<string, string[]>;
const runs: Record<'max' | 'paced' | 'faulty', RunResult> = {} as never;
const injected = { aggregatorThrows: 0, finalFailures: 0, alerterThrows: 0 };

beforeAll(async () => {
  truth = await computeSourceTruth({ source: csvPath });
  expectedTotals = new Map(
    [...(await truth.partition(0)).windows].map(
      ([key, { contributions: _one, ...total }]) => [key, total] as const,
    ),
  );
  const events = csvText
    .trimEnd()
    .split('\n')
    .slice(1)
    .flatMap((line) => {
      const parsed = parseRow(line.split(','));
      return parsed.ok ? [parsed.event] : [];
    });
  expectedRules = new Map();
  for (const match of evaluateMerged(DEFAULT_ALERT_RULES, aggregateEvents(events).values())) {
    const rules = new Set([...(expectedRules.get(match.total.user_id) ?? []), match.rule.id]);
    expectedRules.set(match.total.user_id, [...rules].sort());
  }

  runs.max = await run({ speed: 'max', eventShards: 4, batchSize: 500 });
  // Paced by event time, compressed so the replay takes about 3 s: records trickle in, batches are small
  // and cut by the batching window instead of the batch size.
  runs.paced = await run({ speed: eventSpanSeconds / 3, eventShards: 2, batchSize: 100 });
  let finalFailed = false;
  runs.faulty = await run({
    speed: 'max',
    eventShards: 3,
    batchSize: 37,
    hooks: {
      aggregator: {
        beforeInvoke(n, event) {
          if (n === 3) {
            injected.aggregatorThrows++;
            throw new Error('injected aggregator failure');
          }
          if (event.isFinalInvokeForWindow && !finalFailed) {
            finalFailed = true;
            injected.finalFailures++;
            throw new Error('injected failure of a final window');
          }
        },
      },
      alerter: {
        beforeInvoke(n) {
          if (n === 2) {
            injected.alerterThrows++;
            throw new Error('injected alerter failure');
          }
        },
      },
    },
  });
}, 150_000);

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('replay → consumers → DynamoDB and mail, on the embedded stack', () => {
  it('replays every generated event, at max speed and paced', () => {
    for (const result of Object.values(runs)) {
      expect(result.replay).toMatchObject({ read: truth.accepted, sent: truth.accepted, failed: 0 });
      expect(result.replay.rejected.total).toBe(0);
    }
    // Paced by event time: the replay cannot finish much faster than span / speed.
    expect(runs.paced.replayMs).toBeGreaterThan(2_500);
  });

  it('stores exactly the per-(user, window) totals of the source, whatever the speed, batch size and shard count', () => {
    expect(expectedTotals.size).toBeGreaterThan(100);
    for (const [name, result] of Object.entries(runs)) {
      expect(result.totals.size, name).toBe(expectedTotals.size);
      for (const [key, total] of expectedTotals)
        expect(result.totals.get(key), `${name} ${key}`).toEqual(total);
    }
    // Beyond the totals: the same session and product ids, times and revenue in every stored item.
    expect(runs.paced.items).toEqual(runs.max.items);
    expect(runs.faulty.items).toEqual(runs.max.items);
  });

  it('mails one incident per bot: opening email, at most one follow-up, a summary naming every rule it broke', () => {
    const bots = new Map(groundTruth.bots.map((bot) => [bot.user_id, bot.kind]));
    expect(new Set(bots.values()).size).toBe(4);
    expect([...expectedRules.keys()].sort()).toEqual([...bots.keys()].sort());
    for (const [name, result] of Object.entries(runs)) {
      expect(
        [...mailsPerAlert(result.mails)].filter(([, count]) => count !== 1),
        name,
      ).toEqual([]);
      const byUser = new Map<string, Array<{ incident: string; step: string; text: string }>>();
      for (const mail of result.mails) {
        const { user, incident, step } = incidentMail(mail);
        byUser.set(user, [...(byUser.get(user) ?? []), { incident, step, text: mail.text }]);
      }
      expect([...byUser.keys()].sort(), name).toEqual([...bots.keys()].sort());
      for (const [user, mails] of byUser) {
        const label = `${name} ${bots.get(user)}`;
        expect(new Set(mails.map((m) => m.incident)).size, label).toBe(1);
        const steps = mails.map((m) => m.step);
        expect(
          steps.filter((step) => step === 'open'),
          label,
        ).toEqual(['open']);
        expect(
          steps.filter((step) => step === 'close'),
          label,
        ).toEqual(['close']);
        expect(steps.length, label).toBeLessThanOrEqual(3);
        const close = mails.find((m) => m.step === 'close')!.text;
        expect(rulesNamed(close), label).toEqual(expectedRules.get(user));
      }
    }
  });

  it('keeps totals and mails exact through injected handler failures and a failed final window', () => {
    expect(injected).toEqual({ aggregatorThrows: 1, finalFailures: 1, alerterThrows: 1 });
    expect(runs.faulty.aggregator.functionErrors).toBe(2);
    expect(runs.faulty.alerter.functionErrors).toBe(1);
    expect(runs.faulty.aggregator.discardedRecords + runs.faulty.alerter.discardedRecords).toBe(0);
    // Totals and mails of the faulty run were checked exactly above; the failures made it retry.
    expect(runs.faulty.aggregator.retries + runs.faulty.aggregator.bisections).toBeGreaterThan(0);
    expect(runs.faulty.mails.length).toBe(runs.max.mails.length);
  });
});

/** The rule ids listed under "Rules broken:" in an incident email, sorted. */
function rulesNamed(text: string): string[] {
  const section = text.slice(text.indexOf('Rules broken:'));
  const block = section.slice(0, section.indexOf('\n\n'));
  return [...block.matchAll(/^ {2}(\S+) \((?:low|medium|high|critical)\):/gm)].map((m) => m[1]!).sort();
}
