/**
 * The contract every `clickstream` subcommand follows: an exported async function that takes options
 * and returns a summary object (as in changesets), wrapped in a spec that the one command table
 * (cli/commands.ts) lists; each spec is in cli/commands/<name>.ts, around the entry function of the part
 * that does the work. `bin/clickstream.ts` only dispatches and holds the single top-level catch.
 */
import type { Command } from 'commander';
import type { RunContext } from '../adapters/run-context.ts';
import type { Colours } from './colours.ts';

export type { Progress, RunContext } from '../adapters/run-context.ts';
export type { AwsService, AwsTarget } from '../adapters/target.ts';
export { clientOptions } from '../adapters/target.ts';
export { ClickstreamError } from '../core/errors.ts';

/**
 * What a command runs with: a part's RunContext (adapters/run-context.ts), whose lines the CLI writes
 * to stderr, plus what only the terminal has.
 */
export interface CommandContext extends RunContext {
  /** `--json`: stdout carries exactly one JSON summary object, nothing else. */
  json: boolean;
  /** stderr is a TTY and not --json: show progress bars and colours. */
  interactive: boolean;
  /** Colours for text written through info/warn/debug (off unless stderr is a terminal). */
  colours: Colours;
}

export interface CommandSpec<Options = Record<string, unknown>, Summary extends object = object> {
  name: string;
  summary: string;
  /** Declare arguments and options on the commander command (it already has --json and --verbose). */
  configure(command: Command): void;
  run(options: Options, context: CommandContext): Promise<Summary>;
  /** Human rendering of the summary for stdout (default: a key/value listing), in stdout's colours. */
  render?(summary: Summary, colours: Colours): string;
  /** Exit code for a finished run (default 0), e.g. verify's mismatch is 1. */
  exitCode?(summary: Summary): number;
}

/**
 * A command made of actions, like `local up|down|status`: each action is a CommandSpec with its own
 * options and help, and naming none runs `defaultAction`.
 */
export interface CommandGroup {
  name: string;
  summary: string;
  // biome-ignore lint/suspicious/noExplicitAny: actions differ in their option and summary types
  actions: ReadonlyArray<CommandSpec<any, any>>;
  defaultAction: string;
}

// biome-ignore lint/suspicious/noExplicitAny: commands differ in their option and summary types
export type AnyCommand = CommandSpec<any, any> | CommandGroup;
