/**
 * vitest globalSetup: synthesizes the CDK app once with the local default context before any test
 * file starts, so the files (and the CLI processes they spawn) that build a default local stack read
 * the cached template instead of each synthesizing it at the same time.
 */
import { LOCAL_DEFAULT_CONTEXT, loadTemplate } from '../../local/synth.ts';

export default async function warmTemplateCache(): Promise<void> {
  await loadTemplate({ context: LOCAL_DEFAULT_CONTEXT });
}
