/** The one command table: every `clickstream` subcommand is registered here and nowhere else. */
import { queryCommand } from '../analytics/query.ts';
import { reportCommand } from '../analytics/report.ts';
import { verifyCommand } from '../analytics/verify.ts';
import { generateCommand } from '../producer/generate.ts';
import { replayCommand } from '../producer/replay.ts';
import type { CommandSpec } from './command.ts';
import { demoCommand } from './demo-command.ts';
import { localCommand } from './local-command.ts';

// biome-ignore lint/suspicious/noExplicitAny: specs differ in their option and summary types
export const COMMANDS: ReadonlyArray<CommandSpec<any, any>> = [
  localCommand,
  generateCommand,
  replayCommand,
  queryCommand,
  reportCommand,
  verifyCommand,
  demoCommand,
];
