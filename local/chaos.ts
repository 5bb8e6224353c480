/**
 * Fault injection for the embedded stack: named chaos profiles, each breaking one thing the way it
 * breaks in AWS, so a replay under the profile proves the pipeline still counts every event exactly
 * once and sends every alert exactly once (docs/architecture.md).
 *
 * - kinesis-throttle: an HTTP proxy in front of kinesalite fails a share of PutRecords entries with
 *   ProvisionedThroughputExceeded and every 10th call with 5xx (producer and aggregator both write);
 *   counted, not drawn, so even the few KPL aggregates the producer sends are surely hit.
 * - handler-faults: chosen Lambda invocations throw, others hang past the function timeout (their work
 *   still lands afterwards, as a timed-out Lambda's does).
 * - dynamodb-transient: a proxy in front of DynamoDB fails a share of the aggregator's merges
 *   (UpdateItem on user-activity) and of the alerter's claim writes (alert-dedupe) with 500 or
 *   throughput errors, before or after the write happened; the SDK's retry of a failed call goes through.
 * - smtp-outage: the mail host refuses connections for a while; the local SNS endpoint retries.
 * - emulator-restart: the DynamoDB emulator is killed (SIGKILL) and restarted on the same port with
 *   the same SQLite file (dynoxide --db-path). Kinesis is never restarted: kinesalite keeps its data
 *   in leveldown, whose native addon is not built here, so a restart would lose the streams.
 * - producer-kill: the producer is killed mid-run and resumed from its checkpoint; the events it sends
 *   again keep their ids and count once. It acts on the producer process, not on the stack, so it is
 *   driven by the tests (and by hand: `kill -9` a `clickstream replay` and run the same command again).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KinesisWindowEvent } from '../consumers/kinesis-event.ts';
import type { ResourceNames } from '../core/resources.ts';
import {
  CHAOS_DESCRIPTIONS,
  CHAOS_PROFILES,
  CHAOS_SCHEDULE,
  type ChaosProfileName,
  HANDLER_FAULTS,
  isChaosProfile,
} from './chaos-profiles.ts';
import {
  type DynamoChaosProxy,
  type DynamoFaultRule,
  startDynamoChaosProxy,
} from './dynamodb-chaos-proxy.ts';
import { type DynamoEmulator, startDynamoEmulator } from './dynamodb-emulator.ts';
import { type ChaosProxy, startKinesisChaosProxy } from './kinesis-chaos-proxy.ts';
import type { LambdaRunnerHooks } from './lambda-runner.ts';
import { isAddressInUse, listen } from './net.ts';
import type { Ownership } from './processes.ts';

export {
  CHAOS_DESCRIPTIONS,
  CHAOS_PROFILES,
  CHAOS_SCHEDULE,
  type ChaosProfileName,
  HANDLER_FAULTS,
  isChaosProfile,
};

export class ChaosError extends Error {
  override name = 'ChaosError';
}

/** What an injected handler fault throws: recognisable in logs as ours, not a bug. */
export class InjectedFaultError extends ChaosError {
  override name = 'InjectedFaultError';
}

export function chaosProfile(value: string): ChaosProfileName {
  if (!isChaosProfile(value))
    throw new ChaosError(`unknown chaos profile "${value}" (profiles: ${CHAOS_PROFILES.join(', ')})`);
  return value;
}

/** The failures of kinesis-throttle: often enough that every run retries, rare enough to finish fast. */
export const KINESIS_THROTTLE = { failEveryNthEntry: 5, failEveryNthCall: 10, seed: 42 };
/**
 * The write failures of dynamodb-transient: the aggregator's merges, and the alerter's claim, mark and
 * release of an alert (rarer writes, so failed more often to be sure each run hits some).
 */
export function dynamoTransientRules(names: Pick<ResourceNames, 'userActivityTable' | 'alertDedupeTable'>) {
  return [
    { name: 'merge', operations: ['UpdateItem'], tables: [names.userActivityTable], everyNth: 10 },
    {
      name: 'alert-claim',
      operations: ['PutItem', 'UpdateItem', 'DeleteItem'],
      tables: [names.alertDedupeTable],
      everyNth: 3,
    },
  ] satisfies DynamoFaultRule[];
}

// ---------------------------------------------------------------------------------------------------
// Stack faults

