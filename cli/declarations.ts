/**
 * A command's declaration (name, summary, arguments, options, actions) as plain data. The build writes
 * every command's declaration to dist/commands.json, so the program can parse its arguments and print
 * any help without loading a single command module: only the command that runs is loaded.
 */
import { Argument, type Command, Option } from 'commander';
import { COMMANDS } from './commands.ts';
import { addCommand, asGroup, createProgram } from './program.ts';

export interface ArgumentDeclaration {
  name: string;
  description: string;
  required: boolean;
  variadic: boolean;
  defaultValue?: unknown;
  defaultValueDescription?: string;
  choices?: string[];
}

export interface OptionDeclaration {
  flags: string;
  description: string;
  mandatory: boolean;
  hidden: boolean;
  defaultValue?: unknown;
  defaultValueDescription?: string;
  presetArg?: unknown;
  envVar?: string;
  choices?: string[];
}

export interface CommandDeclaration {
  name: string;
  /** One line, for the program's list of commands. */
  summary: string;
  /** The command's own help text, when it says more than its summary. */
  description?: string;
  arguments: ArgumentDeclaration[];
  options: OptionDeclaration[];
  /** A command made of actions (`local up|down|status`). */
  actions?: CommandDeclaration[];
}

/** Reads what a configured commander command declares; the inverse of `declareCommand`. */
export function describeCommand(command: Command): CommandDeclaration {
  return {
    name: command.name(),
    summary: command.summary() || command.description(),
    ...(command.summary() ? { description: command.description() } : {}),
    arguments: command.registeredArguments.map((argument) => ({
      name: argument.name(),
      description: argument.description,
      required: argument.required,
      variadic: argument.variadic,
      ...defined({
        defaultValue: argument.defaultValue,
        defaultValueDescription: argument.defaultValueDescription,
        choices: argument.argChoices,
      }),
    })),
    options: command.options.map((option) => ({
      flags: option.flags,
      description: option.description,
      mandatory: option.mandatory,
      hidden: option.hidden,
      ...defined({
        defaultValue: option.defaultValue,
        defaultValueDescription: option.defaultValueDescription,
        presetArg: option.presetArg,
        envVar: option.envVar,
        choices: option.argChoices,
      }),
    })),
    ...(command.commands.length ? { actions: command.commands.map(describeCommand) } : {}),
  };
}

/** Adds a subcommand to `parent` that parses and helps exactly like the command it was described from. */
export function declareCommand(parent: Command, declaration: CommandDeclaration): Command {
  const command = parent
    .command(declaration.name)
    .description(declaration.description ?? declaration.summary);
  if (declaration.description !== undefined) command.summary(declaration.summary);
  for (const declared of declaration.arguments) {
    const name = `${declared.name}${declared.variadic ? '...' : ''}`;
    const argument = new Argument(declared.required ? `<${name}>` : `[${name}]`, declared.description);
    if ('defaultValue' in declared) argument.default(declared.defaultValue, declared.defaultValueDescription);
    if (declared.choices) argument.choices(declared.choices);
    command.addArgument(argument);
  }
  for (const declared of declaration.options) {
    const option = new Option(declared.flags, declared.description)
      .makeOptionMandatory(declared.mandatory)
      .hideHelp(declared.hidden);
    if ('defaultValue' in declared) option.default(declared.defaultValue, declared.defaultValueDescription);
    if ('presetArg' in declared) option.preset(declared.presetArg);
    if (declared.envVar) option.env(declared.envVar);
    if (declared.choices) option.choices(declared.choices);
    command.addOption(option);
  }
  if (!declaration.actions) return command;
  for (const action of declaration.actions) declareCommand(command, action);
  return asGroup(command);
}

/**
 * Loads every command module and describes each command as the program registers it: the build does
 * this once for dist/commands.json, a run from the sources on every start.
 */
export async function describeCommands(): Promise<CommandDeclaration[]> {
  const program = createProgram();
  const declared: CommandDeclaration[] = [];
  for (const entry of COMMANDS) {
    declared.push(describeCommand(addCommand(program, await entry.load(), async () => undefined)));
  }
  return declared;
}

function defined<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}
