/**
 * The embedded AWS stack: Kinesis (kinesalite), DynamoDB (dynoxide or dynalite), S3 (s3rver), our SNS endpoint and
 * mail, all on 127.0.0.1 in this process. `clickstream local up`, the demo and the integration tests all
 * start it through `startLocalStack`, so they run against the same thing.
 */

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import S3rver from 's3rver';
import {
  createDynamoClient,
  createKinesisClient,
  createS3Client,
  createSnsClient,
  LOCAL_REGION,
  type LocalEndpoints,
} from '../adapters/clients.ts';
import type { AwsTarget } from '../adapters/target.ts';
import { startRestartableDynamo, wireStackChaos } from './chaos.ts';
import { createTableCommand, dynoxideBinary, startDynamoEmulator } from './dynamodb-emulator.ts';
import { startLocalKinesis } from './kinesis/emulator.ts';
import { startMailDev, startSmtpSink } from './mail.ts';
import { freePort, isAddressInUse, portTaken } from './net.ts';
import { acceptOwnOriginOnly } from './origin-guard.ts';
import { startSnsServer } from './sns-server.ts';
import {
  LocalPortInUseError,
  type LocalStack,
  LocalStackError,
  type LocalStackOptions,
  type SmtpSink,
} from './stack-contract.ts';
import { serveStackProcess, startStackProcess } from './stack-process.ts';
import { LOCAL_DEFAULT_CONTEXT, loadLocalConfig } from './synth.ts';
import type { LocalConfig } from './template.ts';

export { freePort } from './net.ts';

import { DEFAULT_LOCAL_PORTS, LOCAL_HOST, type LocalPorts } from './ports.ts';

