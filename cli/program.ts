/**
 * The `clickstream` program and how a command is registered on it: the global flags (shown in every
 * command's help), --json and --verbose on every command, and all of commander's output written
 * through `printable`.
 */
import { Command, Option } from 'commander';
import { printable } from '../core/terminal-text.ts';
import { coloursFor } from './colours.ts';
import { type AnyCommand, ClickstreamError, type CommandSpec } from './command.ts';

export function createProgram(): Command {
  return new Command('clickstream')
    .description(
      'Real-time clickstream analytics: replay Kaggle e-commerce events into Kinesis, aggregate per user, alert on bots, query with Athena.',
    )
    .option('--local', 'use the local stack started by `clickstream local up` (env CLICKSTREAM_MODE=local)')
    .option('--region <region>', 'AWS region (env CLICKSTREAM_REGION, AWS_REGION)')
    .option(
      '--config <file>',
      'config file (env CLICKSTREAM_CONFIG; default ./clickstream.config.json if present)',
    )
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeOut: (text) => process.stdout.write(printable(text, coloursFor(process.stdout).isColorSupported)),
      writeErr: (text) => process.stderr.write(printable(text, coloursFor(process.stderr).isColorSupported)),
    })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
}

// biome-ignore lint/suspicious/noExplicitAny: specs differ in their option and summary types
export type RunSpec = (spec: CommandSpec<any, any>, command: Command, args: unknown[]) => Promise<void>;

/** Registers a loaded command, or a group and its actions, with its real options and handlers. */
export function addCommand(parent: Command, loaded: AnyCommand, run: RunSpec): Command {
  if (!('actions' in loaded)) {
    const command = withOutputFlags(parent.command(loaded.name).description(loaded.summary));
    loaded.configure(command);
    return command.action((...args: unknown[]) => run(loaded, command, args));
  }
  // No flags of its own: the actions' --json and --verbose would show twice in their help (as global).
  const group = parent.command(loaded.name).description(loaded.summary);
  for (const action of loaded.actions) addCommand(group, action, run);
  const fallback = loaded.actions.find((action) => action.name === loaded.defaultAction);
  if (!fallback) throw new Error(`${loaded.name}: no action named ${loaded.defaultAction}`);
  return asGroup(group).action(async () => {
    const [unknown] = group.args;
    if (unknown !== undefined) {
      throw new ClickstreamError(
        `unknown action "${unknown}"`,
        `use one of: clickstream ${loaded.name} ${loaded.actions.map((action) => action.name).join(' | ')}`,
      );
    }
    await run(fallback, group, []);
  });
}

/**
 * A group takes any operand, so that one it has no action for gets a hint rather than a usage error;
 * `--help` is its only help (no `help` action beside the real ones).
 */
export function asGroup(command: Command): Command {
  return command.allowExcessArguments().helpCommand(false);
}

function withOutputFlags(command: Command): Command {
  return command
    .option('--json', 'print one JSON summary object on stdout, nothing else')
    .addOption(
      new Option('--progress <mode>', 'progress on stderr: a bar on a terminal, JSON lines, or none')
        .choices(['auto', 'json', 'none'])
        .default('auto'),
    )
    .option('--verbose', 'debug output on stderr');
}
