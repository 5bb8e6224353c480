/**
 * `clickstream smoke`: the post-deploy smoke test (the work is in analytics/smoke/). Thin: options, the
 * rendering of its PASS / FAIL / SKIPPED lines, and exit code 1 on any FAIL.
 */
import {
  lineReporter,
  resultLine,
  SMOKE_DEFAULTS,
  type SmokeOptions,
  type SmokeSummary,
  smoke,
} from '../../analytics/smoke/run.ts';
import type { CommandSpec } from '../command.ts';

export const smokeCommand: CommandSpec<SmokeOptions, SmokeSummary> = {
  name: 'smoke',
  summary: 'post-deploy smoke test: send generated events with bots through the stack and check every part',
  configure: (command) =>
    command
      .description(
        [
          'Post-deploy smoke test. Finds the stack from its CloudFormation outputs (--local: the running local',
          'stack), replays a small generated set with injected bots into its events stream, and checks, each',
          'with a PASS, FAIL or SKIPPED line: DynamoDB totals equal what was sent; an alert was published for',
          'each bot (through a temporary SQS queue subscribed to the alert topic); new lake objects under',
          'events/dt= and user_activity/dt=; the bot_suspects named query returns the bots; the custom metrics',
          'exist; every alarm topic lets CloudWatch publish. Checks with no local counterpart are SKIPPED with',
          '--local. What it creates is removed however it ends. Exit 1 on any FAIL, 2 when it cannot run.',
          '',
          "The caller needs the stack's SmokePolicyArn policy, beside ProducerPolicyArn and AnalystPolicyArn.",
        ].join('\n'),
      )
      .summary(
        'post-deploy smoke test: send generated events with bots through the stack and check every part',
      )
      .option('--stack <name>', 'CloudFormation stack to check (AWS)', SMOKE_DEFAULTS.stack)
      .option('--events <n>', 'events to generate, bots included', String(SMOKE_DEFAULTS.events))
      .option('--bots <n>', 'injected bots (of the fast kinds first)', String(SMOKE_DEFAULTS.bots))
      .option('--seed <n>', 'generator seed (default: a fresh one per run)')
      .option('--start <iso>', 'event time of the first event (default: the current minute)')
      .option(
        '--extra-wait <seconds>',
        'added to every wait, for a slow first invocation',
        String(SMOKE_DEFAULTS.extraWait),
      )
      .option(
        '--max-wait <seconds>',
        "cap on every wait after the replay, 0 to look once (default: what the stack's settings need)",
      )
      .option(
        '--metrics-timeout <seconds>',
        'longest wait for the custom metrics (ListMetrics lists a new metric within 15 minutes)',
        String(SMOKE_DEFAULTS.metricsTimeout),
      ),
  // The step lines in stderr's colours (none unless stderr is a terminal).
  run: (options, context) =>
    smoke(
      options,
      context,
      lineReporter(context, context.colours.isColorSupported ? context.colours : undefined),
    ),
  render: (summary, colours) =>
    [
      ...summary.steps.map((step) => resultLine(step, colours.isColorSupported ? colours : undefined)),
      `${summary.passed ? colours.green('smoke passed') : colours.red('smoke failed')} (run ${summary.runId}; removed: ${summary.cleanedUp.join(', ') || 'nothing'})`,
    ].join('\n'),
  exitCode: (summary) => (summary.passed ? 0 : 1),
};
