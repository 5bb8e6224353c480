/**
 * The embedded stack in a child process, driven over IPC. The child is this same module run as a
 * script: it starts the stack in-process and answers the parent's few questions (is the mail queue
 * idle, what are its counters, stop).
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  createKinesisClient,
  createS3Client,
  LOCAL_REGION,
  type LocalEndpoints,
} from '../adapters/clients.ts';
import type { ResourceNames } from '../core/resources.ts';
import type { StreamThrottles } from './limits/kinesis-front.ts';
import type { LocalPorts } from './ports.ts';
import type { SnsServerStats } from './sns-server.ts';
import { LocalPortInUseError, type LocalStack, type LocalStackOptions } from './stack-contract.ts';
import type { LocalConfig } from './template.ts';

interface Ready {
  type: 'ready';
  endpoints: LocalEndpoints;
  names: ResourceNames;
  topicArn: string;
  smtp: { host: string; port: number };
  mailUrl?: string;
  tempDirectory: string;
  kinesisLimits: boolean;
}
type Request = { id: number; type: 'idle' | 'stats' | 'throttles' | 'stop' };
type Reply = { id: number; type: 'reply'; value?: unknown; error?: string };
/** `port` and `service` are set when the stack failed on a port clash. */
type Failed = { type: 'failed'; error: string; service?: keyof LocalPorts; port?: number };
type Message = Ready | Reply | Failed;

/**
 * Starts the stack in a child process running `script` (stack.ts, which calls serveStackProcess when it
 * is the main script: this module does not import it, so the two do not import each other).
 */
export async function startStackProcess(
  options: LocalStackOptions & { config: LocalConfig },
  script: string,
): Promise<LocalStack> {
  if (options.mail === 'sink')
    throw new Error('an isolated stack cannot hand its in-memory mailbox to this process');
  const { ownership, ...rest } = options;
  const child = fork(script, [JSON.stringify({ ...rest, isolate: false })], {
    // The child hosts s3rver, whose listing tokens use DES (OpenSSL 3's legacy provider).
    // tsx resolved from here, not from the user's working directory (`npx clickstream demo` anywhere).
    execArgv: ['--openssl-legacy-provider', '--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  // The child ends itself when this process goes (its IPC channel closes); recorded all the same.
  ownership?.addProcess('local stack process', child.pid);
  child.once('exit', () => ownership?.removeProcess(child.pid));
  const answer = await new Promise<Ready | Failed>((resolve, reject) => {
    child.once('message', (message: Message) => {
      if (message.type === 'ready' || message.type === 'failed') resolve(message);
      else reject(new Error('local stack process answered oddly'));
    });
    child.once('exit', (code) => reject(new Error(`local stack process exited with code ${code}`)));
  });
  if (answer.type === 'failed') {
    throw answer.service && answer.port !== undefined
      ? new LocalPortInUseError(answer.service, answer.port)
      : new Error(answer.error);
  }
  const ready = answer;
  const ask = requester(child);
  const kinesis = createKinesisClient({ endpoint: ready.endpoints.kinesis });
  const s3 = createS3Client({ endpoint: ready.endpoints.s3 });
  return {
    endpoints: ready.endpoints,
    config: options.config,
    names: ready.names,
    region: LOCAL_REGION,
    target: { mode: 'local', region: LOCAL_REGION, endpoints: ready.endpoints, names: ready.names },
    smtp: ready.smtp,
    ...(ready.mailUrl ? { mailUrl: ready.mailUrl } : {}),
    topicArn: ready.topicArn,
    sns: {
      idle: async () => {
        await ask('idle');
      },
      stats: async () => (await ask('stats')) as SnsServerStats,
    },
    kinesis,
    s3,
    tempDirectory: ready.tempDirectory,
    kinesisLimits: ready.kinesisLimits,
    kinesisThrottles: async () => (await ask('throttles')) as StreamThrottles | undefined,
    stop: async () => {
      kinesis.destroy();
      s3.destroy();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await ask('stop').catch(() => undefined);
      await exited;
    },
  };
}

function requester(child: ChildProcess): (type: Request['type']) => Promise<unknown> {
  let nextId = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.on('message', (message: Message) => {
    if (message.type !== 'reply') return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message.value);
  });
  child.on('exit', () => {
    for (const waiter of pending.values()) waiter.reject(new Error('local stack process exited'));
    pending.clear();
  });
  return (type) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, type } satisfies Request);
    });
}

/** The child's side: starts the stack with `startLocalStack` and answers the parent until it stops. */
export async function serveStackProcess(
  startLocalStack: (options: LocalStackOptions) => Promise<LocalStack>,
): Promise<void> {
  const send = (message: Message) => process.send?.(message);
  try {
    const options = JSON.parse(process.argv[2] ?? '{}') as LocalStackOptions;
    const stack = await startLocalStack(options);
    process.on('message', async (request: Request) => {
      try {
        const value =
          request.type === 'idle'
            ? await stack.sns.idle()
            : request.type === 'stats'
              ? await stack.sns.stats()
              : request.type === 'throttles'
                ? await stack.kinesisThrottles()
                : await stack.stop();
        send({ id: request.id, type: 'reply', value });
        if (request.type === 'stop') process.disconnect();
      } catch (error) {
        send({
          id: request.id,
          type: 'reply',
          error: error instanceof Error ? error.message : String(error),
        });
      }
    });
    // The parent dying (IPC gone) must not leave emulators holding ports.
    process.on('disconnect', () => {
      void stack.stop().finally(() => process.exit(0));
    });
    const { endpoints, names, topicArn, smtp, mailUrl, tempDirectory, kinesisLimits } = stack;
    send({
      type: 'ready',
      endpoints,
      names,
      topicArn,
      smtp,
      tempDirectory,
      kinesisLimits,
      ...(mailUrl ? { mailUrl } : {}),
    });
  } catch (error) {
    const clash = error instanceof LocalPortInUseError ? { service: error.service, port: error.port } : {};
    send({ type: 'failed', error: error instanceof Error ? error.message : String(error), ...clash });
    process.exit(1);
  }
}
