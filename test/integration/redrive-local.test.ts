/**
 * `clickstream redrive` on the embedded stack, end to end: a run with injected failures of all three
 * kinds, re-driven through the CLI (`--local --json`), ends with exactly the DynamoDB totals the data
 * implies and an incident, opened and closed once each, for every user the data makes break a rule;
 * re-driving a second time changes no total and mails nothing again.
 *
 * The failures, each where the pipeline keeps it:
 * - replay through a proxy that refuses every 3rd PutRecords entry, with no retries: those events land
 *   in the failed-records file;
 * - records the aggregator cannot parse (price sent as a string, and one that is no JSON at all) land in
 *   its dead letters in the local raw bucket; the string prices are then corrected there, the other
 *   one is left as it is;
 * - records that make the aggregator fail until it is "fixed": their batches exhaust their retries and
 *   the local on-failure file gets their shard/sequence ranges; a range older than the stream's
 *   retention is added by hand;
 * - partials of one bot that make the alerter fail until it is "fixed": their user-activity ranges go
 *   to the alerter's on-failure file, and the bot gets no mail until they are re-driven.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import { sourceWindows } from '../../analytics/source-truth.ts';
import { scanAll } from '../../analytics/verify.ts';
import type { MalformedRecord } from '../../consumers/dead-letter.ts';
import { totalsOfItems } from '../../consumers/user-activity-item.ts';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { type ClickEvent, CSV_HEADER_LINE, parseRow } from '../../core/event.ts';
import { DEFAULT_ALERT_RULES, evaluateMerged } from '../../core/rules.ts';
import { createSyntheticGenerator } from '../../core/synthetic.ts';
import { aggregateEvents } from '../../core/window.ts';
import { type ChaosProxy, startKinesisChaosProxy } from '../../local/kinesis-chaos-proxy.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import type { RedriveSummary } from '../../producer/redrive.ts';
import { type ReplaySummary, replayToStream } from '../../producer/replay.ts';
import { alertKey, incidentMail, mailsPerAlert } from '../support/alert-mail.ts';
import { runMain } from '../support/cli-support.ts';
import { localConfig } from '../support/local-config.ts';

// Monotonic rules only: between the failures and the re-drive the totals are short, and a rule that
// can hold on a part and not on the whole (views without a cart, carts without a purchase) would mail
// about the part.
const RULES = DEFAULT_ALERT_RULES.filter(
  (rule) => rule.metric !== 'views_without_cart_or_purchase' && rule.metric !== 'carts_without_purchase',
);
/** Events sent malformed (price as a string), later corrected in the dead letters. */
const FIXABLE_USER = '900000001';
/** Events the aggregator fails on until it is fixed: their ranges go to the on-failure file. */
const POISON_USER = '900000002';

const dir = mkdtempSync(join(tmpdir(), 'redrive-local-'));
const workDir = join(dir, 'work');
const csvPath = join(dir, 'events.csv');
const failedFile = join(dir, 'events.failed.jsonl');
const DEAD_LETTERS = 'dead-letter/window-aggregator/';

const generator = createSyntheticGenerator({ events: 4_000, bots: 2, seed: 7, rate: 10 });
writeFileSync(csvPath, [...generator.chunks()].join(''));

/** The injected events as Kaggle rows (for the expected totals) and as record bodies (to send). */
const extra = [
  { user: FIXABLE_USER, type: 'view', second: 10, price: 12.5, id: 'redriveF1' },
  { user: FIXABLE_USER, type: 'view', second: 11, price: 12.5, id: 'redriveF2' },
  { user: FIXABLE_USER, type: 'cart', second: 12, price: 12.5, id: 'redriveF3' },
  { user: FIXABLE_USER, type: 'purchase', second: 13, price: 12.5, id: 'redriveF4' },
  { user: POISON_USER, type: 'view', second: 20, price: 3.25, id: 'redriveP1' },
  { user: POISON_USER, type: 'view', second: 21, price: 3.25, id: 'redriveP2' },
  { user: POISON_USER, type: 'purchase', second: 22, price: 3.25, id: 'redriveP3' },
];
const body = (e: (typeof extra)[number], price: number | string) =>
  JSON.stringify({
    event_time: `2019-10-01T00:00:${e.second}Z`,
    event_type: e.type,
    product_id: '1004856',
    category_id: '2053013555631882655',
    category_code: 'electronics.smartphone',
    brand: 'samsung',
    price,
    user_id: e.user,
    user_session: `s-${e.user}`,
    event_id: e.id,
    replayed_at: '2026-01-01T00:00:00.000Z',
  });
