/** `clickstream generate`: the flags of producer/generate.ts's `generate`. */
import { BOT_KINDS, SYNTHETIC_DEFAULTS } from '../../core/synthetic.ts';
import { type GenerateOptions, type GenerateSummary, generate } from '../../producer/generate.ts';
import type { CommandSpec } from '../command.ts';

export const generateCommand: CommandSpec<GenerateOptions, GenerateSummary> = {
  name: 'generate',
  summary: 'write synthetic Kaggle-shaped clickstream CSV with injected bots and their ground truth',
  configure: (command) =>
    command
      .requiredOption('--out <file|s3://bucket/key>', 'where to write the CSV')
      .option(
        '--truth <file|s3://bucket/key>',
        'where to write the bots ground truth (default: <out>.truth.json)',
      )
      .option('--events <n>', 'events to generate, bots included', String(SYNTHETIC_DEFAULTS.events))
      .option('--users <n>', `normal users (default: events / ${SYNTHETIC_DEFAULTS.eventsPerUser})`)
      .option(
        '--bots <n>',
        `injected bots, cycling through: ${BOT_KINDS.map((k) => k.kind).join(', ')}`,
        String(SYNTHETIC_DEFAULTS.bots),
      )
      .option(
        '--seed <n>',
        'random seed; the same seed gives the same bytes',
        String(SYNTHETIC_DEFAULTS.seed),
      )
      .option(
        '--heavy-shoppers <n>',
        `heavy but human shoppers, not bots (default: one per ${SYNTHETIC_DEFAULTS.botsPerHeavyShopper} bots with --days, none with --rate)`,
      )
      .option('--start <iso>', 'event time of the first event', SYNTHETIC_DEFAULTS.start)
      .option(
        '--days <n>',
        `days of event time, visits following a daily and weekly rhythm (default ${SYNTHETIC_DEFAULTS.days})`,
      )
      .option('--rate <r>', 'instead of --days: a flat rate of normal events per second of event time'),
  run: generate,
};
