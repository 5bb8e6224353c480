/**
 * A consumer of the local pipeline in a worker thread of its own, as Lambda runs each function in an
 * execution environment of its own: the runner, the handler and the handler's SDK clients all live in
 * the worker (local/consumer-worker.ts), so the two consumers and the process that started them (the
 * producer, the local Firehose, the CLI) share the machine's cores instead of one event loop.
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
 *
 * What crosses the thread is data only: the consumer's spec, the template (each worker decides its own
 * function's calls against its role), the chaos profile's name, the logs, the refused calls, and a
 * snapshot of the counters. The snapshot is sent every STATS_EVERY_MS while it changes and with every
 * answer, so `stats()` stays synchronous and is exact once `idle()`, `drain()` or `stop()` resolved.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../consumers/logger.ts';
import type { ResourceNames } from '../core/resources.ts';
import type { ChaosProfileName, HandlerFaultCounters } from './chaos.ts';
import type { ConsumerSpec, LocalConsumer } from './consumer.ts';
import type { Decision } from './iam/policy.ts';
import type { LambdaRunnerSettings, LambdaRunnerStats } from './lambda-runner.ts';
import type { CfnTemplate } from './template.ts';

export const STATS_EVERY_MS = 200;

export interface ConsumerWorkerData {
  spec: ConsumerSpec;
  /** Given, the worker decides every call of the function against its role in this template. */
  iam?: { template: CfnTemplate; names: ResourceNames };
  chaos?: ChaosProfileName;
  /** Whether to send the handler's and runner's log lines (none are made otherwise). */
  logs: boolean;
}

export interface ConsumerSnapshot {
  stats: LambdaRunnerStats;
  dynamodbCalls: number;
  faults?: HandlerFaultCounters;
  iam?: { checked: number };
}

export type ConsumerOperation = 'idle' | 'drain' | 'endOfStream' | 'stop';
export type ToWorker = { id: number; operation: ConsumerOperation };
export type FromWorker =
  | { type: 'ready'; settings: LambdaRunnerSettings; windowSeconds?: number; snapshot: ConsumerSnapshot }
  | { type: 'failed'; error: SerializedError }
  | { type: 'snapshot'; snapshot: ConsumerSnapshot }
  | { type: 'log'; level: keyof Logger; message: string; fields: Record<string, unknown>[] }
  | { type: 'denied'; functionLogicalId: string; decision: Decision }
  | { type: 'reply'; id: number; error?: SerializedError; snapshot: ConsumerSnapshot };

export interface SerializedError {
  name: string;
  message: string;
}

export interface ConsumerThread extends LocalConsumer {
  /** The handler faults injected in this thread so far (chaos profile handler-faults). */
  faults(): HandlerFaultCounters | undefined;
  /** The IAM decisions taken in this thread so far (with a template). */
  iamTally(): { checked: number };
}

export interface ConsumerThreadOptions {
  iam?: ConsumerWorkerData['iam'];
  chaos?: ChaosProfileName;
  logger?: Logger;
  onDenied?: (functionLogicalId: string, decision: Decision) => void;
}

/** The worker's module beside this one: .ts from the sources, .js once built into dist/. */
const WORKER_MODULE = new URL(
  `./consumer-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

export async function startConsumerThread(
  spec: ConsumerSpec,
  options: ConsumerThreadOptions = {},
): Promise<ConsumerThread> {
  const data: ConsumerWorkerData = {
    spec,
    ...(options.iam ? { iam: options.iam } : {}),
    ...(options.chaos ? { chaos: options.chaos } : {}),
    logs: options.logger !== undefined,
  };
  const worker = startWorker(data);
  let snapshot: ConsumerSnapshot | undefined;
  let exited: Error | undefined;
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let ready: (message: Extract<FromWorker, { type: 'ready' }>) => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const started = new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  const fail = (error: Error) => {
    exited ??= error;
    failed(error);
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', (message: FromWorker) => {
    switch (message.type) {
      case 'ready':
        snapshot = message.snapshot;
        ready(message);
        break;
      case 'failed':
        fail(deserializeError(message.error));
        break;
      case 'snapshot':
        snapshot = message.snapshot;
        break;
      case 'log':
        options.logger?.[message.level](message.message, ...message.fields);
        break;
      case 'denied':
        options.onDenied?.(message.functionLogicalId, message.decision);
        break;
      case 'reply': {
        snapshot = message.snapshot;
        const request = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) request?.reject(deserializeError(message.error));
        else request?.resolve();
        break;
      }
    }
  });
  worker.on('error', (error) => fail(error));
  worker.on('exit', (code) => fail(new Error(`the ${spec.fn.name} consumer thread exited (code ${code})`)));

  let nextId = 0;
  const ask = (operation: ConsumerOperation) =>
    new Promise<void>((resolve, reject) => {
      if (exited) return reject(exited);
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, operation } satisfies ToWorker);
    });

  let hello: Extract<FromWorker, { type: 'ready' }>;
  try {
    hello = await started;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  const current = () => snapshot ?? hello.snapshot;
  let stopping: Promise<void> | undefined;
  return {
    runner: {
      settings: hello.settings,
      stats: () => current().stats,
      idle: () => ask('idle'),
      drain: () => ask('drain'),
      stop: () => stop(),
    },
    ...(hello.windowSeconds ? { windowSeconds: hello.windowSeconds } : {}),
    dynamodbCalls: () => current().dynamodbCalls,
    endOfStream: () => ask('endOfStream'),
    faults: () => current().faults,
    iamTally: () => current().iam ?? { checked: 0 },
    stop: () => stop(),
  };

  function stop(): Promise<void> {
    stopping ??= (async () => {
      // The worker stops its runner and clients first, so no invocation is cut off half way.
      if (!exited) await ask('stop').catch(() => undefined);
      await worker.terminate();
    })();
    return stopping;
  }
}

/**
 * From the sources, the worker needs tsx's loader before it imports a .ts module; a worker's own
 * `--import` is not applied to its entry module in Node 20, so a two-line bootstrap registers it.
 */
function startWorker(data: ConsumerWorkerData): Worker {
  if (WORKER_MODULE.pathname.endsWith('.js'))
    return new Worker(fileURLToPath(WORKER_MODULE), { workerData: data });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_MODULE.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

export function serializeError(error: unknown): SerializedError {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}

function deserializeError({ name, message }: SerializedError): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
