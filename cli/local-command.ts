/**
 * `clickstream local up|down|status`: the embedded AWS stack as a long-running process that other
 * commands find through the state file.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import type { Command } from 'commander';
import { createKinesisClient } from '../adapters/clients.ts';
import {
  CHAOS_DESCRIPTIONS,
  CHAOS_PROFILES,
  type ChaosProfileName,
  isChaosProfile,
  startChaosSchedule,
} from '../local/chaos.ts';
import { startLocalPipeline } from '../local/pipeline.ts';
import { DEFAULT_LOCAL_PORTS, type LocalPorts, startLocalStack } from '../local/stack.ts';
import { ClickstreamError, type CommandContext, type CommandGroup, type CommandSpec } from './command.ts';
import { isRunning, type LocalStackState, readStateFile, resolveSettings } from './config.ts';

type Action = 'up' | 'down' | 'status';

export interface LocalOptions {
  args: [string?];
  ports?: string;
  eventsShards?: string;
  userActivityShards?: string;
  /** `--no-consumers`: emulators only. */
  consumers?: boolean;
  /** `--chaos <profile>`: fault injection (local/chaos.ts). */
  chaos?: string;
  local?: boolean;
  region?: string;
  config?: string;
}

export interface LocalSummary {
  action: Action;
  running: boolean;
  pid?: number;
  endpoints?: LocalStackState['endpoints'];
  mailUrl?: string;
  stateFile: string;
  uptimeSeconds?: number;
}

export async function local(options: LocalOptions, context: CommandContext): Promise<LocalSummary> {
  const action = options.args[0] ?? 'status';
  if (action !== 'up' && action !== 'down' && action !== 'status') {
    throw new ClickstreamError(
      `unknown action "${action}"`,
      'use one of: clickstream local up | down | status',
    );
  }
  const settings = resolveSettings(options, process.env);
  if (action === 'status') return status(settings.stateFile);
  if (action === 'down') return down(settings.stateFile, context);

  const chaos = parseChaos(options.chaos, options.consumers !== false);
  const existing = readStateFile(settings.stateFile);
  if (existing && isRunning(existing.pid)) {
    throw new ClickstreamError(
      `a local stack is already running (pid ${existing.pid})`,
      'stop it with `clickstream local down`',
    );
  }
  const stack = await startLocalStack({
    ports: parsePorts(options.ports),
    shardCount: {
      events: positiveInt(options.eventsShards ?? '4', '--events-shards'),
      userActivity: positiveInt(options.userActivityShards ?? '2', '--user-activity-shards'),
    },
    names: settings.names,
    ...(chaos ? { chaos } : {}),
  });
  // The consumers run beside the emulators, so `replay --local` from another terminal flows through
  // aggregation, alerts and the lake exactly as in AWS.
  const pipeline =
    options.consumers === false
      ? undefined
      : await startLocalPipeline(stack, {
          workDir: join(dirname(settings.stateFile), 'local'),
          ...(chaos ? { chaos } : {}),
        });
  const stopChaos = stack.chaos ? startChaosSchedule(stack.chaos, (line) => context.warn(line)) : undefined;
  const state: LocalStackState = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    endpoints: stack.endpoints,
    names: stack.names,
    topicArn: stack.topicArn,
    ...(stack.mailUrl ? { mailUrl: stack.mailUrl } : {}),
  };
  mkdirSync(dirname(settings.stateFile), { recursive: true });
  writeFileSync(settings.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  context.info(`local stack up (pid ${process.pid})`);
  for (const [service, endpoint] of Object.entries(stack.endpoints))
    context.info(`  ${service.padEnd(9)} ${endpoint}`);
  if (stack.mailUrl) context.info(`  mail      ${stack.mailUrl}  (alert emails land here)`);
  if (pipeline) context.info('  consumers window-aggregator, bot-alerter, Firehose → lake (running)');
  if (chaos) context.warn(`chaos profile ${chaos}: ${CHAOS_DESCRIPTIONS[chaos]}`);
  context.info(
    `state: ${settings.stateFile}; other terminals: add --local (e.g. clickstream replay --local ...)`,
  );
  context.info('Ctrl-C or `clickstream local down` to stop');

  const stopped = new Promise<void>((resolve) => {
    context.signal.addEventListener('abort', () => resolve(), { once: true });
    process.once('SIGTERM', () => resolve());
  });
  await stopped;
  await stopChaos?.();
  await pipeline?.stop();
  await stack.stop();
  rmSync(settings.stateFile, { force: true });
  return { action, running: false, stateFile: settings.stateFile };
}

