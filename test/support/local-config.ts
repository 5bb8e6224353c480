/** The local stack's configuration for tests: the CDK app synthesized (or cached) with some context, as a user would pass it. */
import { LOCAL_DEFAULT_CONTEXT, loadLocalConfig } from '../../local/synth.ts';
import type { LocalConfig } from '../../local/template.ts';

export async function localConfig(context: Readonly<Record<string, string>> = {}): Promise<LocalConfig> {
  return (await loadLocalConfig({ context: { ...LOCAL_DEFAULT_CONTEXT, ...context } })).config;
}
