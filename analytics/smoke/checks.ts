/**
 * The checks after the replay, each a step with its own deadline counted from the end of the replay:
 * what was sent must reach DynamoDB within a tumbling window and a batching window, the lake within
 * the Firehose buffer interval after that, and so on. Steps run one after the other, but their
 * deadlines overlap, so the whole run takes about as long as its slowest check.
 */
import {
  createCloudWatchClient,
  createDynamoClient,
  createS3Client,
  createSnsClient,
} from '../../adapters/clients.ts';
import type { RunContext } from '../../adapters/run-context.ts';
import { type AwsTarget, clientOptions } from '../../adapters/target.ts';
import { CUSTOM_METRICS } from '../../consumers/metrics.ts';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { openEngine } from '../query.ts';
import type { AlertTap } from './alert-tap.ts';
import type { SmokeStack } from './deployed-stack.ts';
import type { SmokeOptions } from './options.ts';
import {
  compareTotals,
  LAKE_TABLES,
  letsCloudWatchPublish,
  listedCustomMetrics,
  newLakeObjects,
  storedTotals,
  suspectsAmong,
  topicPolicy,
} from './probes.ts';
import { pollUntil, runStep, SkipStep, StepFailure, type StepReporter, type StepResult } from './steps.ts';

export interface GeneratedSet {
  csv: string;
  events: number;
  /** Every user with events in the set, bots included. */
  users: string[];
  /** `user|window_start` → the window's totals, as the aggregator must store them. */
  windows: ReadonlyMap<string, UserWindowTotal>;
  bots: Array<{ user_id: string; kind: string }>;
  firstEventTime: string;
  lastEventTime: string;
}

export interface AfterReplay {
  target: AwsTarget;
  stack: SmokeStack;
  set: GeneratedSet;
  tap: AlertTap | undefined;
  reporter: StepReporter;
  context: RunContext;
  options: SmokeOptions;
  /** Epoch ms: nothing this run sent can have reached the lake before. */
  replayStartedAt: number;
}

/** Margin for what the settings do not bound: a cold start, a retried batch, a busy account. */
const MARGIN_SECONDS = 120;
const POLL_MS = 2_000;
const CLOCK_SLACK_MS = 5_000;

export async function checkAfterReplay(run: AfterReplay): Promise<StepResult[]> {
  const replayedAt = Date.now();
  const { timing } = run.stack;
  const extra = seconds(run.options.extraWait, 0, '--extra-wait');
  // A window's partials leave the aggregator when its tumbling window closes, at most a batching window
  // after its last record arrived.
  const aggregated = timing.tumblingWindowSeconds + timing.maxBatchingWindowSeconds;
  const maxWait =
    run.options.maxWait === undefined
      ? Number.POSITIVE_INFINITY
      : seconds(run.options.maxWait, 0, '--max-wait');
  const deadline = (budgetSeconds: number) =>
    replayedAt + Math.min(budgetSeconds + MARGIN_SECONDS + extra, maxWait) * 1000;
  // Firehose writes an object at most its buffer interval after the object's first record
  // (https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html); user_activity records exist
  // only once aggregated.
  const lakeBudget = aggregated + timing.firehoseBufferingSeconds;
  const steps: StepResult[] = [];
  const step = async (result: Promise<StepResult>) => {
    steps.push(await result);
  };
  await step(totalsStep(run, deadline(aggregated)));
  await step(alertsStep(run, deadline(aggregated + timing.maxBatchingWindowSeconds)));
  await step(lakeStep(run, deadline(lakeBudget)));
  await step(queryStep(run, deadline(lakeBudget)));
  // ListMetrics shows a new metric up to 15 minutes after its first data point
  // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html).
  const metricsTimeout = seconds(run.options.metricsTimeout, 900, '--metrics-timeout');
  await step(metricsStep(run, replayedAt + Math.min(metricsTimeout + extra, maxWait) * 1000));
  await step(alarmTopicsStep(run));
  return steps;
}