const extraCsv = join(dir, 'extra.csv');
writeFileSync(
  extraCsv,
  `${CSV_HEADER_LINE}\n${extra
    .map(
      (e) =>
        `2019-10-01 00:00:${e.second} UTC,${e.type},1004856,2053013555631882655,electronics.smartphone,samsung,${e.price},${e.user},s-${e.user}`,
    )
    .join('\n')}\n`,
);

/** A Kaggle-shaped CSV file's events (no quoted fields), for the rules' expected verdicts. */
function eventsOf(file: string): ClickEvent[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .slice(1)
    .flatMap((line) => {
      const parsed = parseRow(line.split(','));
      return parsed.ok ? [parsed.event] : [];
    });
}

type Totals = Map<string, Omit<UserWindowTotal, 'contributions'>>;

let stack: LocalStack;
let pipeline: LocalPipeline;
let proxy: ChaosProxy;
let poisoned = true;
/** A bot whose partials the alerter fails on until it is fixed (the user breaking a rule with the most events). */
let alerterPoisonUser = '';
let alerterPoisoned = true;
let replay: ReplaySummary;
let expected: Totals;
/** Users the full data makes break a rule, over any horizon: each must have an incident. */
let expectedUsers: string[];
const before: {
  totals?: Totals;
  deadLetters?: MalformedRecord[];
  ranges?: number[];
  alerterRanges?: number;
  alerterPoisonMails?: number;
} = {};
/** The alerter's queue re-driven alone, before the rest: the mails it brings can come from nothing else. */
let alerterRun: { code: number; summary: RedriveSummary; poisonUserSteps: string[] };
const runs: Array<{
  code: number;
  summary: RedriveSummary;
  stderr: string;
  totals: Totals;
  mails: string[];
}> = [];
const dynamo = () => createDynamoClient({ endpoint: stack.endpoints.dynamodb });

async function totalsNow(): Promise<Totals> {
  const client = dynamo();
  try {
    const totals: Totals = new Map();
    for (const { contributions: _merged, ...total } of totalsOfItems(
      await scanAll(client, stack.names.userActivityTable),
    ))
      totals.set(`${total.user_id}|${total.window_start}`, total);
    return totals;
  } finally {
    client.destroy();
  }
}

const mailKeys = () => (stack.mailbox?.messages ?? []).map(alertKey).sort();

async function redriveCli(): Promise<(typeof runs)[number]> {
  const ran = await runMain([
    'redrive',
    '--local',
    '--failed-records',
    failedFile,
    '--dead-letters',
    '--failure-queue',
    '--alerter-failure-queue',
    '--work-dir',
    workDir,
    '--failed-out',
    join(dir, `again-${runs.length}.failed.jsonl`),
    '--json',
  ]);
  await pipeline.drain();
  return {
    code: ran.code,
    summary: JSON.parse(ran.stdout) as RedriveSummary,
    stderr: ran.stderr,
    totals: await totalsNow(),
    mails: mailKeys(),
  };
}

/** The aggregator's and the alerter's on-failure files: the local runner names them after the template's queues. */
let failureFile: string;
let alerterFailureFile: string;

const stepsOf = (user: string) =>
  (stack.mailbox?.messages ?? []).map(incidentMail).filter((mail) => mail.user === user);

