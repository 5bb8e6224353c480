/** The context `cdk synth` reads from cdk.json (feature flags, validation), for tests that build the app. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CDK_JSON_CONTEXT = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'cdk.json'), 'utf8'))
  .context as Record<string, unknown>;