function totalsStep(run: AfterReplay, deadlineMs: number): Promise<StepResult> {
  const { reporter, context, stack, set, target } = run;
  return runStep('totals', reporter, context.signal, async () => {
    const dynamo = createDynamoClient(clientOptions(target, 'dynamodb'));
    try {
      const { users } = set;
      const windows = set.windows.size;
      const result = await pollUntil({
        step: 'totals',
        reporter,
        signal: context.signal,
        deadlineMs,
        intervalMs: POLL_MS,
        timeout: (last) =>
          new StepFailure(
            `DynamoDB totals differ from what was sent: ${last}`,
            'check the aggregator (its logs and failure queue); --extra-wait gives it longer',
          ),
        probe: async () => {
          const compared = compareTotals(
            set.windows,
            await storedTotals(dynamo, stack.names.userActivityTable, users),
          );
          if (
            compared.counted === set.events &&
            compared.equalWindows === windows &&
            !compared.firstDifference
          )
            return { done: true, value: compared };
          const diff = compared.firstDifference ? `; first difference ${compared.firstDifference}` : '';
          return {
            done: false,
            progress: `${compared.counted.toLocaleString('en-US')} of ${set.events.toLocaleString('en-US')} events counted, ${compared.equalWindows} of ${windows} windows equal${diff}`,
          };
        },
      });
      return `DynamoDB totals equal what was sent: ${result.counted.toLocaleString('en-US')} events of ${users.length} users in ${windows} windows`;
    } finally {
      dynamo.destroy();
    }
  });
}

function alertsStep(run: AfterReplay, deadlineMs: number): Promise<StepResult> {
  const { reporter, context, set, tap } = run;
  return runStep('alerts', reporter, context.signal, async () => {
    if (!tap)
      throw new SkipStep(
        'the local stack has no SQS to subscribe to the alert topic (its alert mails go to the local mailbox)',
      );
    const bots = set.bots.map((bot) => bot.user_id);
    await pollUntil({
      step: 'alerts',
      reporter,
      signal: context.signal,
      deadlineMs,
      // Each poll is an SQS long poll of its own.
      intervalMs: 0,
      timeout: (last) =>
        new StepFailure(
          `not every bot's alert was published: ${last}`,
          "check the alerter's logs and failure queue, and the topic's key policy",
        ),
      probe: async () => {
        const seen = await tap.poll();
        const missing = set.bots.filter((bot) => !seen.has(bot.user_id));
        if (missing.length === 0) return { done: true, value: seen };
        return {
          done: false,
          progress: `${bots.length - missing.length} of ${bots.length} bots alerted; waiting for ${missing.map((bot) => `${bot.user_id} (${bot.kind})`).join(', ')}`,
        };
      },
    });
    return `an alert was published for each of the ${bots.length} bots (${set.bots.map((bot) => bot.kind).join(', ')})`;
  });
}

function lakeStep(run: AfterReplay, deadlineMs: number): Promise<StepResult> {
  const { reporter, context, stack, set, target } = run;
  return runStep('lake', reporter, context.signal, async () => {
    const s3 = createS3Client(clientOptions(target, 's3'));
    const days = daysBetween(set.firstEventTime, set.lastEventTime);
    const prefixes = LAKE_TABLES.flatMap(({ table, layout }) => days.map((day) => ({ table, layout, day })));
    try {
      // Object times are whole seconds of S3's clock, not this one's: a few seconds of slack.
      const since = run.replayStartedAt - CLOCK_SLACK_MS;
      const found = await pollUntil({
        step: 'lake',
        reporter,
        signal: context.signal,
        deadlineMs,
        intervalMs: POLL_MS * 2,
        timeout: (last) =>
          new StepFailure(
            `no new lake objects in time: ${last}`,
            'check the delivery streams (errors/ in the lake bucket, the FailedConversion alarms)',
          ),
        probe: async () => {
          const counts = await Promise.all(
            prefixes.map((p) => newLakeObjects(s3, stack.names.lakeBucket, p.layout, p.day, since)),
          );
          const empty = prefixes.filter((_, i) => counts[i] === 0);
          if (empty.length === 0)
            return { done: true, value: prefixes.map((p) => `${p.table}/dt=${p.day}/`) };
          return {
            done: false,
            progress: `waiting for ${empty.map((p) => `${p.table}/dt=${p.day}/`).join(', ')}`,
          };
        },
      });
      return `new objects under ${found.join(' and ')}`;
    } finally {
      s3.destroy();
    }
  });
}

