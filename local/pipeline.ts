/**
 * The pipeline's consumers on the embedded stack, as the template says: one local runner per event
 * source mapping, with the mapping's settings, invoking a handler built from its function's environment
 * by the same env-reading code the Lambda runs in AWS (only the clients' endpoints differ), each in a
 * worker thread of its own (local/consumer-thread.ts) or both in the caller's thread; and one local
 * Firehose per delivery stream, with its prefixes and buffering. `clickstream local up` and the demo both start it here.
 *
 * The function timeout in the template is not enforced: the local emulators serve DynamoDB several
 * times slower than AWS, so a flush that takes seconds in AWS could pass a timeout here. It is
 * watched instead: each runner counts the invocations that ran past it (`invocationsPastTimeout`) and
 * the demo reports them. Fault injection enforces one on purpose (local/chaos.ts).
 */
import { mkdirSync } from 'node:fs';
import { createKinesisClient, createS3Client } from '../adapters/clients.ts';
import { type Logger, silentLogger } from '../consumers/logger.ts';
import { DEFAULT_WINDOW_SECONDS } from '../core/aggregate.ts';
import { ClickstreamError } from '../core/errors.ts';
import { type ChaosProfileName, chainHooks, type PipelineChaos, pipelineChaos } from './chaos.ts';
import { type ConsumerSpec, type LocalConsumer, startLocalConsumer } from './consumer.ts';
import { type ConsumerThread, startConsumerThread } from './consumer-thread.ts';
import { type LocalFirehose, startLocalFirehose } from './firehose.ts';
import { AccessDeniedError } from './iam/denied.ts';
import { createLocalIam, type IamTally } from './iam/guard.ts';
import type { Decision } from './iam/policy.ts';
import type { LambdaRunner, LambdaRunnerHooks } from './lambda-runner.ts';
import type { LocalStack } from './stack.ts';
import {
  type CfnTemplate,
  consumerOf,
  type HandlerKind,
  type LocalConfig,
  type LocalDelivery,
  localIamModel,
  TemplateError,
} from './template.ts';

export interface LocalPipelineOptions {
  /** Where the on-failure destinations (one JSONL file per queue or topic of the template) go. */
  workDir: string;
  logger?: Logger;
  /**
   * Where the consumers run: both in this thread (the default), or each in a worker thread of its own,
   * as Lambda runs each function apart (`demo --consumers threads`). On 2 cores the threads were no
   * faster (the emulators need the other core) and took more memory: docs/performance.md. Each thread
   * loads the handler and the SDK again, and `hooks` (functions) cannot cross to another thread.
   */
  consumers?: 'threads' | 'in-process';
  /** Called before each invocation (`consumers: 'in-process'` only). */
  hooks?: Partial<Record<HandlerKind, LambdaRunnerHooks>>;
  /** A function timeout for both consumers (none by default: see above). */
  functionTimeoutMs?: number;
  /** Fault injection in the consumers (local/chaos.ts); the stack-level faults come with the stack's own `chaos`. */
  chaos?: ChaosProfileName;
  /**
   * The template the stack was built from. Given, every call a function makes runs as its role in it
   * (local/iam/guard.ts): a call the role does not allow fails as in AWS, and the drain fails at once
   * naming the function and the action.
   */
  template?: CfnTemplate;
  /** Told the first refused call, for a long-running stack that has no drain to fail (`local up`). */
  onDenied?: (error: ClickstreamError) => void;
}

/** Where one consumer stands: what it has read, what it holds back, what it has written. */
export interface ConsumerProgress {
  /** Kinesis records processed (a KPL-aggregated record counts once). */
  records: number;
  /** Records read and waiting for their batch. */
  buffered: number;
  /** Tumbling windows still open (each ends in a final invocation). */
  openWindows: number;
  shards: number;
  /** Shards read to their end. */
  shardsCaughtUp: number;
  /** Calls the function made to DynamoDB (the aggregator's merges, the alerter's reads and claims). */
  dynamodbCalls: number;
}