async function status(stateFile: string): Promise<LocalSummary> {
  const state = readStateFile(stateFile);
  if (!state || !isRunning(state.pid)) return { action: 'status', running: false, stateFile };
  const kinesis = createKinesisClient({ endpoint: state.endpoints.kinesis });
  try {
    await kinesis.send(new ListStreamsCommand({}));
  } catch (error) {
    throw new ClickstreamError(
      `local stack pid ${state.pid} is alive but Kinesis does not answer`,
      'restart it: clickstream local down && clickstream local up',
      { cause: error },
    );
  } finally {
    kinesis.destroy();
  }
  return {
    action: 'status',
    running: true,
    pid: state.pid,
    endpoints: state.endpoints,
    ...(state.mailUrl ? { mailUrl: state.mailUrl } : {}),
    stateFile,
    uptimeSeconds: Math.round((Date.now() - Date.parse(state.startedAt)) / 1000),
  };
}

async function down(stateFile: string, context: CommandContext): Promise<LocalSummary> {
  const state = readStateFile(stateFile);
  if (!state || !isRunning(state.pid)) {
    rmSync(stateFile, { force: true });
    context.info('no local stack is running');
    return { action: 'down', running: false, stateFile };
  }
  process.kill(state.pid, 'SIGTERM');
  for (let i = 0; i < 100 && isRunning(state.pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isRunning(state.pid))
    throw new ClickstreamError(`local stack pid ${state.pid} did not stop`, `kill ${state.pid}`);
  rmSync(stateFile, { force: true });
  return { action: 'down', running: false, pid: state.pid, stateFile };
}

function parseChaos(text: string | undefined, consumers: boolean): ChaosProfileName | undefined {
  if (text === undefined) return undefined;
  if (!isChaosProfile(text))
    throw new ClickstreamError(`unknown chaos profile "${text}"`, `use one of: ${CHAOS_PROFILES.join(', ')}`);
  if (text === 'producer-kill') {
    throw new ClickstreamError(
      'producer-kill acts on the producer, not on the stack',
      'run `clickstream replay --local --checkpoint <file> ...`, kill -9 it mid-run, and run the same command again',
    );
  }
  if (text === 'handler-faults' && !consumers)
    throw new ClickstreamError('handler-faults needs the consumers', 'drop --no-consumers');
  return text;
}

function parsePorts(text: string | undefined): Partial<LocalPorts> {
  if (!text) return {};
  const ports: Partial<LocalPorts> = {};
  for (const pair of text.split(',')) {
    const [name, value] = pair.split('=');
    if (!name || !(name in DEFAULT_LOCAL_PORTS) || !value) {
      throw new ClickstreamError(
        `bad --ports entry "${pair}"`,
        `use e.g. --ports kinesis=4567,s3=4569 (services: ${Object.keys(DEFAULT_LOCAL_PORTS).join(', ')})`,
      );
    }
    ports[name as keyof LocalPorts] = positiveInt(value, `--ports ${name}`);
  }
  return ports;
}

export function positiveInt(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new ClickstreamError(`${flag} must be a positive integer, got "${text}"`);
  return value;
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
        command
          .option(
            '--ports <list>',
            `override ports, e.g. kinesis=4567,s3=4569 (defaults: ${Object.entries(DEFAULT_LOCAL_PORTS)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')})`,
          )
          .option('--events-shards <n>', 'shards of the events stream', '4')
          .option('--user-activity-shards <n>', 'shards of the user-activity stream', '2')
          .option(
            '--no-consumers',
            'start the emulators only, without the aggregator, alerter and lake delivery',
          )
          .option(
            '--chaos <profile>',
            `inject faults: ${CHAOS_PROFILES.filter((p) => p !== 'producer-kill').join(' | ')}`,
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
  if (summary.action === 'up') return 'local stack stopped';
  if (summary.action === 'down')
    return summary.pid ? `stopped local stack (pid ${summary.pid})` : 'no local stack was running';
  if (!summary.running)
    return `not running (no live stack in ${summary.stateFile}); start one with \`clickstream local up\``;
  const lines = [`running (pid ${summary.pid}, up ${summary.uptimeSeconds ?? 0}s)`];
  for (const [service, endpoint] of Object.entries(summary.endpoints ?? {}))
    lines.push(`  ${service.padEnd(9)} ${endpoint}`);
  if (summary.mailUrl) lines.push(`  mail      ${summary.mailUrl}`);
  return lines.join('\n');
}
