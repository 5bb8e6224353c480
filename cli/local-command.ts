/**
 * `clickstream local up|down|status`: the embedded AWS stack as a long-running process that other
 * commands find through the state file.
 */

import { rmSync } from 'node:fs';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import type { Command } from 'commander';
import { createKinesisClient } from '../adapters/clients.ts';
import { integerFlag } from '../core/flags.ts';
import {
  CHAOS_DESCRIPTIONS,
  CHAOS_PROFILES,
  type ChaosProfileName,
  isChaosProfile,
  startChaosSchedule,
} from '../local/chaos.ts';
import { startLocalPipeline } from '../local/pipeline.ts';
import { Ownership } from '../local/processes.ts';
import {
  checkLocalPorts,
  DEFAULT_LOCAL_PORTS,
  LocalPortInUseError,
  type LocalPorts,
  LocalStackError,
  startLocalStack,
} from '../local/stack.ts';
import { LOCAL_DEFAULT_CONTEXT } from '../local/synth.ts';
import { ClickstreamError, type CommandContext, type CommandGroup, type CommandSpec } from './command.ts';
import { type LocalStackState, readStateFile, resolveSettings } from './config.ts';
import {
  clearLeftovers,
  lookAtStack,
  recordOwnership,
  type StackFiles,
  stackFiles,
  stopOwner,
  writeJsonFile,
} from './local-lifecycle.ts';
import { addTemplateOptions, resolveLocalTemplate, type TemplateFlags } from './stack-template.ts';

type Action = 'up' | 'down' | 'status';

/** The limits as `local up` states them. */
const LIMITS_TEXT = 'writes 1 MiB and 1,000 records/s, reads 2 MB and 5 GetRecords calls/s per shard';
const THROTTLES_NOTED_EVERY_MS = 2_000;

export interface LocalOptions extends TemplateFlags {
  args: [string?];
  ports?: string;
  /** `--no-consumers`: emulators only. */
  consumers?: boolean;
  /** `--chaos <profile>`: fault injection (local/chaos.ts). */
  chaos?: string;
  /** `--no-limits`: kinesalite without the Kinesis shard limits. */
  limits?: boolean;
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
  /** The processes the stack started, beside the `local up` process itself. */
  processes?: Array<{ role: string; pid: number }>;
  /** What a stack that did not stop left behind: still running, or (up, down) stopped now. */
  leftovers?: string[];
  /** up: the emulators start empty; nothing of an earlier stack is kept. */
  data?: 'fresh';
  /** status: whether the Kinesis shard limits are enforced, and what they refused per stream so far. */
  kinesisLimits?: boolean;
  throttles?: LocalStackState['throttles'];
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
  const files = stackFiles(settings.stateFile);
  if (action === 'status') return status(files);
  if (action === 'down') return down(files, context);
  return up(options, settings.names, files, context);
}