/** What a drain is waiting for; cheap to read as often as a progress line wants. */
export interface PipelineProgress {
  aggregator: ConsumerProgress;
  alerter: ConsumerProgress;
  /** Records and objects the local Firehose deliveries wrote to the lake, together. */
  lake: { records: number; objects: number };
  /** Alert mails: delivered, still queued, and why the last attempt failed while one is retried. */
  mail: { delivered: number; pending: number; lastError?: string };
}

export interface LocalPipeline {
  aggregator: LambdaRunner;
  alerter: LambdaRunner;
  /** One local Firehose per delivery stream of the template, by its local name. */
  deliveries: Record<string, LocalFirehose>;
  /** The event-time window the aggregator folds by, as its environment sets it. */
  windowSeconds: number;
  /** The injected faults, when started with `chaos`. */
  chaos?: PipelineChaos;
  /** The IAM decisions taken for the functions' calls, when started with a `template`. */
  iam?: IamTally;
  /**
   * Once the producer is done: end open windows, let the alerter and the lake catch up, tell the
   * alerter the stream has ended (it closes the open incidents), and wait for the alert mails to
   * leave. Afterwards every accepted event is in DynamoDB, the lake and (if it broke a rule) a mailbox.
   * Rejects with the signal's reason once it aborts (Ctrl-C): waiting stops there, and `stop()` ends
   * what was still running.
   */
  drain(signal?: AbortSignal): Promise<DrainTimings>;
  progress(): Promise<PipelineProgress>;
  stop(): Promise<void>;
}

/** Where a drain's time went, phase by phase (each from the end of the one before). */
export interface DrainTimings {
  /** Until the aggregator read every shard to its end and closed its windows (every merge done). */
  aggregatorMs: number;
  /** Then until the alerter and the lake deliveries caught up with what it put. */
  alerterAndLakeMs: number;
  /** Then the alerter's end-of-stream invocation (closing open incidents). */
  endOfStreamMs: number;
  /** Then until every alert mail left the local SNS. */
  mailMs: number;
}

