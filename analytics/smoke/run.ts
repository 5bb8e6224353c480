/**
 * `clickstream smoke`: after a deploy, sends a small generated set with injected bots through the
 * deployed stack and checks that every part of the pipeline handled it. The same code runs against
 * the local stack (`--local`); a check with no local counterpart is SKIPPED there, with its reason.
 * Everything smoke creates (the alert queue and its subscription, the generated files) is removed
 * however the run ends, Ctrl-C included.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCloudFormationClient, createSnsClient, createSqsClient } from '../../adapters/clients.ts';
import type { RunContext } from '../../adapters/run-context.ts';
import type { AwsTarget } from '../../adapters/target.ts';
import { ClickstreamError } from '../../core/errors.ts';
import type { SyntheticTruth } from '../../core/synthetic.ts';
import { generate } from '../../producer/generate.ts';
import { replay } from '../../producer/replay.ts';
import { sourceWindows } from '../source-truth.ts';
import { type AlertTap, openAlertTap } from './alert-tap.ts';
import { checkAfterReplay, type GeneratedSet } from './checks.ts';
import { DEFAULT_TIMING, localStack, readDeployedStack, type SmokeStack } from './deployed-stack.ts';
import { SMOKE_DEFAULTS, type SmokeOptions } from './options.ts';
import { interrupted, runStep, type StepReporter, type StepResult } from './steps.ts';

export { SMOKE_DEFAULTS, type SmokeOptions } from './options.ts';

export interface SmokeSummary {
  passed: boolean;
  mode: 'aws' | 'local';
  /** Where the resources were found. */
  stack: string;
  runId: string;
  events: number;
  users: number;
  bots: string[];
  steps: StepResult[];
  /** What smoke created and removed again. */
  cleanedUp: string[];
  durationMs: number;
}

/**
 * Runs the smoke test. Each step says how it goes through `reporter`: by default as plain lines through
 * `context.info` (the CLI passes one with colours).
 */
