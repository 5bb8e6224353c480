/**
 * `--template FILE` and `-c/--context key=value` for the commands that build the local stack (`local up`,
 * `demo`): the local stack is the CDK app's synthesized template, and these are the two ways a user
 * shapes it, as with `cdk synth`.
 */
import type { Command } from 'commander';
import type { ResourceNames } from '../core/resources.ts';
import { CONTEXT_KEYS, ConfigError, parseConfig } from '../infra/config.ts';
import type { LoadedTemplate } from '../local/synth.ts';
import type { CfnTemplate, LocalConfig } from '../local/template.ts';
import { ClickstreamError, type CommandContext } from './command.ts';

export interface TemplateFlags {
  template?: string;
  context?: string[];
}

/** Context keys the app reads besides the stack configuration. */
const APP_CONTEXT_KEYS = ['stackName'];

export function addTemplateOptions(command: Command): Command {
  return command
    .option(
      '--template <file>',
      'build the local stack from this synthesized template (e.g. cdk.out/Clickstream.template.json) instead of synthesizing infra/',
    )
    .option(
      '-c, --context <key=value>',
      'CDK context for the synthesis, as `cdk synth -c` takes it (repeatable), e.g. -c batchSize=100',
      (value: string, previous: string[] = []) => [...previous, value],
    );
}

/** `key=value` pairs → context, with every key checked against those the CDK app reads. */
export function parseContextFlags(pairs: readonly string[] = []): Record<string, string> {
  const context: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at) : '';
    if (!key)
      throw new ClickstreamError(`bad -c/--context "${pair}"`, 'use key=value, e.g. -c batchSize=100');
    const known = (CONTEXT_KEYS as readonly string[]).includes(key) || APP_CONTEXT_KEYS.includes(key);
    // Feature flags (`@aws-cdk/...`) and CDK's own keys (`aws:cdk:...`) are context too.
    if (!known && !key.startsWith('@') && !key.startsWith('aws:')) {
      throw new ClickstreamError(
        `unknown context key "${key}"`,
        `the CDK app reads: ${[...CONTEXT_KEYS, ...APP_CONTEXT_KEYS].join(', ')}`,
      );
    }
    context[key] = pair.slice(at + 1);
  }
  try {
    // The app's own validation, before any synthesis: a bad value fails in milliseconds with its reason.
    parseConfig(context);
  } catch (error) {
    if (error instanceof ConfigError)
      throw new ClickstreamError(error.message, 'see the context table in the README');
    throw error;
  }
  return context;
}

export interface ResolvedTemplate {
  config: LocalConfig;
  /** The template itself: the local pipeline checks the functions' calls against its roles. */
  cfn: CfnTemplate;
  template: Pick<LoadedTemplate, 'source' | 'path' | 'context' | 'ms'>;
}

/**
 * The local configuration for a command: the given template, or the app synthesized (or found in the
 * cache) with `defaults` under the user's context. Says on stderr which, and with what context.
 */
export async function resolveLocalTemplate(
  flags: TemplateFlags,
  context: CommandContext,
  options: {
    defaults: Readonly<Record<string, string>>;
    names?: Partial<ResourceNames>;
    /** Fail now, before anything starts, if the consumers cannot run from this template. */
    consumers?: boolean;
  },
): Promise<ResolvedTemplate> {
  const user = parseContextFlags(flags.context);
  const effective = flags.template ? user : { ...options.defaults, ...user };
  // A TemplateError is a ClickstreamError: the CLI prints it as one line and its hint.
  // Loaded here, not with the module: commands only name these flags in their help (`local status`).
  const [{ formatContext, loadLocalConfig }, { consumerOf }] = await Promise.all([
    import('../local/synth.ts'),
    import('../local/template.ts'),
  ]);
  const loaded = await loadLocalConfig({
    ...(flags.template ? { templateFile: flags.template } : {}),
    context: effective,
    ...(options.names ? { names: options.names } : {}),
  });
  if (options.consumers)
    for (const kind of ['aggregator', 'alerter'] as const) consumerOf(loaded.config, kind);
  const { source, path, ms } = loaded.template;
  const given = Object.keys(effective).filter((key) => !(key in user));
  const defaults = given.length
    ? ` (local defaults: ${formatContext(Object.fromEntries(given.map((k) => [k, effective[k] as string])))})`
    : '';
  context.info(
    `template: ${source} ${path} in ${(ms / 1000).toFixed(1)} s; context: ${formatContext(effective)}${defaults}`,
  );
  return {
    config: loaded.config,
    cfn: loaded.template.template,
    template: { source, path, context: effective, ms },
  };
}
