/**
 * `clickstream local up|down|status`: the embedded AWS stack as a long-running process that other
 * commands find through the state file.
 */

import type { Command } from 'commander';
import { CHAOS_PROFILES } from '../../local/chaos-profiles.ts';
import { KINESIS_SHARD_LIMITS_TEXT } from '../../local/limits/kinesis-throughput.ts';
import { DEFAULT_LOCAL_PORTS } from '../../local/ports.ts';
import { ClickstreamError, type CommandContext, type CommandGroup, type CommandSpec } from '../command.ts';
import { readStateFile, resolveSettings } from '../config.ts';
import { clearLeftovers, lookAtStack, type StackFiles, stackFiles, stopOwner } from '../local-lifecycle.ts';
import type { Action, LocalOptions, LocalSummary } from '../local-options.ts';
import { addTemplateOptions } from '../stack-template.ts';

export type { Action, LocalOptions, LocalSummary } from '../local-options.ts';

export async function local(options: LocalOptions, context: CommandContext): Promise<LocalSummary> {
  const action = options.args[0] ?? 'status';
  if (action !== 'up' && action !== 'down' && action !== 'status') {
    throw new ClickstreamError(
      `unknown action "${action}"`,
      'use one of: clickstream local up | down | status',
    );
  }
  const settings = resolveSettings(options, process.env);
  const files = stackFiles(settings.stateFile);
  if (action === 'status') return status(files);
  if (action === 'down') return down(files, context);
  // Loaded only to start a stack: status and down need none of the emulators' code.
  const { up } = await import('../local-up.ts');
  return up(options, settings.names, files, context);
}

async function status(files: StackFiles): Promise<LocalSummary> {
  const look = lookAtStack(files);
  const state = readStateFile(files.state);
  const processes = look.processes.map(({ role, pid }) => ({ role, pid }));
  if (!look.owner || !state) {
    const leftovers = look.processes.map((p) => `${p.role}, pid ${p.pid}`).concat(look.directories);
    return {
      action: 'status',
      running: false,
      ...(look.owner ? { pid: look.owner.pid, processes } : {}),
      stateFile: files.state,
      ...(!look.owner && leftovers.length > 0 ? { leftovers } : {}),
    };
  }
  // Loaded only when a stack runs: the SDK is most of a command's start.
  const { kinesisAnswers } = await import('../../adapters/kinesis-probe.ts');
  const silent = await kinesisAnswers(state.endpoints.kinesis);
  if (silent) {
    throw new ClickstreamError(
      `local stack pid ${state.pid} is alive but Kinesis does not answer`,
      'restart it: clickstream local down && clickstream local up',
      { cause: silent },
    );
  }
  return {
    action: 'status',
    running: true,
    pid: state.pid,
    endpoints: state.endpoints,
    ...(state.mailUrl ? { mailUrl: state.mailUrl } : {}),
    stateFile: files.state,
    uptimeSeconds: Math.round((Date.now() - Date.parse(state.startedAt)) / 1000),
    processes,
    ...(state.kinesisLimits !== undefined ? { kinesisLimits: state.kinesisLimits } : {}),
    ...(state.throttles ? { throttles: state.throttles } : {}),
    ...(state.pipeline ? { pipeline: state.pipeline } : {}),
  };
}

async function down(files: StackFiles, context: CommandContext): Promise<LocalSummary> {
  const look = lookAtStack(files);
  if (look.owner) await stopOwner(look.owner);
  // The stack stops its children itself; whatever is still there (or was left by a stack that died)
  // is stopped here.
  const leftovers = await clearLeftovers(files, look.owner ? lookAtStack(files) : look);
  if (!look.owner && leftovers.length === 0) context.info('no local stack is running');
  return {
    action: 'down',
    running: false,
    ...(look.owner ? { pid: look.owner.pid } : {}),
    stateFile: files.state,
    ...(leftovers.length > 0 ? { leftovers } : {}),
  };
}

// One spec per action, each with its own options and help; all run `local` with their action.
function action(
  name: Action,
  summary: string,
  configure: (command: Command) => void = () => undefined,
): CommandSpec<LocalOptions, LocalSummary> {
  return {
    name,
    summary,
    configure,
    run: (options, context) => local({ ...options, args: [name] }, context),
    render: renderLocal,
    exitCode: (result) => (result.action === 'status' && !result.running ? 3 : 0),
  };
}