function queryStep(run: AfterReplay, deadlineMs: number): Promise<StepResult> {
  const { reporter, context, set, target } = run;
  return runStep('query', reporter, context.signal, async () => {
    const { kind, engine } = await openEngine({}, target);
    const bots = new Set(set.bots.map((bot) => bot.user_id));
    const users = new Set(set.users);
    try {
      await pollUntil({
        step: 'query',
        reporter,
        signal: context.signal,
        deadlineMs,
        intervalMs: POLL_MS * 5,
        timeout: (last) => new StepFailure(`bot_suspects does not return exactly the injected bots: ${last}`),
        probe: async () => {
          const suspects = await suspectsAmong(engine, users, context.signal);
          const missing = [...bots].filter((user) => !suspects.has(user));
          const extra = [...suspects].filter((user) => !bots.has(user));
          if (missing.length === 0 && extra.length === 0) return { done: true, value: suspects };
          return {
            done: false,
            progress: `${bots.size - missing.length} of ${bots.size} bots returned${extra.length ? `, and ${extra.length} normal users (${extra.join(', ')})` : ''}`,
          };
        },
      });
      return `named query bot_suspects (${kind === 'athena' ? 'Athena' : 'DuckDB on the local lake'}) returns the ${bots.size} injected bots and no other user of the set`;
    } finally {
      await engine.close();
    }
  });
}

function metricsStep(run: AfterReplay, deadlineMs: number): Promise<StepResult> {
  const { reporter, context, stack, target } = run;
  return runStep('metrics', reporter, context.signal, async () => {
    if (target.mode === 'local')
      throw new SkipStep('the local stack has no CloudWatch (its consumers write no metrics)');
    const cloudwatch = createCloudWatchClient(target.region ? { region: target.region } : {});
    const expected = Object.values(CUSTOM_METRICS).map((metric) => metric.name);
    try {
      await pollUntil({
        step: 'metrics',
        reporter,
        signal: context.signal,
        deadlineMs,
        intervalMs: 30_000,
        timeout: (last) =>
          new StepFailure(
            `custom metrics missing in ${stack.metricsNamespace}: ${last}`,
            'the consumers write them as EMF log lines; check their log groups, or --metrics-timeout',
          ),
        probe: async () => {
          const listed = await listedCustomMetrics(cloudwatch, stack.metricsNamespace);
          const missing = expected.filter((name) => !listed.includes(name));
          if (missing.length === 0) return { done: true, value: listed };
          return { done: false, progress: `not listed yet: ${missing.join(', ')}` };
        },
      });
      return `custom metrics ${expected.join(', ')} exist in namespace ${stack.metricsNamespace}`;
    } finally {
      cloudwatch.destroy();
    }
  });
}

function alarmTopicsStep(run: AfterReplay): Promise<StepResult> {
  const { reporter, context, stack, target } = run;
  return runStep('alarm-topics', reporter, context.signal, async () => {
    if (target.mode === 'local')
      throw new SkipStep('no alarms run locally, and the local SNS endpoint keeps no topic policies');
    if (stack.alarmTopicArns.length === 0)
      throw new SkipStep('the stack has no alarm topic (deploy with -c alarmEmail=ADDRESS for one)');
    const sns = createSnsClient(target.region ? { region: target.region } : {});
    try {
      const closed: string[] = [];
      for (const arn of stack.alarmTopicArns) {
        if (!letsCloudWatchPublish(await topicPolicy(sns, arn), arn)) closed.push(arn);
      }
      if (closed.length > 0) {
        throw new StepFailure(
          `CloudWatch may not publish to ${closed.join(', ')}: alarm notifications would be dropped`,
          'the topic policy needs an Allow of sns:Publish for the cloudwatch.amazonaws.com service',
        );
      }
      const count = stack.alarmTopicArns.length;
      return `CloudWatch may publish to ${count === 1 ? 'the alarm topic' : `all ${count} alarm topics`}`;
    } finally {
      sns.destroy();
    }
  });
}

/** Every UTC day from the first to the last event. */
export function daysBetween(first: string, last: string): string[] {
  const days: string[] = [];
  for (let ms = Date.parse(first.slice(0, 10)); ms <= Date.parse(last.slice(0, 10)); ms += 86_400_000)
    days.push(new Date(ms).toISOString().slice(0, 10));
  return days;
}

function seconds(value: string | number | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0)
    throw new StepFailure(`${flag} must be a number of seconds, got "${value}"`);
  return number;
}