export async function startLocalPipeline(
  stack: LocalStack,
  options: LocalPipelineOptions,
): Promise<LocalPipeline> {
  const threaded = options.consumers === 'threads';
  if (threaded && options.hooks)
    throw new ClickstreamError(
      "hooks are functions of this thread and cannot reach the consumers' threads: start the pipeline with consumers: 'in-process' to give them",
    );
  const { config, endpoints } = stack;
  const consumers = { aggregator: consumerOf(config, 'aggregator'), alerter: consumerOf(config, 'alerter') };
  mkdirSync(options.workDir, { recursive: true });
  const kinesis = createKinesisClient({ endpoint: endpoints.kinesis });
  const s3 = createS3Client({ endpoint: endpoints.s3 });
  const chaos = options.chaos ? pipelineChaos(options.chaos) : undefined;
  const functionTimeoutMs = options.functionTimeoutMs ?? chaos?.functionTimeoutMs;
  const logger = options.logger ?? silentLogger;
  const denials = deniedCalls(config, options.onDenied);
  const iam = options.template
    ? createLocalIam(localIamModel(options.template, config.names), { onDenied: denials.record })
    : undefined;
  const specs = {} as Record<HandlerKind, ConsumerSpec>;
  for (const kind of ['aggregator', 'alerter'] as const) {
    const { function: fn, mapping, stream } = consumers[kind];
    // As Lambda checks the role when it creates an event source mapping: it must read the stream.
    if (iam) denials.check(() => iam.checkServiceAccess(fn.logicalId), fn.logicalId);
    specs[kind] = {
      kind,
      fn,
      mapping,
      streamName: stream.name,
      endpoints,
      region: config.region,
      accountId: config.accountId,
      workDir: options.workDir,
      ...(functionTimeoutMs ? { functionTimeoutMs } : {}),
    };
  }
  // Refusals decided in the consumers' threads, beside those decided here.
  const threadDenials: Decision[] = [];
  const starting = (['aggregator', 'alerter'] as const).map((kind) => {
    if (threaded)
      return startConsumerThread(specs[kind], {
        ...(options.template ? { iam: { template: options.template, names: config.names } } : {}),
        ...(options.chaos ? { chaos: options.chaos } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
        onDenied: (functionLogicalId, decision) => {
          threadDenials.push(decision);
          denials.record(functionLogicalId, decision);
        },
      });
    const hooks = chainHooks(chaos?.hooks[kind], options.hooks?.[kind]);
    return startLocalConsumer(specs[kind], { logger, ...(iam ? { iam } : {}), ...(hooks ? { hooks } : {}) });
  });
  const outcomes = await Promise.allSettled(starting);
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    // A consumer left running (its runner polling, or its thread) would keep the process alive.
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') await outcome.value.stop();
    kinesis.destroy();
    s3.destroy();
    throw failed.reason;
  }
  const [aggregatorConsumer, alerterConsumer] = outcomes.map(
    (outcome) => (outcome as PromiseFulfilledResult<LocalConsumer | ConsumerThread>).value,
  ) as [LocalConsumer | ConsumerThread, LocalConsumer | ConsumerThread];
  const started = { aggregator: aggregatorConsumer, alerter: alerterConsumer };
  const windowSeconds = started.aggregator.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const deliveries: Record<string, LocalFirehose> = {};
  for (const delivery of config.deliveries) {
    // Temp files in the stack's own directory, which it removes at stop.
    deliveries[delivery.name] = await startDelivery(config, delivery, {
      kinesis,
      s3,
      tempDirectory: stack.tempDirectory,
    });
  }
  const aggregator = started.aggregator.runner;
  const alerter = started.alerter.runner;
  const lakes = Object.values(deliveries);
  const threads = threaded ? (Object.values(started) as ConsumerThread[]) : [];
  return {
    aggregator,
    alerter,
    deliveries,
    windowSeconds,
    ...(chaos ? { chaos: threaded ? threadedChaos(chaos, threads) : chaos } : {}),
    ...(iam ? { iam: threaded ? threadedTally(iam.tally, threads, threadDenials) : iam.tally } : {}),
    // A refused call is retried by the runner as AWS would, for ever: the drain fails at once instead.
    drain: (signal) =>
      Promise.race([
        (async (): Promise<DrainTimings> => {
          denials.throwIfAny();
          let mark = performance.now();
          const lap = () => {
            const ms = Math.round(performance.now() - mark);
            mark = performance.now();
            return ms;
          };
          await aggregator.drain();
          const aggregatorMs = lap();
          await Promise.all([alerter.drain(), ...lakes.map((lake) => lake.flush())]);
          const alerterAndLakeMs = lap();
          // The replay is over: what the watermark has not closed yet closes now, as `aws lambda invoke`
          // with this event would in AWS.
          await started.alerter.endOfStream();
          const endOfStreamMs = lap();
          await stack.sns.idle();
          const mailMs = lap();
          denials.throwIfAny();
          return { aggregatorMs, alerterAndLakeMs, endOfStreamMs, mailMs };
        })(),
        denials.first,
        ...(signal ? [whenAborted(signal)] : []),
      ]),
    progress: async () => {
      const lake = { records: 0, objects: 0 };
      for (const delivery of lakes) {
        const stats = delivery.stats();
        lake.records += stats.records;
        lake.objects += stats.objects;
      }
      const { delivered, pending, lastError } = await stack.sns.stats();
      return {
        aggregator: consumerProgress(started.aggregator),
        alerter: consumerProgress(started.alerter),
        lake,
        mail: { delivered, pending, ...(lastError ? { lastError } : {}) },
      };
    },
    stop: async () => {
      await Promise.all([
        started.aggregator.stop(),
        started.alerter.stop(),
        ...lakes.map((lake) => lake.stop()),
      ]);
      kinesis.destroy();
      s3.destroy();
    },
  };
}

