/**
 * The contract every `clickstream` subcommand follows: an exported async function that takes options
 * and returns a summary object (as in changesets), wrapped in a spec that the one command table
 * (cli/commands.ts) lists. `bin/clickstream.ts` only dispatches and holds the single top-level catch.
 */
import type { Command } from 'commander';
import type { AwsTarget } from '../adapters/target.ts';
import type { Colours } from './colours.ts';

export type { AwsService, AwsTarget } from '../adapters/target.ts';
export { clientOptions } from '../adapters/target.ts';
export { ClickstreamError } from '../core/errors.ts';

export interface Progress {
  /** Set current value (and optional named payload values shown in the bar). */
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
}

export interface CommandContext {
  /** `--json`: stdout carries exactly one JSON summary object, nothing else. */
  json: boolean;
  /** stderr is a TTY and not --json: show progress bars and colours. */
  interactive: boolean;
  /** Colours for text written through info/warn/debug (off unless stderr is a terminal). */
  colours: Colours;
  /** Human-readable line on stderr (suppressed under --json unless it is a warning). */
  info(message: string): void;
  warn(message: string): void;
  /** Debug line, shown with --verbose only. */
  debug(message: string): void;
  /** A progress bar on a TTY, a no-op otherwise. `fields` are payload names shown after the counter. */
  progress(label: string, options?: { total?: number; unit?: string; fields?: string[] }): Progress;
  /** Aborted on Ctrl-C (SIGINT): long work stops cleanly and still returns its summary. */
  signal: AbortSignal;
  /**
   * Where AWS calls go, resolved once on first use from --local/--region/--config, env and the local
   * state file. Throws a ClickstreamError with a hint when local mode is asked for and no stack runs.
   * Commands that never touch AWS (e.g. generate to a file) simply never call it.
   */
  target(): Promise<AwsTarget>;
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
