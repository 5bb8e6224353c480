/**
 * `clickstream smoke --local` end to end: against a local stack and pipeline this test starts itself
 * (ephemeral ports, a short tumbling window passed as CDK context, as a user would), through the same
 * code path as against AWS. The checks with a local counterpart pass; those without are SKIPPED with
 * their reason, never PASS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pc from 'picocolors';
import { afterEach, expect, it } from 'vitest';
import { smoke } from '../../analytics/smoke/run.ts';
import { smokeCommand } from '../../cli/commands/smoke.ts';
import { createContext } from '../../cli/context.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { consumerOf } from '../../local/template.ts';
import { localConfig } from '../support/local-config.ts';

let stack: LocalStack | undefined;
let pipeline: LocalPipeline | undefined;
let workDir: string | undefined;

afterEach(async () => {
  await pipeline?.stop();
  await stack?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  pipeline = undefined;
  stack = undefined;
  workDir = undefined;
});

/** The result lines, in order, for seed 7 from 2026-03-01T10:00:00Z: 2,400 events, 60 users and 4 bots. */
const EXPECTED_LINES = [
  'PASS    resources    local stack: stream clickstream-events, table clickstream-user-activity, lake clickstream-lake, 0 alarm topics',
  'PASS    replay       sent 2,400 events of 64 users (4 bots) to clickstream-events',
  'PASS    totals       DynamoDB totals equal what was sent: 2,400 events of 64 users in 723 windows',
  'SKIPPED alerts       the local stack has no SQS to subscribe to the alert topic (its alert mails go to the local mailbox)',
  'PASS    lake         new objects under events/dt=2026-03-01/ and user_activity/dt=2026-03-01/',
  'PASS    query        named query bot_suspects (DuckDB on the local lake) returns the 4 injected bots and no other user of the set',
  'SKIPPED metrics      the local stack has no CloudWatch (its consumers write no metrics)',
  'SKIPPED alarm-topics no alarms run locally, and the local SNS endpoint keeps no topic policies',
];

it('smoke --local passes every check the local stack can make and skips the others with their reason', async () => {
  stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: await localConfig({ tumblingWindowSeconds: '5', maxBatchingWindowSeconds: '1' }),
  });
  workDir = mkdtempSync(join(tmpdir(), 'clickstream-smoke-test-'));
  pipeline = await startLocalPipeline(stack, { workDir });
  const aggregator = consumerOf(stack.config, 'aggregator').mapping;
  const stderr: string[] = [];
  const context = createContext({
    json: false,
    verbose: false,
    signal: new AbortController().signal,
    target: stack.target,
    stderr: Object.assign(Object.create(process.stderr), {
      isTTY: false,
      write: (text: string) => stderr.push(text),
    }),
    settings: () => {
      throw new Error('the target is the stack this test started');
    },
  });
  const summary = await smoke(
    {
      seed: 7,
      start: '2026-03-01T10:00:00Z',
      // The local stack's own timing, as it was built from the template with the context above.
      timing: {
        windowSeconds: pipeline.windowSeconds,
        tumblingWindowSeconds: aggregator.tumblingWindowInSeconds,
        maxBatchingWindowSeconds: aggregator.maximumBatchingWindowInSeconds,
        firehoseBufferingSeconds: Math.max(...stack.config.deliveries.map((d) => d.bufferingSeconds)),
      },
    },
    context,
  );

  // Each result line was written as its step ended, after the step's progress lines.
  const resultLines = stderr
    .join('')
    .split('\n')
    .filter((line) => /^(PASS|FAIL|SKIPPED) /.test(line));
  expect(resultLines).toEqual(EXPECTED_LINES);
  expect(stderr.join('')).toContain('  totals: ');
  // The summary on stdout, and as JSON.
  const rendered = smokeCommand.render?.(summary, pc.createColors(false)) ?? '';
  expect(rendered.split('\n')).toEqual([
    ...EXPECTED_LINES,
    `smoke passed (run ${summary.runId}; removed: generated files)`,
  ]);
  expect(JSON.parse(JSON.stringify(summary))).toMatchObject({
    passed: true,
    mode: 'local',
    stack: 'local stack',
    events: 2400,
    users: 64,
    bots: ['516436712', '536710655', '556984598', '577258541'],
    cleanedUp: ['generated files'],
  });
  expect(summary.steps.map(({ step, status }) => `${status} ${step}`)).toEqual([
    'PASS resources',
    'PASS replay',
    'PASS totals',
    'SKIPPED alerts',
    'PASS lake',
    'PASS query',
    'SKIPPED metrics',
    'SKIPPED alarm-topics',
  ]);
  expect(smokeCommand.exitCode?.(summary)).toBe(0);
}, 400_000);
