/**
 * `clickstream local up`: starts the emulators and the consumers from the synthesized template, writes
 * the state file other commands find the stack by, and runs until Ctrl-C, SIGTERM or `local down`.
 * A module of its own, loaded only by `up`, so that `status` and `down` start without the emulators.
 */
import { rmSync } from 'node:fs';
import { integerFlag } from '../core/flags.ts';
import { type ChaosProfileName, isChaosProfile, startChaosSchedule } from '../local/chaos.ts';
import { CHAOS_DESCRIPTIONS, CHAOS_PROFILES } from '../local/chaos-profiles.ts';
import { KINESIS_SHARD_LIMITS_TEXT } from '../local/limits/kinesis-throughput.ts';
import { startLocalPipeline } from '../local/pipeline.ts';
import { DEFAULT_LOCAL_PORTS, type LocalPorts } from '../local/ports.ts';
import { Ownership } from '../local/processes.ts';
import { checkLocalPorts, LocalPortInUseError, LocalStackError, startLocalStack } from '../local/stack.ts';
import { LOCAL_DEFAULT_CONTEXT } from '../local/synth.ts';
import { ClickstreamError, type CommandContext } from './command.ts';
import type { LocalStackState } from './config.ts';
import {
  clearLeftovers,
  lookAtStack,
  recordOwnership,
  type StackFiles,
  writeJsonFile,
} from './local-lifecycle.ts';
import type { LocalOptions, LocalSummary } from './local-options.ts';
import { resolveLocalTemplate } from './stack-template.ts';

/** How often `local up` looks whether the limits' refusals or the consumers' progress changed, for `local status`. */
const PROGRESS_NOTED_EVERY_MS = 2_000;

export async function up(
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
  // `local status` runs in another process: the throttle counters and the consumers' progress reach it
  // through the state file.
  let notedProgress = '';
  const noteProgress = setInterval(async () => {
    const throttles = stack.kinesisLimits ? await stack.kinesisThrottles().catch(() => undefined) : undefined;
    const progress = await pipeline?.progress().catch(() => undefined);
    let changed = false;
    if (throttles && JSON.stringify(throttles) !== JSON.stringify(state.throttles)) {
      state.throttles = throttles;
      changed = true;
    }
    const progressText = progress ? JSON.stringify(progress) : undefined;
    if (progress && progressText && progressText !== notedProgress) {
      notedProgress = progressText;
      state.pipeline = { ...progress, notedAt: new Date().toISOString() };
      changed = true;
    }
    if (changed) writeJsonFile(files.state, state);
  }, PROGRESS_NOTED_EVERY_MS);
  noteProgress.unref();
  context.info(
    `local stack up (pid ${process.pid}); data: fresh, every stream, table and bucket starts empty`,
  );
  for (const [service, endpoint] of Object.entries(stack.endpoints))
    context.info(`  ${service.padEnd(9)} ${endpoint}`);
  if (stack.mailUrl) context.info(`  mail      ${stack.mailUrl}  (alert emails land here)`);
  context.info(
    stack.kinesisLimits
      ? `  limits    Kinesis shard limits enforced: ${KINESIS_SHARD_LIMITS_TEXT} (--no-limits turns them off)`
      : `  limits    Kinesis shard limits off${chaos === 'kinesis-throttle' ? ' (kinesis-throttle throttles instead)' : ''}`,
  );
  if (pipeline) context.info('  consumers window-aggregator, bot-alerter, Firehose → lake (running)');
  if (chaos) context.warn(`chaos profile ${chaos}: ${CHAOS_DESCRIPTIONS[chaos]}`);
  context.info(`state: ${files.state}; other terminals: add --local (e.g. clickstream replay --local ...)`);
  context.info('Ctrl-C or `clickstream local down` to stop');

  const reason = await stopped;
  context.debug(`stopping: ${reason}`);
  clearInterval(noteProgress);
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
