/**
 * What a local stack is and takes, whether it runs in this process (stack.ts) or in a child process
 * (stack-process.ts): both build a LocalStack, so its shape and its errors live here, apart from either.
 */

import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { LocalEndpoints } from '../adapters/clients.ts';
import type { AwsTarget } from '../adapters/target.ts';
import type { ResourceNames } from '../core/resources.ts';
import type { ChaosProfileName, StackChaos } from './chaos.ts';
import type { StreamThrottles } from './limits/kinesis-front.ts';
import type { startSmtpSink } from './mail.ts';
import { LOCAL_HOST, type LocalPorts } from './ports.ts';
import type { Ownership } from './processes.ts';
import type { SnsServerStats } from './sns-server.ts';
import type { LocalConfig } from './template.ts';

export interface LocalStackOptions {
  /** Fixed ports (defaults above, each overridable), or 'ephemeral' for tests running side by side. */
  ports?: 'ephemeral' | Partial<LocalPorts>;
  /**
   * The resources to create, read from the synthesized template (local/template.ts). Default: the CDK
   * app synthesized with the local default context (an alert email for the local mailbox).
   */
  config?: LocalConfig;
  /**
   * 'maildev' (default): a MailDev inbox with a web UI for people; 'sink': an in-memory SMTP sink
   * (tests read `stack.mailbox`); or an SMTP server of your own.
   */
  mail?: 'maildev' | 'sink' | { host: string; port: number };
  /** Where s3rver keeps objects; default a fresh temp dir removed at stop. */
  s3Directory?: string;
  /**
   * Run the emulators in a child process. The demo does: on 2 cores the emulators then get one core
   * while the producer and the consumers (all SDK client work) get the other. Not with `mail: 'sink'`.
   */
  isolate?: boolean;
  /** Fault injection (local/chaos.ts); absent: no proxy or switch is started and nothing differs. */
  chaos?: ChaosProfileName;
  /**
   * Enforce Kinesis's per-shard limits in front of kinesalite (local/limits/kinesis-front.ts): default
   * on, except under the kinesis-throttle chaos profile, whose counted throttling stands in for them.
   */
  kinesisLimits?: boolean;
  /**
   * Where the stack records the processes and the temp directory it starts, as it starts them, so
   * that they are found again should this process die without stopping them (`clickstream local up`).
   */
  ownership?: Ownership;
}

export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>;

export interface LocalStack {
  endpoints: LocalEndpoints;
  /** What the stack was built from; the pipeline runs the functions and deliveries it holds. */
  config: LocalConfig;
  names: ResourceNames;
  region: string;
  /** The target commands use to reach this stack. */
  target: AwsTarget;
  smtp: { host: string; port: number };
  /** MailDev's web UI, where people read the alert mails. */
  mailUrl?: string;
  /** The in-memory mailbox when started with `mail: 'sink'`. */
  mailbox?: SmtpSink;
  topicArn: string;
  /** The local SNS endpoint's delivery queue: the pipeline waits on it so every alert mail has left. */
  sns: { idle(): Promise<void>; stats(): Promise<SnsServerStats> };
  kinesis: KinesisClient;
  s3: S3Client;
  /** The running fault injectors, when started with `chaos`. */
  chaos?: StackChaos;
  /** Whether the Kinesis shard limits are enforced. */
  kinesisLimits: boolean;
  /** Write entries and GetRecords calls the shard limits refused so far, per stream (undefined: off). */
  kinesisThrottles(): Promise<StreamThrottles | undefined>;
  /**
   * The stack's own temp directory, removed when it stops and recorded with its processes: the
   * consumers beside it keep their temp files here too, so that a crash leaves one place to clear.
   */
  tempDirectory: string;
  stop(): Promise<void>;
}

export class LocalStackError extends Error {
  override name = 'LocalStackError';
}

/** A port of the stack is taken by another program: nothing was started. */
export class LocalPortInUseError extends LocalStackError {
  override name = 'LocalPortInUseError';
  constructor(
    readonly service: keyof LocalPorts,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(`port ${port} for local ${service} is in use by another program on ${LOCAL_HOST}`, options);
  }
}