function consumerProgress(consumer: LocalConsumer): ConsumerProgress {
  const stats = consumer.runner.stats();
  const shards = Object.values(stats.shards);
  return {
    records: stats.recordsProcessed,
    buffered: shards.reduce((sum, shard) => sum + shard.buffered, 0),
    openWindows: shards.filter((shard) => shard.windowOpen).length,
    shards: shards.length,
    shardsCaughtUp: shards.filter((shard) => shard.caughtUp).length,
    dynamodbCalls: consumer.dynamodbCalls(),
  };
}

/** The chaos of a threaded pipeline: its handler faults are counted in the consumers' threads. */
function threadedChaos(chaos: PipelineChaos, threads: ConsumerThread[]): PipelineChaos {
  if (!chaos.faults) return chaos;
  const sum = (count: 'thrown' | 'timedOut') =>
    threads.reduce((total, thread) => total + (thread.faults()?.[count] ?? 0), 0);
  return {
    ...chaos,
    faults: {
      get thrown() {
        return sum('thrown');
      },
      get timedOut() {
        return sum('timedOut');
      },
    },
  };
}

/** The IAM decisions of a threaded pipeline: this thread's (service access) and each consumer's. */
function threadedTally(own: IamTally, threads: ConsumerThread[], threadDenials: Decision[]): IamTally {
  return {
    get checked() {
      return own.checked + threads.reduce((total, thread) => total + thread.iamTally().checked, 0);
    },
    get denied() {
      // Each refusal reaches this thread as it happens, before the next counters do.
      return own.denied + threadDenials.length;
    },
    get denials() {
      return [...own.denials, ...threadDenials];
    },
  };
}

/** Rejects with the signal's reason once it aborts, for a wait raced against it to stop. */
function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/**
 * The first call a role refused, as an error naming the function, the action and the resource; the
 * `first` promise rejects with it, for a drain to stop waiting.
 */
function deniedCalls(config: LocalConfig, onDenied?: (error: ClickstreamError) => void) {
  let refused: ClickstreamError | undefined;
  let reject: (error: Error) => void = () => undefined;
  const first = new Promise<never>((_, fail) => {
    reject = fail;
  });
  first.catch(() => undefined); // observed by whichever drain races it
  const functionName = (logicalId: string) =>
    config.functions.find((fn) => fn.logicalId === logicalId)?.name ?? logicalId;
  const record = (logicalId: string, decision: Decision) => {
    if (refused) return;
    refused = new ClickstreamError(
      `${functionName(logicalId)} was refused ${decision.action} on ${decision.resource}: ${decision.reason ?? decision.message}`,
      `its role in the template does not allow it; in AWS the same call would fail with AccessDenied. Grant it in infra/ (or use the shipped template)`,
    );
    onDenied?.(refused);
    reject(refused);
  };
  return {
    first,
    record,
    check(run: () => void, logicalId: string) {
      try {
        run();
      } catch (error) {
        if (error instanceof AccessDeniedError) {
          record(logicalId, error.decision);
          throw refused;
        }
        throw error;
      }
    },
    throwIfAny() {
      if (refused) throw refused;
    },
  };
}

function startDelivery(
  config: LocalConfig,
  delivery: LocalDelivery,
  clients: Pick<Parameters<typeof startLocalFirehose>[0], 'kinesis' | 's3' | 'tempDirectory'>,
): Promise<LocalFirehose> {
  const stream = config.streams.find((s) => s.logicalId === delivery.sourceStreamLogicalId);
  const bucket = config.buckets.find((b) => b.logicalId === delivery.bucketLogicalId);
  if (!stream || !bucket) {
    throw new TemplateError(
      `delivery stream ${delivery.logicalId} reads or writes a resource the template lacks`,
    );
  }
  return startLocalFirehose({
    ...clients,
    streamName: stream.name,
    bucket: bucket.name,
    table: delivery.table,
    deliveryStreamName: delivery.name,
    prefix: delivery.prefix,
    errorOutputPrefix: delivery.errorOutputPrefix,
    partitionField: delivery.partitionField,
    fileExtension: delivery.fileExtension,
    bufferMs: delivery.bufferingSeconds * 1000,
    bufferBytes: delivery.bufferingMiB * 1024 * 1024,
  });
}