beforeAll(async () => {
  // Two events shards, no batching window, only monotonic rules: CDK context, as a user sets it.
  const config = await localConfig({
    eventsShards: '2',
    maxBatchingWindowSeconds: '0',
    alertRules: JSON.stringify(RULES),
  });
  stack = await startLocalStack({ ports: 'ephemeral', mail: 'sink', config });
  failureFile = join(workDir, `${stack.names.aggregatorFailureQueue}.jsonl`);
  alerterFailureFile = join(workDir, `${stack.names.alerterFailureQueue}.jsonl`);
  pipeline = await startLocalPipeline(stack, {
    workDir,
    hooks: {
      aggregator: {
        beforeInvoke(_n, event) {
          const poison = event.Records.some((record) =>
            Buffer.from(record.kinesis.data, 'base64').toString('latin1').includes(POISON_USER),
          );
          if (poisoned && poison) throw new Error('injected: the aggregator cannot handle this user yet');
        },
      },
      alerter: {
        beforeInvoke(_n, event) {
          const poison = event.Records.some((record) =>
            Buffer.from(record.kinesis.data, 'base64').toString('latin1').includes(`"${alerterPoisonUser}"`),
          );
          if (alerterPoisoned && poison) throw new Error('injected: the alerter cannot handle this user yet');
        },
      },
    },
  });
  const windowSeconds = pipeline.windowSeconds;
  const truth = await sourceWindows({ source: csvPath, windowSeconds });
  const extraTruth = await sourceWindows({ source: extraCsv, windowSeconds });
  expected = new Map();
  for (const [key, { contributions: _one, ...total }] of [...truth, ...extraTruth]) expected.set(key, total);
  const events = [csvPath, extraCsv].flatMap(eventsOf);
  expectedUsers = [
    ...new Set(evaluateMerged(RULES, aggregateEvents(events).values()).map((m) => m.total.user_id)),
  ].sort();
  const eventsOfUser = (user: string) => events.filter((event) => event.user_id === user).length;
  alerterPoisonUser = expectedUsers.reduce((most, user) =>
    eventsOfUser(user) > eventsOfUser(most) ? user : most,
  );

  proxy = await startKinesisChaosProxy({ upstream: stack.endpoints.kinesis, failEveryNthEntry: 3 });
  const throughProxy = createKinesisClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
  try {
    replay = await replayToStream({
      kinesis: throughProxy,
      streamName: stack.names.eventsStream,
      source: csvPath,
      maxRetries: 0,
      rejects: join(dir, 'events.rejects.csv'),
      failedOut: failedFile,
    });
  } finally {
    throughProxy.destroy();
  }
  // The injected records, one event each, keyed by category as replay keys them.
  await stack.kinesis.send(
    new PutRecordsCommand({
      StreamName: stack.names.eventsStream,
      Records: [
        ...extra.map((e) => ({
          Data: Buffer.from(body(e, e.user === FIXABLE_USER ? String(e.price) : e.price)),
          PartitionKey: '2053013555631882655',
        })),
        { Data: Buffer.from('this is not an event'), PartitionKey: '2053013555631882655' },
      ],
    }),
  );
  await pipeline.drain();
  before.totals = await totalsNow();
  before.deadLetters = [...(await deadLetterObjects()).values()].flatMap((text) =>
    text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as MalformedRecord),
  );
  before.ranges = readFileSync(failureFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).KinesisBatchInfo.batchSize as number);
  before.alerterRanges = readFileSync(alerterFailureFile, 'utf8').trim().split('\n').length;
  before.alerterPoisonMails = stepsOf(alerterPoisonUser).length;

  // The fixes: the aggregator handles the poison user now, and the string prices are corrected in the
  // dead-letter files (the record that is no JSON stays as it is).
  poisoned = false;
  alerterPoisoned = false;
  for (const [key, text] of await deadLetterObjects()) {
    const fixed = text
      .trim()
      .split('\n')
      .map((line) => {
        const letter = JSON.parse(line) as MalformedRecord;
        const data = Buffer.from(letter.data, 'base64').toString('utf8');
        if (!data.startsWith('{')) return line;
        const event = JSON.parse(data);
        const corrected = JSON.stringify({ ...event, price: Number(event.price) });
        return JSON.stringify({ ...letter, data: Buffer.from(corrected).toString('base64') });
      });
    await stack.s3.send(
      new PutObjectCommand({ Bucket: stack.names.rawBucket, Key: key, Body: `${fixed.join('\n')}\n` }),
    );
  }
  // A batch parked three days ago: past the local stream's 24 h retention.
  const streamArn = JSON.parse(readFileSync(failureFile, 'utf8').split('\n')[0] as string).KinesisBatchInfo
    .streamArn;
  const longAgo = new Date(Date.now() - 3 * 86_400_000).toISOString();
  appendFileSync(
    failureFile,
    `${JSON.stringify({
      requestContext: { condition: 'RetryAttemptsExhausted' },
      KinesisBatchInfo: {
        shardId: 'shardId-000000000000',
        startSequenceNumber: '1',
        endSequenceNumber: '2',
        approximateArrivalOfFirstRecord: longAgo,
        approximateArrivalOfLastRecord: longAgo,
        batchSize: 2,
        streamArn,
      },
    })}\n`,
  );

  // The CLI finds the stack through its state file, as it finds `clickstream local up`.
  const stateFile = join(dir, 'local-stack.json');
  writeFileSync(
    stateFile,
    JSON.stringify({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      endpoints: stack.endpoints,
      names: stack.names,
      topicArn: stack.topicArn,
    }),
  );
  process.env.CLICKSTREAM_STATE_FILE = stateFile;
  const alone = await runMain([
    'redrive',
    '--local',
    '--alerter-failure-queue',
    '--work-dir',
    workDir,
    '--json',
  ]);
  await pipeline.drain();
  alerterRun = {
    code: alone.code,
    summary: JSON.parse(alone.stdout) as RedriveSummary,
    poisonUserSteps: stepsOf(alerterPoisonUser).map((mail) => mail.step),
  };
  runs.push(await redriveCli());
  runs.push(await redriveCli());
}, 300_000);

