/**
 * Builds the `clickstream` program from the one command table and runs it. Every command gets --json
 * and --verbose; the AWS-facing flags are global. The single top-level catch turns expected failures
 * into one line plus a hint.
 */
import { Command, CommanderError } from 'commander';
import pc from 'picocolors';
import { explainAwsError } from '../adapters/aws-errors.ts';
import { escapeControl, jsonLine, printable } from '../core/terminal-text.ts';
import { ClickstreamError, type CommandSpec } from './command.ts';
import { COMMANDS } from './commands.ts';
import { resolveSettings } from './config.ts';
import { createContext, renderSummary } from './context.ts';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('clickstream')
    .description(
      'Real-time clickstream analytics: replay Kaggle e-commerce events into Kinesis, aggregate per user, alert on bots, query with Athena.',
    )
    .option('--local', 'use the local stack started by `clickstream local up` (env CLICKSTREAM_MODE=local)')
    .option('--region <region>', 'AWS region (env CLICKSTREAM_REGION, AWS_REGION)')
    .option(
      '--config <file>',
      'config file (env CLICKSTREAM_CONFIG; default ./clickstream.config.json if present)',
    )
    .configureOutput({
      writeOut: (text) => process.stdout.write(printable(text, pc.isColorSupported)),
      writeErr: (text) => process.stderr.write(printable(text, pc.isColorSupported)),
    })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  const abort = new AbortController();
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    // A second Ctrl-C means "now": the first one asks long work to stop cleanly with a summary.
    if (interrupted > 1) process.exit(130);
    process.stderr.write(`\n${pc.yellow('stopping…')} (Ctrl-C again to quit at once)\n`);
    abort.abort(new ClickstreamError('interrupted'));
  };
  process.on('SIGINT', onSigint);

  let exitCode = 0;
  for (const spec of COMMANDS) {
    const command = program
      .command(spec.name)
      .description(spec.summary)
      .option('--json', 'print one JSON summary object on stdout, nothing else')
      .option('--verbose', 'debug output on stderr');
    spec.configure(command);
    command.action(async (...args: unknown[]) => {
      exitCode = await runCommand(spec, command, args, program, abort.signal);
    });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return reportError(error);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function runCommand(
  spec: CommandSpec,
  command: Command,
  args: unknown[],
  program: Command,
  signal: AbortSignal,
): Promise<number> {
  const options = command.opts();
  const globals = program.opts();
  const context = createContext({
    json: !!options.json,
    verbose: !!options.verbose,
    signal,
    settings: () => resolveSettings(globals, process.env),
  });
  // commander passes positional arguments first, then options and the command itself.
  const positional = args.slice(0, command.registeredArguments.length);
  const summary = await spec.run({ ...options, ...globals, args: positional }, context);
  if (options.json) {
    process.stdout.write(jsonLine(summary));
  } else {
    const text = (spec.render ?? renderSummary)(summary);
    // On a terminal the rendering is for people; piped, it is data (a query's CSV, say): unchanged.
    process.stdout.write(`${process.stdout.isTTY ? printable(text, pc.isColorSupported) : text}\n`);
  }
  return spec.exitCode?.(summary) ?? 0;
}

/** Expected failures: one line and a hint, exit 2. Anything else keeps its stack, exit 1. */
export function reportError(error: unknown): number {
  const known = explainError(error);
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
