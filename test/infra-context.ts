/** The context `cdk synth` reads from cdk.json (feature flags, validation), for tests that build the app. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CDK_JSON_CONTEXT = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'cdk.json'), 'utf8'))
  .context as Record<string, unknown>;

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