export async function smoke(
  options: SmokeOptions,
  context: RunContext,
  reporter: StepReporter = lineReporter(context),
): Promise<SmokeSummary> {
  const started = performance.now();
  const target = await context.target();
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const steps: StepResult[] = [];
  const cleanups: Array<{ what: string; run: () => Promise<unknown> }> = [];
  const cleanedUp: string[] = [];
  let stack: SmokeStack | undefined;
  let set: GeneratedSet | undefined;
  try {
    stack = await findStack(options, target);
    steps.push(await runStep('resources', reporter, context.signal, async () => describeStack(stack!)));
    const scratch = await mkdtemp(join(tmpdir(), 'clickstream-smoke-'));
    cleanups.push({ what: 'generated files', run: () => rm(scratch, { recursive: true, force: true }) });
    set = await generateSet(options, context, scratch, stack.timing.windowSeconds);
    // Subscribed before anything is sent: SNS delivers only what is published after the subscription.
    const tap = await openTap(target, stack, set, runId);
    if (tap) cleanups.push({ what: 'alert queue and its subscription', run: () => tap.close() });
    const replayStartedAt = Date.now();
    const sent = await replayStep(stack, set, reporter, context);
    steps.push(sent);
    if (sent.status === 'PASS') {
      const run = { target, stack, set, tap, reporter, context, options, replayStartedAt };
      const checked = await checkAfterReplay(run);
      steps.push(...checked);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup.run();
        cleanedUp.push(cleanup.what);
      } catch (error) {
        context.warn(
          `could not remove the ${cleanup.what}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
  if (context.signal.aborted) throw interrupted();
  return {
    passed: steps.every((step) => step.status !== 'FAIL'),
    mode: target.mode,
    stack: stack.origin,
    runId,
    events: set.events,
    users: set.users.length,
    bots: set.bots.map((bot) => bot.user_id),
    steps,
    cleanedUp,
    durationMs: Math.round(performance.now() - started),
  };
}

/** AWS: the deployed stack's outputs. Locally: the running stack's names. */
async function findStack(options: SmokeOptions, target: AwsTarget): Promise<SmokeStack> {
  if (target.mode === 'local') return localStack(target.names, { ...DEFAULT_TIMING, ...options.timing });
  const cfn = createCloudFormationClient(target.region ? { region: target.region } : {});
  try {
    return await readDeployedStack(cfn, options.stack ?? SMOKE_DEFAULTS.stack);
  } finally {
    cfn.destroy();
  }
}

function describeStack(stack: SmokeStack): string {
  const topics = stack.alarmTopicArns.length;
  return `${stack.origin}: stream ${stack.names.eventsStream}, table ${stack.names.userActivityTable}, lake ${stack.names.lakeBucket}, ${topics} alarm topic${topics === 1 ? '' : 's'}`;
}

/** Generates the set with the project's own generator into a temp dir, and reads its ground truth. */
async function generateSet(
  options: SmokeOptions,
  context: RunContext,
  dir: string,
  windowSeconds: number,
): Promise<GeneratedSet> {
  const csv = join(dir, 'smoke.csv');
  const startMs = options.start === undefined ? Math.floor(Date.now() / 60_000) * 60_000 : undefined;
  const generated = await generate(
    {
      out: csv,
      events: options.events ?? SMOKE_DEFAULTS.events,
      bots: options.bots ?? SMOKE_DEFAULTS.bots,
      // A fresh seed and start per run: new users, new event ids, new windows and new incidents, so no
      // earlier run's data or alert claims can make this one pass.
      seed: options.seed ?? randomBytes(4).readUInt32BE(0),
      start: options.start ?? new Date(startMs as number).toISOString(),
      // A flat rate keeps the whole set within minutes of event time, and the fast bot kinds first.
      rate: 1,
      heavyShoppers: 0,
    },
    quiet(context),
  );
  const truth = JSON.parse(await readFile(generated.truth, 'utf8')) as SyntheticTruth;
  // The expected windows come from the CSV alone, folded by the aggregator's own fold (as verify does).
  const windows = await sourceWindows({ source: csv, windowSeconds });
  const users = [...new Set([...windows.values()].map((total) => total.user_id))].sort();
  return {
    csv,
    events: generated.events,
    users,
    windows,
    bots: truth.bots.map((bot) => ({ user_id: bot.user_id, kind: bot.kind })),
    firstEventTime: generated.firstEventTime ?? '',
    lastEventTime: generated.lastEventTime ?? '',
  };
}

async function openTap(
  target: AwsTarget,
  stack: SmokeStack,
  set: GeneratedSet,
  runId: string,
): Promise<AlertTap | undefined> {
  // The local stack has no SQS: the alerts step is SKIPPED there.
  if (target.mode === 'local') return undefined;
  const region = target.region ? { region: target.region } : {};
  const sqs = createSqsClient(region);
  const sns = createSnsClient(region);
  const tap = await openAlertTap({
    sqs,
    sns,
    topicArn: stack.names.alertTopic,
    botUserIds: set.bots.map((bot) => bot.user_id),
    runId,
  });
  return {
    ...tap,
    close: async () => {
      try {
        await tap.close();
      } finally {
        sqs.destroy();
        sns.destroy();
      }
    },
  };
}

async function replayStep(
  stack: SmokeStack,
  set: GeneratedSet,
  reporter: StepReporter,
  context: RunContext,
): Promise<StepResult> {
  return runStep('replay', reporter, context.signal, async () => {
    reporter.progress(
      'replay',
      `sending ${set.events.toLocaleString('en-US')} events to ${stack.names.eventsStream}`,
    );
    const summary = await replay(
      { source: set.csv, stream: stack.names.eventsStream, speed: 'max', checkpoint: false },
      quiet(context),
    );
    if (summary.interrupted) throw interrupted();
    if (summary.sent !== set.events) {
      throw new ClickstreamError(
        `sent ${summary.sent} of ${set.events} events (${summary.failed} failed, ${summary.rejected.total} rejected)`,
        'look for throttling or access errors above; `clickstream redrive` resends failed records',
      );
    }
    return `sent ${set.events.toLocaleString('en-US')} events of ${set.users.length} users (${set.bots.length} bots) to ${stack.names.eventsStream}`;
  });
}

/** The generator's and the producer's own lines are detail here: shown with --verbose only. */
function quiet(context: RunContext): RunContext {
  return { ...context, info: (message) => context.debug(message) };
}

/** Paints a word: colours when the caller has them (the CLI), none otherwise. */
type Paint = (text: string) => string;

/**
 * Progress and result lines through `context.info` as they happen; the final summary repeats the
 * results. `colours` paints them (the CLI's, on a terminal); without it the lines are plain.
 */
export function lineReporter(
  context: Pick<RunContext, 'info'>,
  colours?: { dim: Paint; green: Paint; red: Paint; yellow: Paint },
): StepReporter {
  return {
    progress: (step, message) => {
      const line = `  ${step}: ${message}…`;
      context.info(colours ? colours.dim(line) : line);
    },
    result: (result) => context.info(resultLine(result, colours)),
  };
}

export function resultLine(
  result: Pick<StepResult, 'step' | 'status' | 'detail' | 'hint'>,
  colours?: { green: Paint; red: Paint; yellow: Paint },
): string {
  const paint =
    result.status === 'PASS' ? colours?.green : result.status === 'FAIL' ? colours?.red : colours?.yellow;
  const status = result.status.padEnd(7);
  const line = `${paint ? paint(status) : status} ${result.step.padEnd(12)} ${result.detail}`;
  return result.hint ? `${line}\n${' '.repeat(21)}hint: ${result.hint}` : line;
}
