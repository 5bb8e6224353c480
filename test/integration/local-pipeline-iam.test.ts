/**
 * The local pipeline runs each function's calls as its role in the template: on the shipped template
 * every call is allowed; on a template whose aggregator role lost dynamodb:UpdateItem, the drain fails
 * at once, naming the function and the action, instead of retrying for ever.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../adapters/clients.ts';
import { CSV_HEADER_LINE } from '../../core/event.ts';
import { startLocalPipeline } from '../../local/pipeline.ts';
import { startLocalStack } from '../../local/stack.ts';
import { LOCAL_DEFAULT_CONTEXT, loadTemplate } from '../../local/synth.ts';
import { type CfnTemplate, localConfigFromTemplate } from '../../local/template.ts';
import { replayToStream } from '../../producer/replay.ts';

let workDir: string;
let csvPath: string;
let shipped: CfnTemplate;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'local-pipeline-iam-'));
  csvPath = join(workDir, 'events.csv');
  const rows = Array.from(
    { length: 40 },
    (_, i) =>
      `2019-10-01 00:0${i % 3}:00 UTC,${i % 5 === 0 ? 'cart' : 'view'},${1000 + i},2053013555631882655,,acme,9.99,${500 + (i % 4)},s-${i % 4}`,
  );
  writeFileSync(csvPath, `${CSV_HEADER_LINE}\n${rows.join('\n')}\n`);
  // No batching window: the run is quick; everything else as deployed.
  shipped = (await loadTemplate({ context: { ...LOCAL_DEFAULT_CONTEXT, maxBatchingWindowSeconds: '0' } }))
    .template;
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** The template with `action` taken out of every identity policy statement. */
function without(template: CfnTemplate, action: string): CfnTemplate {
  const edited = structuredClone(template);
  for (const resource of Object.values(edited.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const document = resource.Properties?.PolicyDocument as {
      Statement: Array<{ Action: string | string[] }>;
    };
    for (const statement of document.Statement)
      statement.Action = [statement.Action].flat().filter((granted) => granted !== action);
  }
  return edited;
}

async function runOn(template: CfnTemplate) {
  const stack = await startLocalStack({
    ports: 'ephemeral',
    mail: 'sink',
    config: localConfigFromTemplate(template),
  });
  const kinesis = createKinesisClient({ endpoint: stack.endpoints.kinesis, maxAttempts: 1 });
  const runDir = mkdtempSync(join(workDir, 'run-'));
  try {
    const pipeline = await startLocalPipeline(stack, { workDir: runDir, template });
    try {
      const replay = await replayToStream({
        kinesis,
        streamName: stack.names.eventsStream,
        source: csvPath,
        speed: 'max',
        rejects: join(runDir, 'rejects.csv'),
        failedOut: join(runDir, 'failed.jsonl'),
      });
      expect(replay.sent).toBe(40);
      const drained = await pipeline.drain().then(
        () => undefined,
        (error: Error) => error,
      );
      return { drained, iam: { ...pipeline.iam } };
    } finally {
      await pipeline.stop();
    }
  } finally {
    kinesis.destroy();
    await stack.stop();
  }
}

describe('IAM in the local pipeline', () => {
  it('allows every call the shipped template grants, and counts the decisions', async () => {
    const { drained, iam } = await runOn(shipped);
    expect(drained).toBeUndefined();
    expect(iam.denied).toBe(0);
    // At least: each consumer's stream read access and failure destination, and the merges.
    expect(iam.checked).toBeGreaterThan(10);
  }, 180_000);

  it('fails the drain naming the aggregator and dynamodb:UpdateItem when the role lost it', async () => {
    const { drained, iam } = await runOn(without(shipped, 'dynamodb:UpdateItem'));
    expect(drained?.name).toBe('ClickstreamError');
    expect(drained?.message).toMatch(
      /^window-aggregator was refused dynamodb:UpdateItem on arn:aws:dynamodb:[^:]+:\d+:table\/clickstream-user-activity/,
    );
    expect(iam.denied).toBeGreaterThan(0);
  }, 180_000);
});