export {
  DEFAULT_LOCAL_PORTS,
  LOCAL_HOST,
  LocalPortInUseError,
  type LocalPorts,
  type LocalStack,
  LocalStackError,
  type LocalStackOptions,
};

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const config = options.config ?? (await loadLocalConfig({ context: LOCAL_DEFAULT_CONTEXT })).config;
  if (options.isolate) {
    // The injectors' switches and counters live in the stack's process, out of the caller's reach.
    if (options.chaos) throw new LocalStackError('a chaos stack cannot be isolated in a child process');
    return startStackProcess({ ...options, config }, SELF);
  }
  const ports = await resolvePorts(options.ports);
  const mail = options.mail ?? 'maildev';
  // Every port is checked before anything starts or talks to it: a clash then leaves nothing behind,
  // and no reply from a foreign server is ever read as an emulator's.
  await checkPortsFree(ports, mailServices(mail));
  const names = config.names;
  const ownership = options.ownership;
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => undefined);
  };
  try {
    // One temp directory per stack, holding all its others: one path to record, one to remove.
    const scratch = await mkdtemp(join(tmpdir(), 'clickstream-stack-'));
    ownership?.addDirectory(scratch);
    stops.push(async () => {
      await rm(scratch, { recursive: true, force: true });
      ownership?.removeDirectory(scratch);
    });

    const kinesisLimits = options.kinesisLimits ?? options.chaos !== 'kinesis-throttle';
    const localKinesis = await onPort(
      'kinesis',
      ports.kinesis,
      startLocalKinesis(LOCAL_HOST, ports.kinesis, { limits: kinesisLimits, path: join(scratch, 'kinesis') }),
    );
    stops.push(() => localKinesis.close());

    const restartable =
      options.chaos === 'emulator-restart'
        ? await onPort(
            'dynamodb',
            ports.dynamodb,
            startRestartableDynamo(LOCAL_HOST, ports.dynamodb, { directory: scratch, ownership }),
          )
        : undefined;
    const dynamo =
      restartable?.emulator ??
      (await onPort(
        'dynamodb',
        ports.dynamodb,
        startDynamoEmulator(LOCAL_HOST, ports.dynamodb, 'dynoxide', {
          // Its tables in a SQLite file, not in memory, so that its memory stays flat however many
          // windows a run writes. Measured no slower: 20,000 merges at 32 in flight, alternated,
          // 762 and 782/s in memory against 780 and 868/s with the file (docs/performance.md).
          ...(dynoxideBinary() ? { dbPath: join(scratch, 'dynamodb.sqlite') } : {}),
          ...(ownership ? { ownership } : {}),
        }),
      ));
    stops.push(() => (restartable ? restartable.close() : dynamo.close()));

    const s3Directory = options.s3Directory ?? join(scratch, 's3');
    await mkdir(s3Directory, { recursive: true });
    const s3Server = new S3rver({
      address: LOCAL_HOST,
      port: ports.s3,
      directory: s3Directory,
      silent: true,
      // Path-style only: virtual-host buckets would need DNS for *.localhost.
      vhostBuckets: false,
    });
    // Not s3Server.run(): it leaves a failed listen as an unhandled 'error' event, which ends the process.
    const s3HttpServer = s3Server.listen(ports.s3, LOCAL_HOST, () => undefined);
    await onPort('s3', ports.s3, listening(s3HttpServer));
    s3Server.httpServer = s3HttpServer;
    acceptOwnOriginOnly(s3HttpServer);
    stops.push(() => s3Server.close());

    const {
      smtp,
      mailUrl,
      mailbox,
      close: closeMail,
    } = await startMail(mail, ports, join(scratch, 'maildev'));
    stops.push(closeMail);

    const emulated = {
      kinesis: localKinesis.endpoint,
      dynamodb: `http://${LOCAL_HOST}:${dynamo.port}`,
    };
    const chaos = options.chaos
      ? await wireStackChaos(options.chaos, { ...emulated, smtp, names }, restartable)
      : undefined;
    if (chaos) stops.push(() => chaos.stop());

    const snsServer = await onPort(
      'sns',
      ports.sns,
      startSnsServer({ host: LOCAL_HOST, port: ports.sns, smtp: chaos?.smtp ?? smtp }),
    );
    stops.push(() => snsServer.close());

    const endpoints: LocalEndpoints = {
      ...(chaos?.endpoints ?? emulated),
      s3: `http://${LOCAL_HOST}:${addressPort(s3HttpServer)}`,
      sns: snsServer.endpoint,
    };
    const kinesis = createKinesisClient({ endpoint: endpoints.kinesis });
    const s3 = createS3Client({ endpoint: endpoints.s3 });
    await createResources(endpoints, config);
    const target: AwsTarget = { mode: 'local', region: LOCAL_REGION, endpoints, names };
    return {
      endpoints,
      config,
      names,
      region: LOCAL_REGION,
      target,
      smtp,
      ...(mailUrl ? { mailUrl } : {}),
      ...(mailbox ? { mailbox } : {}),
      topicArn: alertTopicArn(config),
      sns: { idle: () => snsServer.idle(), stats: async () => snsServer.stats() },
      kinesis,
      s3,
      ...(chaos ? { chaos: chaos.chaos } : {}),
      kinesisLimits,
      kinesisThrottles: async () => localKinesis.throttles(),
      tempDirectory: scratch,
      stop: async () => {
        kinesis.destroy();
        s3.destroy();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The ARN of the topic that plays the alert-topic role. */
export function alertTopicArn(config: LocalConfig): string {
  const topic = config.topics.find((t) => t.name === config.names.alertTopic);
  if (!topic) throw new LocalStackError(`the template has no topic named ${config.names.alertTopic}`);
  return topic.arn;
}

/**
 * Creates the streams, tables, buckets and topics (with their email subscriptions) the template holds.
 * Idempotent: "already exists" is success, so `local up` can be run against a stack that is already
 * populated.
 */
export async function createResources(endpoints: LocalEndpoints, config: LocalConfig): Promise<void> {
  const kinesis = createKinesisClient({ endpoint: endpoints.kinesis });
  const dynamo = createDynamoClient({ endpoint: endpoints.dynamodb });
  const s3 = createS3Client({ endpoint: endpoints.s3 });
  const sns = createSnsClient({ endpoint: endpoints.sns });
  try {
    for (const stream of config.streams) {
      await ignoreExisting(
        kinesis.send(new CreateStreamCommand({ StreamName: stream.name, ShardCount: stream.shardCount })),
      );
      await waitForStream(kinesis, stream.name);
    }
    for (const table of config.tables) {
      const created = await ignoreExisting(dynamo.send(createTableCommand(table.name, table.keys)));
      // dynalite accepts the TTL setting but does not expire items; dynoxide does. The attribute is written either way.
      if (created && table.ttlAttribute) {
        await dynamo
          .send(
            new UpdateTimeToLiveCommand({
              TableName: table.name,
              TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
            }),
          )
          .catch(() => undefined);
      }
    }
    for (const bucket of config.buckets) {
      await ignoreExisting(s3.send(new CreateBucketCommand({ Bucket: bucket.name })));
    }
    for (const topic of config.topics) {
      const created = await sns.send(new CreateTopicCommand({ Name: topic.name }));
      // The functions' environment carries the ARN the template resolved to; it must be the real one.
      if (created.TopicArn !== topic.arn) {
        throw new LocalStackError(
          `local SNS named topic ${topic.name} ${created.TopicArn}, not ${topic.arn}`,
        );
      }
      for (const Endpoint of topic.emails) {
        await sns.send(new SubscribeCommand({ TopicArn: topic.arn, Protocol: 'email', Endpoint }));
      }
    }
  } finally {
    kinesis.destroy();
    dynamo.destroy();
    s3.destroy();
    sns.destroy();
  }
}

const EXISTS = new Set(['ResourceInUseException', 'BucketAlreadyOwnedByYou', 'BucketAlreadyExists']);

/** Resolves true when created, false when it already existed. */
async function ignoreExisting(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return true;
  } catch (error) {
    if (error instanceof Error && EXISTS.has(error.name)) return false;
    throw error;
  }
}

async function waitForStream(kinesis: KinesisClient, StreamName: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(50);
  }
  throw new LocalStackError(`stream ${StreamName} did not become ACTIVE`);
}

/** The mail host the SNS endpoint delivers to: MailDev, an in-memory sink, or the caller's own. */
async function startMail(
  mail: NonNullable<LocalStackOptions['mail']>,
  ports: LocalPorts,
  directory: string,
): Promise<{
  smtp: { host: string; port: number };
  mailUrl?: string;
  mailbox?: SmtpSink;
  close(): Promise<void>;
}> {
  if (mail === 'maildev') {
    const maildev = await onPort(
      ['smtp', 'mailWeb'],
      [ports.smtp, ports.mailWeb],
      startMailDev({ host: LOCAL_HOST, smtpPort: ports.smtp, webPort: ports.mailWeb, directory }),
    );
    return { smtp: maildev.smtp, mailUrl: maildev.webUrl, close: () => maildev.close() };
  }
  if (mail === 'sink') {
    const sink = await onPort('smtp', ports.smtp, startSmtpSink({ host: LOCAL_HOST, port: ports.smtp }));
    return { smtp: { host: sink.host, port: sink.port }, mailbox: sink, close: () => sink.close() };
  }
  return { smtp: mail, close: async () => undefined };
}

async function resolvePorts(ports: LocalStackOptions['ports']): Promise<LocalPorts> {
  if (ports !== 'ephemeral') return { ...DEFAULT_LOCAL_PORTS, ...ports };
  // s3rver cannot report a port chosen by the OS, so ask the OS for free ones up front.
  const entries = await Promise.all(
    Object.keys(DEFAULT_LOCAL_PORTS).map(async (name) => [name, await freePort(LOCAL_HOST)] as const),
  );
  return Object.fromEntries(entries) as LocalPorts;
}

/**
 * Fails with LocalPortInUseError when a port the stack would listen on is taken, and starts nothing:
 * for a caller with slow work to do before `startLocalStack`, which checks again.
 */
export async function checkLocalPorts(options: Pick<LocalStackOptions, 'ports' | 'mail'>): Promise<void> {
  if (options.ports === 'ephemeral') return;
  await checkPortsFree(await resolvePorts(options.ports), mailServices(options.mail ?? 'maildev'));
}

function mailServices(mail: NonNullable<LocalStackOptions['mail']>): Array<keyof LocalPorts> {
  return mail === 'maildev' ? ['smtp', 'mailWeb'] : mail === 'sink' ? ['smtp'] : [];
}

async function checkPortsFree(ports: LocalPorts, mailServices: Array<keyof LocalPorts>): Promise<void> {
  const services: Array<keyof LocalPorts> = ['kinesis', 'dynamodb', 's3', 'sns', ...mailServices];
  for (const service of services) {
    // Port 0 means "any free port": nothing to check.
    if (ports[service] !== 0 && (await portTaken(LOCAL_HOST, ports[service])))
      throw new LocalPortInUseError(service, ports[service]);
  }
}

/**
 * A server that fails to start because its port was taken after the check (another program was
 * quicker) fails as a clash on that port, like one found by the check.
 */
async function onPort<T>(
  service: keyof LocalPorts | Array<keyof LocalPorts>,
  port: number | number[],
  starting: Promise<T>,
): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    if (!isAddressInUse(error)) throw error;
    const services = Array.isArray(service) ? service : [service];
    const candidates = Array.isArray(port) ? port : [port];
    // MailDev holds two ports and does not say which one failed: the first one now taken is it.
    for (const [i, name] of services.entries()) {
      const candidate = candidates[i] ?? 0;
      if (await portTaken(LOCAL_HOST, candidate))
        throw new LocalPortInUseError(name, candidate, { cause: error });
    }
    throw new LocalPortInUseError(services[0] ?? 'kinesis', candidates[0] ?? 0, { cause: error });
  }
}

function listening(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function addressPort(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

const SELF = fileURLToPath(import.meta.url);

// The isolated stack's child process runs this module: it serves a stack started here to its parent.
if (process.argv[1] === SELF && process.send) void serveStackProcess(startLocalStack);
