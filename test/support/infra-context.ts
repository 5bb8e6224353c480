/** The context `cdk synth` reads from cdk.json (feature flags, validation), for tests that build the app. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../infra/config.ts';
import { PipelineStack } from '../../infra/pipeline-stack.ts';

export const CDK_JSON_CONTEXT = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'cdk.json'), 'utf8'),
).context as Record<string, unknown>;

/**
 * The context of a full deployment as the template tests see it: cdk.json, bundling skipped (no
 * esbuild run per test file), and both email subscriptions, so every optional resource exists.
 */
export const FULL_STACK_CONTEXT: Record<string, unknown> = {
  ...CDK_JSON_CONTEXT,
  'aws:cdk:bundling-stacks': [],
  alertEmail: 'ops@example.com',
  alarmEmail: 'oncall@example.com',
};

/**
 * The stack's template for `-c` context values, without bundling or template validation. The cloud
 * assembly goes to a temp dir removed at once: an App without `outdir` leaves a `cdk.out*` dir in the
 * system temp dir on every synth.
 */
export function unvalidatedTemplate(context: Record<string, unknown>, stackId: string): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'clickstream-synth-'));
  try {
    const app = new App({
      outdir,
      context: {
        ...CDK_JSON_CONTEXT,
        'aws:cdk:bundling-stacks': [],
        '@aws-cdk/core:validateAgainstDefaultRules': false,
      },
    });
    return Template.fromStack(new PipelineStack(app, stackId, { config: parseConfig(context) }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
