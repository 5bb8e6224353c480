/**
 * Bundles both Lambda entry points through the real NodejsFunction bundling (local esbuild, no Docker)
 * and checks what went into each bundle, via its source map.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../infra/config.ts';
import { PipelineStack } from '../../infra/pipeline-stack.ts';
import { CDK_JSON_CONTEXT } from '../support/infra-context.ts';

let outdir: string;
const bundles: Record<string, { code: number; sources: string[] }> = {};

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'infra-bundle-'));
  // No cdk-nag and no template validation here: infra-stack.test.ts covers them; this synth is for assets.
  const app = new App({
    outdir,
    context: { ...CDK_JSON_CONTEXT, '@aws-cdk/core:validateAgainstDefaultRules': false },
  });
  const stack = new PipelineStack(app, 'Bundle', { config: parseConfig({}) });
  const assembly = app.synth();
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, probed by path
  const resources = assembly.getStackByName('Bundle').template.Resources as Record<string, any>;
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    // The code's S3 key is `<asset hash>.zip`; the staged bundle is `asset.<asset hash>/` in the assembly.
    const hash = String(r.Properties.Code.S3Key).replace(/\.zip$/, '');
    const dir = join(outdir, `asset.${hash}`);
    const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
    bundles[id.startsWith('StreamToAggregator') ? 'aggregator' : 'alerter'] = {
      code: statSync(join(dir, 'index.mjs')).size,
      sources: map.sources,
    };
  }
  void stack;
}, 120_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe.each(['aggregator', 'alerter'])('%s bundle', (name) => {
  it('contains the handler entry point', () => {
    const entry =
      name === 'aggregator' ? 'consumers/window-aggregator/handler.ts' : 'consumers/bot-alerter/handler.ts';
    expect(bundles[name]!.sources.some((s) => s.endsWith(entry))).toBe(true);
  });

  it('has no copy of the AWS SDK v3 (the Node 22 runtime provides it)', () => {
    const sdk = bundles[name]!.sources.filter((s) => s.includes('node_modules/@aws-sdk/'));
    expect(sdk).toEqual([]);
  });

  it('stays small: under 1.5 MB of minified code', () => {
    expect(bundles[name]!.code).toBeGreaterThan(1_000);
    expect(bundles[name]!.code).toBeLessThan(1_500_000);
  });
});
