/**
 * Runs the `clickstream` program. The arguments are parsed first against the commands' declarations
 * (cli/declarations.ts), which print any help or usage error without loading a command module; the
 * one command that runs is then loaded and parses the same arguments for real. The single top-level
 * catch turns expected failures into one line plus a hint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { type Command, CommanderError } from 'commander';
import { explainAwsError } from '../adapters/aws-errors.ts';
import { escapeControl, jsonLine, printable } from '../core/terminal-text.ts';
import { coloursFor } from './colours.ts';
import { ClickstreamError, type CommandSpec } from './command.ts';
import { COMMANDS } from './commands.ts';
import { type CommandDeclaration, declareCommand, describeCommands } from './declarations.ts';
import { addCommand, createProgram } from './program.ts';

// Written by the build beside the built modules (dist/commands.json); absent beside the sources.
const BUILT_DECLARATIONS = new URL('../commands.json', import.meta.url);

export async function main(argv: string[]): Promise<number> {
  const abort = new AbortController();
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    // A second Ctrl-C means "now": the first one asks long work to stop cleanly with a summary.
    if (interrupted > 1) process.exit(130);
    process.stderr.write(
      `\n${coloursFor(process.stderr).yellow('stopping…')} (Ctrl-C again to quit at once)\n`,
    );
    abort.abort(new ClickstreamError('interrupted'));
  };
  process.on('SIGINT', onSigint);
  let exitCode: number;
  try {
    exitCode = await parseAndRun(argv, abort.signal);
  } catch (error) {
    exitCode = error instanceof CommanderError ? error.exitCode : reportError(error);
  } finally {
    process.off('SIGINT', onSigint);
  }
  // Stopped by Ctrl-C, with its summary or its error already printed: 128 + SIGINT, as a shell reports
  // a command the signal ended, so a script can tell a cut-short run from a finished or failed one.
  return interrupted > 0 ? 130 : exitCode;
}

async function parseAndRun(argv: string[], signal: AbortSignal): Promise<number> {
  const chosen = await parseDeclared(argv);
  if (chosen === undefined) return 0;
  const entry = COMMANDS.find((candidate) => candidate.name === chosen);
  if (!entry) throw new Error(`no command table entry for ${chosen}`);
  let exitCode = 0;
  const program = createProgram();
  addCommand(program, await entry.load(), async (spec, command, args) => {
    exitCode = await runCommand(spec, command, args, signal);
  });
  await program.parseAsync(argv, { from: 'user' });
  return exitCode;
}

/** Parses against the declarations: the name of the command to run, or undefined once help is shown. */
async function parseDeclared(argv: string[]): Promise<string | undefined> {
  const program = createProgram();
  let chosen: string | undefined;
  const choose = (name: string) => (command: Command) => {
    command.action(() => {
      chosen = name;
    });
    for (const action of command.commands) choose(name)(action);
  };
  for (const declaration of await declarations())
    choose(declaration.name)(declareCommand(program, declaration));
  await program.parseAsync(argv, { from: 'user' });
  return chosen;
}

async function declarations(): Promise<CommandDeclaration[]> {
  if (existsSync(BUILT_DECLARATIONS)) return JSON.parse(readFileSync(BUILT_DECLARATIONS, 'utf8'));
  return describeCommands();
}

async function runCommand(
  spec: CommandSpec,
  command: Command,
  args: unknown[],
  signal: AbortSignal,
): Promise<number> {
  // Loaded here, not at start: settings pull in zod and the SDK clients, which help never needs.
  const [{ createContext, renderSummary }, { resolveSettings }] = await Promise.all([
    import('./context.ts'),
    import('./config.ts'),
  ]);
  // The command's own flags, its group's, and the global ones (--local, --region, --config).
  const options = command.optsWithGlobals();
  const context = createContext({
    json: !!options.json,
    verbose: !!options.verbose,
    progress: options.progress,
    signal,
    settings: () => resolveSettings(options, process.env),
  });
  // commander passes positional arguments first, then options and the command itself.
  const positional = args.slice(0, command.registeredArguments.length);
  const summary = await spec.run({ ...options, args: positional }, context);
  if (options.json) {
    process.stdout.write(jsonLine(summary));
  } else {
    const colours = coloursFor(process.stdout);
    const text = (spec.render ?? renderSummary)(summary, colours);
    // On a terminal the rendering is for people; piped, it is data (a query's CSV, say): unchanged.
    process.stdout.write(`${process.stdout.isTTY ? printable(text, colours.isColorSupported) : text}\n`);
  }
  return spec.exitCode?.(summary) ?? 0;
}

/** Expected failures: one line and a hint, exit 2. Anything else keeps its stack, exit 1. */
export function reportError(error: unknown): number {
  const known = explainError(error);
  const pc = coloursFor(process.stderr);
  if (known) {
    process.stderr.write(`${pc.red('error:')} ${escapeControl(known.message)}\n`);
    if (known.hint) process.stderr.write(`${pc.dim('hint:')} ${escapeControl(known.hint)}\n`);
    return 2;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${pc.red('unexpected error:')} ${escapeControl(detail)}\n`);
  return 1;
}

/** Our own expected failures, then the AWS setup problems users actually hit. */
export function explainError(error: unknown): { message: string; hint?: string } | undefined {
  if (error instanceof ClickstreamError)
    return { message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  return explainAwsError(error);
}