/** A TCP pass-through whose listener can be taken down: senders then get "connection refused". */
export interface OutageSwitch {
  host: string;
  port: number;
  readonly down: boolean;
  /** Refuses new connections and drops open ones, as when a mail host goes away. */
  begin(): Promise<void>;
  /** Listens again on the same port. */
  end(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOutageSwitch(
  upstream: { host: string; port: number },
  host = '127.0.0.1',
): Promise<OutageSwitch> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const createListener = () =>
    createServer((client) => {
      const server = connect(upstream.port, upstream.host);
      track(client);
      track(server);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
      client.pipe(server).pipe(client);
    });
  const close = async (server: Server) => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  let server: Server | undefined = createListener();
  const port = await listen(server, 0, host);
  return {
    host,
    port,
    get down() {
      return server === undefined;
    },
    async begin() {
      if (!server) return;
      const stopping = server;
      server = undefined;
      await close(stopping);
    },
    async end() {
      if (server) return;
      server = createListener();
      await listen(server, port, host);
    },
    async stop() {
      if (server) await close(server);
      server = undefined;
    },
  };
}

/** A dynoxide that keeps its tables in a SQLite file, so it can be killed and come back with them. */
export interface RestartableDynamo {
  readonly emulator: DynamoEmulator;
  restarts: number;
  /** SIGKILL, then a new process on the same port and file. */
  restart(options?: { downMs?: number }): Promise<void>;
  close(): Promise<void>;
}

export async function startRestartableDynamo(
  host: string,
  port: number,
  options: { directory?: string; ownership?: Ownership | undefined } = {},
): Promise<RestartableDynamo> {
  const directory = await mkdtemp(join(options.directory ?? tmpdir(), 'clickstream-dynamodb-'));
  const dbPath = join(directory, 'dynamodb.sqlite');
  const start = (at: number) =>
    startDynamoEmulator(host, at, 'dynoxide', {
      dbPath,
      ...(options.ownership ? { ownership: options.ownership } : {}),
    });
  let emulator: DynamoEmulator;
  try {
    emulator = await start(port);
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    if (isAddressInUse(error)) throw error;
    throw new ChaosError('emulator-restart needs dynoxide, the DynamoDB emulator with a database file', {
      cause: error,
    });
  }
  const handle: RestartableDynamo = {
    get emulator() {
      return emulator;
    },
    restarts: 0,
    async restart(options = {}) {
      await emulator.kill();
      if (options.downMs) await sleep(options.downMs);
      emulator = await start(emulator.port);
      handle.restarts++;
    },
    async close() {
      await emulator.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The injectors a chaos stack runs; tests read their counters and drive the switches. */
export interface StackChaos {
  profile: ChaosProfileName;
  kinesis?: ChaosProxy;
  dynamodb?: DynamoChaosProxy;
  /** smtp-outage: between the SNS endpoint and the mail host. */
  smtp?: OutageSwitch;
  /** emulator-restart. */
  dynamoEmulator?: RestartableDynamo;
}

export interface StackChaosWiring {
  chaos: StackChaos;
  /** What the stack hands its clients and the SNS endpoint instead of the emulators' own addresses. */
  endpoints: { kinesis: string; dynamodb: string };
  smtp: { host: string; port: number };
  stop(): Promise<void>;
}

/** Puts the profile's proxies between the emulators and everything that talks to them. */
export async function wireStackChaos(
  profile: ChaosProfileName,
  emulators: {
    kinesis: string;
    dynamodb: string;
    smtp: { host: string; port: number };
    names: ResourceNames;
  },
  dynamoEmulator?: RestartableDynamo,
): Promise<StackChaosWiring> {
  const chaos: StackChaos = { profile, ...(dynamoEmulator ? { dynamoEmulator } : {}) };
  const endpoints = { kinesis: emulators.kinesis, dynamodb: emulators.dynamodb };
  let smtp = emulators.smtp;
  if (profile === 'kinesis-throttle') {
    chaos.kinesis = await startKinesisChaosProxy({ upstream: emulators.kinesis, ...KINESIS_THROTTLE });
    endpoints.kinesis = chaos.kinesis.endpoint;
  } else if (profile === 'dynamodb-transient') {
    chaos.dynamodb = await startDynamoChaosProxy({
      upstream: emulators.dynamodb,
      rules: dynamoTransientRules(emulators.names),
    });
    endpoints.dynamodb = chaos.dynamodb.endpoint;
  } else if (profile === 'smtp-outage') {
    chaos.smtp = await startOutageSwitch(emulators.smtp);
    smtp = { host: chaos.smtp.host, port: chaos.smtp.port };
  }
  return {
    chaos,
    endpoints,
    smtp,
    stop: async () => {
      await Promise.all([chaos.kinesis?.stop(), chaos.dynamodb?.stop(), chaos.smtp?.stop()]);
    },
  };
}

/**
 * For a long-running `clickstream local up --chaos`: the outages that tests trigger by hand come on a
 * timer instead. Returns the function that stops the timer (an outage under way is ended first).
 */
export function startChaosSchedule(
  chaos: StackChaos,
  log: (line: string) => void,
  schedule: typeof CHAOS_SCHEDULE = CHAOS_SCHEDULE,
): () => Promise<void> {
  let stopped = false;
  const abort = new AbortController();
  const pause = (ms: number) =>
    sleep(ms, undefined, { signal: abort.signal }).then(
      () => !stopped,
      () => false,
    );
  let loop: Promise<void> = Promise.resolve();
  const smtp = chaos.smtp;
  const dynamo = chaos.dynamoEmulator;
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  if (smtp) {
    loop = (async () => {
      while (await pause(schedule.smtp.upMs)) {
        log(`chaos: SMTP down for ${seconds(schedule.smtp.downMs)}`);
        await smtp.begin();
        await pause(schedule.smtp.downMs);
        await smtp.end();
        log('chaos: SMTP back');
      }
    })();
  } else if (dynamo) {
    loop = (async () => {
      while (await pause(schedule.dynamoRestartEveryMs)) {
        await dynamo.restart();
        log(`chaos: DynamoDB killed and restarted with its tables kept (${dynamo.restarts} so far)`);
      }
    })();
  }
  // A failed injection ends the schedule and is said at once, not left to surface when it is stopped.
  loop = loop.catch((error: unknown) => {
    log(`chaos: schedule stopped: ${error instanceof Error ? error.message : String(error)}`);
  });
  return async () => {
    stopped = true;
    abort.abort();
    await loop;
  };
}

// ---------------------------------------------------------------------------------------------------
// Handler faults

export interface HandlerFaultCounters {
  thrown: number;
  timedOut: number;
}

export interface HandlerFaults {
  hooks: LambdaRunnerHooks;
  counters: HandlerFaultCounters;
}

/**
 * Faults chosen by invocation count. A batch (or a window's final invocation) is failed at most once,
 * so its retry goes through: the faults exercise retries, bisection and late work from timed-out
 * invocations without ever exhausting the retry quota (which would park the batch, by design).
 */
export function createHandlerFaults(settings: typeof HANDLER_FAULTS = HANDLER_FAULTS): HandlerFaults {
  const counters: HandlerFaultCounters = { thrown: 0, timedOut: 0 };
  const failed = new Set<string>();
  return {
    counters,
    hooks: {
      async beforeInvoke(n, event) {
        if (counters.thrown + counters.timedOut >= settings.maxFaults) return;
        const key = batchKey(event);
        if (failed.has(key)) return;
        if (n % settings.throwEvery === 0) {
          failed.add(key);
          counters.thrown++;
          throw new InjectedFaultError(`injected fault in invocation ${n}`);
        }
        if (n % settings.timeoutEvery === 0 && counters.timedOut < settings.maxTimeouts) {
          failed.add(key);
          counters.timedOut++;
          // Past the timeout the runner has given up on this invocation; the handler still runs after.
          await sleep(settings.functionTimeoutMs + 250);
        }
      },
    },
  };
}

function batchKey(event: KinesisWindowEvent<unknown>): string {
  const first = event.Records[0]?.eventID ?? '';
  const last = event.Records[event.Records.length - 1]?.eventID ?? '';
  return [
    event.shardId ?? '',
    event.window?.start ?? '',
    event.isFinalInvokeForWindow === true,
    first,
    last,
    event.Records.length,
  ].join('|');
}

/** What a chaos profile changes in the local pipeline (the consumers' runners). */
export interface PipelineChaos {
  hooks: { aggregator?: LambdaRunnerHooks; alerter?: LambdaRunnerHooks };
  functionTimeoutMs?: number;
  faults?: HandlerFaultCounters;
}

export function pipelineChaos(profile: ChaosProfileName): PipelineChaos {
  if (profile !== 'handler-faults') return { hooks: {} };
  const aggregator = createHandlerFaults();
  const alerter = createHandlerFaults();
  return {
    hooks: { aggregator: aggregator.hooks, alerter: alerter.hooks },
    functionTimeoutMs: HANDLER_FAULTS.functionTimeoutMs,
    faults: {
      get thrown() {
        return aggregator.counters.thrown + alerter.counters.thrown;
      },
      get timedOut() {
        return aggregator.counters.timedOut + alerter.counters.timedOut;
      },
    },
  };
}

/** Runs the chaos hook, then the caller's own (both see every invocation). */
export function chainHooks(
  first: LambdaRunnerHooks | undefined,
  second: LambdaRunnerHooks | undefined,
): LambdaRunnerHooks | undefined {
  if (!first || !second) return first ?? second;
  return {
    async beforeInvoke(n, event) {
      await first.beforeInvoke?.(n, event);
      await second.beforeInvoke?.(n, event);
    },
  };
}
