/**
 * The consumers in worker threads of their own (the demo's and `local up`'s choice) leave exactly what
 * they leave in the caller's thread: the same generated replay, on two fresh stacks with the shipped template's roles
 * enforced, gives the same totals, the same verify figures (all passing), the same alert mails and the
 * same records processed by the aggregator.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createKinesisClient } from '../../adapters/clients.ts';
import { openLocalEngine } from '../../analytics/local-engine.ts';
import { computeSourceTruth } from '../../analytics/source-truth.ts';
import { runChecks, scanAll } from '../../analytics/verify.ts';
import { totalsOfItems } from '../../consumers/user-activity-item.ts';
import { createSyntheticGenerator } from '../../core/synthetic.ts';
import { type LocalPipelineOptions, startLocalPipeline } from '../../local/pipeline.ts';
import { startLocalStack } from '../../local/stack.ts';
import { LOCAL_DEFAULT_CONTEXT, loadTemplate } from '../../local/synth.ts';
import { type CfnTemplate, localConfigFromTemplate } from '../../local/template.ts';
import { replayToStream } from '../../producer/replay.ts';

const workDir = mkdtempSync(join(tmpdir(), 'clickstream-pipeline-threads-'));
const csvPath = join(workDir, 'events.csv');
// One bot of each kind (alerts to send) in a few hundred (user, window)s, as consumers-replay uses.
const generator = createSyntheticGenerator({ events: 2200, bots: 4, seed: 11, rate: 2 });
writeFileSync(csvPath, [...generator.chunks()].join(''));

let template: CfnTemplate;
beforeAll(async () => {
  // No batching window: the run is quick; everything else as deployed.
  template = (await loadTemplate({ context: { ...LOCAL_DEFAULT_CONTEXT, maxBatchingWindowSeconds: '0' } }))
    .template;
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

async function run(consumers: NonNullable<LocalPipelineOptions['consumers']>) {
  const stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: localConfigFromTemplate(template),
  });
  const kinesis = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb });
  const runDir = mkdtempSync(join(workDir, `${consumers}-`));
  try {
    const pipeline = await startLocalPipeline(stack, { workDir: runDir, template, consumers });
    let replay: Awaited<ReturnType<typeof replayToStream>>;
    let progress: Awaited<ReturnType<typeof pipeline.progress>>;
    try {
      replay = await replayToStream({
        kinesis,
        streamName: stack.names.eventsStream,
        source: csvPath,
        speed: 'max',
        rejects: join(runDir, 'rejects.csv'),
        failedOut: join(runDir, 'failed.jsonl'),
      });
      await pipeline.drain();
      progress = await pipeline.progress();
    } finally {
      await pipeline.stop();
    }
    const truth = await computeSourceTruth({ source: csvPath, windowSeconds: pipeline.windowSeconds });
    const engine = await openLocalEngine({ s3: stack.s3, names: stack.names });
    let checks: Awaited<ReturnType<typeof runChecks>>;
    try {
      checks = await runChecks({
        truth,
        dynamo,
        userActivityTable: stack.names.userActivityTable,
        alertDedupeTable: stack.names.alertDedupeTable,
        engine,
        groundTruth: generator.truth,
      });
    } finally {
      await engine.close();
    }
    const totals = totalsOfItems(await scanAll(dynamo, stack.names.userActivityTable))
      .map(({ contributions: _ids, ...total }) => total)
      .sort((a, b) => `${a.user_id}|${a.window_start}`.localeCompare(`${b.user_id}|${b.window_start}`));
    return {
      sent: replay.sent,
      totals,
      checks: checks.map((c) => ({ name: c.name, ok: c.ok, expected: c.expected, actual: c.actual })),
      mails: (stack.mailbox?.messages ?? []).map((mail) => `${mail.to.join(',')} ${mail.subject}`).sort(),
      aggregatorRecords: pipeline.aggregator.stats().recordsProcessed,
      discarded: pipeline.aggregator.stats().discardedRecords + pipeline.alerter.stats().discardedRecords,
      lakeRecords: progress.lake.records,
      iam: { checked: pipeline.iam?.checked ?? 0, denied: pipeline.iam?.denied ?? 0 },
    };
  } finally {
    kinesis.destroy();
    dynamo.destroy();
    await stack.stop();
  }
}

describe('the consumers in worker threads', () => {
  it('leave the same totals, verify figures, mails and counts as in the caller thread', async () => {
    const threads = await run('threads');
    const inProcess = await run('in-process');

    expect(threads.sent).toBe(2_200);
    expect(threads.checks.filter((c) => !c.ok)).toEqual([]);
    expect(threads.discarded).toBe(0);
    expect(threads.iam.denied).toBe(0);
    // Each worker decides its own function's calls against its role.
    expect(threads.iam.checked).toBeGreaterThan(0);
    expect(threads.mails.length).toBeGreaterThan(0);

    expect(threads.totals).toEqual(inProcess.totals);
    expect(threads.checks).toEqual(inProcess.checks);
    expect(threads.mails).toEqual(inProcess.mails);
    expect(threads.aggregatorRecords).toBe(inProcess.aggregatorRecords);
    expect(threads.lakeRecords).toBe(inProcess.lakeRecords);
    expect(threads.sent).toBe(inProcess.sent);
  }, 600_000);

  it('refuses hooks with the consumers in threads', async () => {
    const stack = await startLocalStack({
      ports: 'ephemeral',
      mail: 'sink',
      config: localConfigFromTemplate(template),
    });
    try {
      await expect(
        startLocalPipeline(stack, {
          workDir: join(workDir, 'hooks'),
          consumers: 'threads',
          hooks: { aggregator: { beforeInvoke: () => undefined } },
        }),
      ).rejects.toThrow(/consumers: 'in-process'/);
    } finally {
      await stack.stop();
    }
  }, 120_000);
});