export const localCommand: CommandGroup = {
  name: 'local',
  summary: 'start, stop or inspect the embedded AWS stack (Kinesis, DynamoDB, S3, SNS, mail) on 127.0.0.1',
  defaultAction: 'status',
  actions: [
    action(
      'up',
      'start the emulators and the consumers in this terminal until Ctrl-C or `clickstream local down`',
      (command) =>
        addTemplateOptions(command)
          .option(
            '--ports <list>',
            `override ports, e.g. kinesis=4567,s3=4569 (defaults: ${Object.entries(DEFAULT_LOCAL_PORTS)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')})`,
          )
          .option(
            '--no-consumers',
            'start the emulators only, without the aggregator, alerter and lake delivery',
          )
          .option(
            '--chaos <profile>',
            `inject faults: ${CHAOS_PROFILES.filter((p) => p !== 'producer-kill').join(' | ')}`,
          )
          .option(
            '--no-limits',
            `turn off the Kinesis shard limits (${KINESIS_SHARD_LIMITS_TEXT}), on by default as kinesalite has none: over them, writes and reads fail with ProvisionedThroughputExceededException and the callers retry, as in AWS. Off by itself under --chaos kinesis-throttle, which throttles instead`,
          ),
    ),
    action('down', 'stop the stack that `clickstream local up` started (found through its state file)'),
    action(
      'status',
      'whether a stack runs, its pid and endpoints; exit 3 when none does (the default action)',
    ),
  ],
};

function renderLocal(summary: LocalSummary): string {
  const leftovers = summary.leftovers ?? [];
  if (summary.action === 'up') return 'local stack stopped';
  if (summary.action === 'down') {
    const lines = [summary.pid ? `stopped local stack (pid ${summary.pid})` : 'no local stack was running'];
    if (leftovers.length > 0) lines.push(`cleared what a stack left behind: ${leftovers.join('; ')}`);
    return lines.join('\n');
  }
  if (!summary.running && summary.pid)
    return `starting (pid ${summary.pid}); run \`clickstream local status\` again in a moment`;
  if (!summary.running) {
    const lines = [
      `not running (no live stack in ${summary.stateFile}); start one with \`clickstream local up\``,
    ];
    if (leftovers.length > 0)
      lines.push(
        `left behind by a stack that did not stop: ${leftovers.join('; ')}; \`clickstream local down\` clears it`,
      );
    return lines.join('\n');
  }
  const lines = [`running (pid ${summary.pid}, up ${summary.uptimeSeconds ?? 0}s)`];
  for (const [service, endpoint] of Object.entries(summary.endpoints ?? {}))
    lines.push(`  ${service.padEnd(9)} ${endpoint}`);
  if (summary.mailUrl) lines.push(`  mail      ${summary.mailUrl}`);
  if (summary.kinesisLimits !== undefined) {
    const refused = Object.entries(summary.throttles ?? {})
      .map(([stream, t]) => `${stream} ${t.writes} write entries, ${t.reads} GetRecords calls`)
      .join(' · ');
    lines.push(
      summary.kinesisLimits
        ? `  limits    Kinesis shard limits enforced; refused so far: ${refused || 'nothing'}`
        : '  limits    Kinesis shard limits off',
    );
  }
  if (summary.pipeline) lines.push(`  consumers ${renderPipeline(summary.pipeline)}`);
  for (const child of summary.processes ?? []) lines.push(`  process   pid ${child.pid}: ${child.role}`);
  return lines.join('\n');
}

/**
 * Where the consumers stood, and whether both functions had caught up with everything sent (the lake's
 * Firehose delivers on its own buffering interval, so its objects may still come after that).
 */
function renderPipeline(noted: NonNullable<LocalSummary['pipeline']>): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const { aggregator, alerter, lake, mail } = noted;
  const caughtUp = [aggregator, alerter].every(
    (c) => c.shardsCaughtUp === c.shards && c.buffered === 0 && c.openWindows === 0,
  );
  const ago = Math.max(0, Math.round((Date.now() - Date.parse(noted.notedAt)) / 1000));
  return [
    `aggregator ${n(aggregator.records)} Kinesis records, ${n(aggregator.openWindows)} windows open, ${n(aggregator.dynamodbCalls)} DynamoDB calls`,
    `alerter ${n(alerter.records)} Kinesis records`,
    `lake ${n(lake.objects)} objects`,
    `mail ${n(mail.delivered)} sent, ${n(mail.pending)} queued`,
    `${caughtUp && mail.pending === 0 ? 'functions caught up' : 'functions working'} (last change ${ago}s ago)`,
  ].join(' · ');
}