async function up(
  options: LocalOptions,
  names: LocalStackState['names'],
  files: StackFiles,
  context: CommandContext,
): Promise<LocalSummary> {
  const chaos = parseChaos(options.chaos, options.consumers !== false);
  const ports = parsePorts(options.ports);
  const earlier = lookAtStack(files);
  if (earlier.owner) {
    throw new ClickstreamError(
      `a local stack is already running (pid ${earlier.owner.pid})`,
      'stop it with `clickstream local down`; a second stack needs its own CLICKSTREAM_STATE_FILE and --ports',
    );
  }
  const leftovers = await clearLeftovers(files, earlier);
  if (leftovers.length > 0)
    context.warn(`an earlier stack ended without stopping; cleared what it left: ${leftovers.join('; ')}`);
  // A taken port fails at once (one line), not after a synthesis of the template that may take half a
  // minute; a template that cannot run fails before anything is started.
  await checkLocalPorts({ ports }).catch((error: unknown) => {
    throw stackError(error);
  });
  const { config, cfn } = await resolveLocalTemplate(options, context, {
    defaults: LOCAL_DEFAULT_CONTEXT,
    names,
    consumers: options.consumers !== false,
  });

  // Asked to stop while still starting, it stops as soon as it is up.
  const stopped = new Promise<string>((resolve) => {
    context.signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGHUP', () => resolve('SIGHUP'));
  });
  const ownership = new Ownership();
  const owner = recordOwnership(files, ownership);
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({
      ports,
      config,
      ownership,
      ...(chaos ? { chaos } : {}),
      // Commander makes `limits` true unless --no-limits: only an explicit off overrides the stack's
      // default (on, except under kinesis-throttle chaos).
      ...(options.limits === false ? { kinesisLimits: false } : {}),
    });
  } catch (error) {
    rmSync(files.owned, { force: true });
    throw stackError(error);
  }
  // The consumers run beside the emulators, so `replay --local` from another terminal flows through
  // aggregation, alerts and the lake exactly as in AWS.
  const pipeline =
    options.consumers === false
      ? undefined
      : await startLocalPipeline(stack, {
          workDir: files.workDir,
          template: cfn,
          onDenied: (error) => context.warn(`${error.message}\n${error.hint ?? ''}`),
          ...(chaos ? { chaos } : {}),
        });
  const stopChaos = stack.chaos ? startChaosSchedule(stack.chaos, (line) => context.warn(line)) : undefined;
  const state: LocalStackState = {
    pid: process.pid,
    owner: { pid: owner.pid, startTime: owner.startTime, command: owner.command },
    startedAt: new Date().toISOString(),
    endpoints: stack.endpoints,
    names: stack.names,
    topicArn: stack.topicArn,
    ...(stack.mailUrl ? { mailUrl: stack.mailUrl } : {}),
    kinesisLimits: stack.kinesisLimits,
  };
  writeJsonFile(files.state, state);
  // `local status` runs in another process: the throttle counters reach it through the state file.
  const noteThrottles = stack.kinesisLimits
    ? setInterval(async () => {
        const throttles = await stack.kinesisThrottles().catch(() => undefined);
        if (!throttles || JSON.stringify(throttles) === JSON.stringify(state.throttles)) return;
        state.throttles = throttles;
        writeJsonFile(files.state, state);
      }, THROTTLES_NOTED_EVERY_MS)
    : undefined;
  noteThrottles?.unref();
  context.info(
    `local stack up (pid ${process.pid}); data: fresh, every stream, table and bucket starts empty`,
  );
  for (const [service, endpoint] of Object.entries(stack.endpoints))
    context.info(`  ${service.padEnd(9)} ${endpoint}`);
  if (stack.mailUrl) context.info(`  mail      ${stack.mailUrl}  (alert emails land here)`);
  context.info(
    stack.kinesisLimits
      ? `  limits    Kinesis shard limits enforced: ${LIMITS_TEXT} (--no-limits turns them off)`
      : `  limits    Kinesis shard limits off${chaos === 'kinesis-throttle' ? ' (kinesis-throttle throttles instead)' : ''}`,
  );
  if (pipeline) context.info('  consumers window-aggregator, bot-alerter, Firehose → lake (running)');
  if (chaos) context.warn(`chaos profile ${chaos}: ${CHAOS_DESCRIPTIONS[chaos]}`);
  context.info(`state: ${files.state}; other terminals: add --local (e.g. clickstream replay --local ...)`);
  context.info('Ctrl-C or `clickstream local down` to stop');

  const reason = await stopped;
  context.debug(`stopping: ${reason}`);
  clearInterval(noteThrottles);
  await stopChaos?.();
  await pipeline?.stop();
  await stack.stop();
  rmSync(files.state, { force: true });
  // Kept when something could not be stopped, so that the next `up` or `down` finds it.
  if (ownership.snapshot().processes.length === 0) rmSync(files.owned, { force: true });
  return {
    action: 'up',
    running: false,
    stateFile: files.state,
    data: 'fresh',
    ...(leftovers.length > 0 ? { leftovers } : {}),
  };
}

/** The stack's own failures are the user's to act on: one line, no stack trace. */
function stackError(error: unknown): unknown {
  if (error instanceof LocalPortInUseError) {
    return new ClickstreamError(
      `port ${error.port} for local ${error.service} is in use by another program; free it or choose another with --ports ${error.service}=<port>`,
    );
  }
  if (error instanceof LocalStackError) return new ClickstreamError(error.message);
  return error;
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
    stateFile: files.state,
    uptimeSeconds: Math.round((Date.now() - Date.parse(state.startedAt)) / 1000),
    processes,
    ...(state.kinesisLimits !== undefined ? { kinesisLimits: state.kinesisLimits } : {}),
    ...(state.throttles ? { throttles: state.throttles } : {}),
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
    const port = integerFlag(value, `--ports ${name}`);
    const twin = Object.entries(ports).find(([, taken]) => taken === port);
    if (twin) throw new ClickstreamError(`--ports gives port ${port} to both ${twin[0]} and ${name}`);
    ports[name as keyof LocalPorts] = port;
  }
  return ports;
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
            `turn off the Kinesis shard limits (${LIMITS_TEXT}), on by default as kinesalite has none: over them, writes and reads fail with ProvisionedThroughputExceededException and the callers retry, as in AWS. Off by itself under --chaos kinesis-throttle, which throttles instead`,
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
  for (const child of summary.processes ?? []) lines.push(`  process   pid ${child.pid}: ${child.role}`);
  return lines.join('\n');
}
