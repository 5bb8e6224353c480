/**
 * The one command table: every `clickstream` subcommand is listed here and nowhere else, its spec in
 * cli/commands/<name>.ts. A command's
 * module is loaded only when that command runs, so no run pays for the AWS SDK, DuckDB or the
 * emulators of commands it does not use (their declarations, for parsing and help, are in
 * dist/commands.json; see cli/declarations.ts).
 */
import type { AnyCommand } from './command.ts';

export interface CommandEntry {
  name: string;
  load(): Promise<AnyCommand>;
}

export const COMMANDS: ReadonlyArray<CommandEntry> = [
  { name: 'local', load: async () => (await import('./commands/local.ts')).localCommand },
  { name: 'generate', load: async () => (await import('./commands/generate.ts')).generateCommand },
  { name: 'replay', load: async () => (await import('./commands/replay.ts')).replayCommand },
  { name: 'redrive', load: async () => (await import('./commands/redrive.ts')).redriveCommand },
  { name: 'query', load: async () => (await import('./commands/query.ts')).queryCommand },
  { name: 'report', load: async () => (await import('./commands/report.ts')).reportCommand },
  { name: 'verify', load: async () => (await import('./commands/verify.ts')).verifyCommand },
  { name: 'smoke', load: async () => (await import('./commands/smoke.ts')).smokeCommand },
  { name: 'demo', load: async () => (await import('./commands/demo.ts')).demoCommand },
];