afterAll(async () => {
  delete process.env.CLICKSTREAM_STATE_FILE;
  await pipeline?.stop();
  await proxy?.stop();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The aggregator's dead-letter objects in the local raw bucket, by key. */
async function deadLetterObjects(): Promise<Map<string, string>> {
  const listed = await stack.s3.send(
    new ListObjectsV2Command({ Bucket: stack.names.rawBucket, Prefix: DEAD_LETTERS }),
  );
  const objects = new Map<string, string>();
  for (const { Key } of listed.Contents ?? []) {
    if (!Key) continue;
    const got = await stack.s3.send(new GetObjectCommand({ Bucket: stack.names.rawBucket, Key }));
    objects.set(Key, (await got.Body?.transformToString('utf8')) ?? '');
  }
  return objects;
}

describe('redrive after a run with injected failures, on the embedded stack', () => {
  it('starts from every kind of failure: refused puts, dead letters, parked ranges', () => {
    expect(replay.failed).toBeGreaterThan(0);
    expect(replay.sent + replay.failed).toBe(replay.read);
    expect(proxy.counters.failedEntries).toBeGreaterThan(0);
    expect(before.deadLetters?.map((letter) => letter.reason).sort()).toEqual([
      'bad_field',
      'bad_field',
      'bad_field',
      'bad_field',
      'bad_json',
    ]);
    // Each poison record was bisected down to itself, retried and parked.
    expect(before.ranges?.reduce((a, b) => a + b, 0)).toBe(3);
    // So the totals are short of the data: some windows missing or smaller.
    expect(before.totals).not.toEqual(expected);
    expect([...(before.totals?.keys() ?? [])].some((key) => key.startsWith(`${POISON_USER}|`))).toBe(false);
  });

  it("re-drives the alerter's parked ranges into the user-activity stream: the bot it failed on is mailed, opened and closed", () => {
    // Before: the alerter gave up on every partial of that bot, so it had no incident.
    expect(before.alerterRanges).toBeGreaterThan(0);
    expect(before.alerterPoisonMails).toBe(0);
    expect(alerterRun.code).toBe(0);
    expect(alerterRun.summary.alerterFailureQueue).toMatchObject({
      stream: stack.names.userActivityStream,
      read: before.alerterRanges,
      resent: before.alerterRanges,
      stillFailing: 0,
      lostToRetention: 0,
      deleted: before.alerterRanges,
      kept: 0,
    });
    expect(alerterRun.summary.failureQueue).toBeUndefined();
    // Only this re-drive can have mailed it: no event was re-driven yet.
    expect(alerterRun.poisonUserSteps.filter((step) => step === 'open')).toEqual(['open']);
    expect(alerterRun.poisonUserSteps.filter((step) => step === 'close')).toEqual(['close']);
  });

  it('re-drives each source and says what it could not (exit 1: one record is no event, one range is past retention)', () => {
    const [first] = runs;
    expect(first?.code).toBe(1);
    expect(first?.summary.failedRecords).toMatchObject({
      read: replay.failed,
      resent: replay.failed,
      stillFailing: 0,
    });
    expect(first?.summary.deadLetters).toMatchObject({
      read: 5,
      resent: 4,
      stillFailing: 1,
      events: 4,
      byReason: { bad_json: 1 },
    });
    expect(first?.summary.failureQueue).toMatchObject({
      read: (before.ranges?.length ?? 0) + 1,
      resent: before.ranges?.length,
      records: 3,
      recordsResent: 3,
      lostToRetention: 1,
      recordsLost: 2,
      stillFailing: 0,
      deleted: before.ranges?.length,
      kept: 1,
      byReason: { lost_to_retention: 1 },
    });
    expect(first?.summary.complete).toBe(false);
    expect(first?.summary.failedOut).toBeUndefined();
    expect(first?.stderr).toMatch(/beyond the stream's 24 h retention: lost to retention; message kept/);
  });

  it('ends with exactly the per-(user, window) totals of all the data', () => {
    const totals = runs[0]?.totals as Totals;
    expect(expected.size).toBeGreaterThan(50);
    expect(totals.size).toBe(expected.size);
    for (const [key, total] of expected) expect(totals.get(key), key).toEqual(total);
    expect(totals.get(`${FIXABLE_USER}|2019-10-01T00:00:00Z`)).toMatchObject({
      view_count: 2,
      cart_count: 1,
      purchase_count: 1,
      total_count: 4,
      revenue: 12.5,
    });
    expect(totals.get(`${POISON_USER}|2019-10-01T00:00:00Z`)).toMatchObject({
      view_count: 2,
      purchase_count: 1,
    });
  });

  it('mails the incidents of exactly the users the full data makes break a rule, each opened and closed once', () => {
    expect(expectedUsers.length).toBeGreaterThan(0);
    const mails = stack.mailbox?.messages ?? [];
    expect([...mailsPerAlert(mails)].filter(([, count]) => count !== 1)).toEqual([]);
    const steps = new Map<string, { user: string; steps: string[] }>();
    for (const mail of mails) {
      const { incident, step, user } = incidentMail(mail);
      const entry = steps.get(incident) ?? { user, steps: [] };
      entry.steps.push(step);
      steps.set(incident, entry);
    }
    expect([...new Set([...steps.values()].map((entry) => entry.user))].sort()).toEqual(expectedUsers);
    // Each drain ends the stream, so every incident is closed; a user whose re-driven events break a
    // rule after its incident closed opens another one, which the next drain closes too.
    for (const [incident, entry] of steps) {
      expect(
        entry.steps.filter((step) => step === 'open'),
        incident,
      ).toEqual(['open']);
      expect(
        entry.steps.filter((step) => step === 'close'),
        incident,
      ).toEqual(['close']);
    }
  });

  it('keeps what it could not re-drive: the range past retention in the on-failure file, the dead letters in place', async () => {
    const left = readFileSync(failureFile, 'utf8').trim().split('\n');
    expect(left).toHaveLength(1);
    expect(JSON.parse(left[0] as string).KinesisBatchInfo.startSequenceNumber).toBe('1');
    expect(existsSync(`${failureFile}.redriving`)).toBe(false);
    expect((await deadLetterObjects()).size).toBeGreaterThan(0);
    expect(existsSync(failedFile)).toBe(true);
  });

  it('re-driving a second time changes no total and mails nothing again', () => {
    const [first, second] = runs;
    expect(second?.code).toBe(1);
    expect(second?.summary.failedRecords).toMatchObject({ read: replay.failed, resent: replay.failed });
    expect(second?.summary.deadLetters).toMatchObject({ read: 5, resent: 4, stillFailing: 1 });
    expect(second?.summary.failureQueue).toMatchObject({ read: 1, resent: 0, lostToRetention: 1, kept: 1 });
    expect(second?.summary.alerterFailureQueue).toMatchObject({ read: 0, resent: 0, deleted: 0 });
    expect(second?.totals).toEqual(first?.totals);
    expect(second?.mails).toEqual(first?.mails);
  });

  it('refuses a file that is not a failed-records file with one line and a hint, sending nothing', async () => {
    const ran = await runMain(['redrive', '--local', '--failed-records', csvPath, '--json']);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe('');
    expect(ran.stderr.trim().split('\n')).toEqual([
      `error: ${csvPath}:1 is not JSON`,
      expect.stringMatching(/^hint: pass the file replay wrote .* nothing was sent$/),
    ]);
  });
});
