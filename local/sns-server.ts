/**
 * A small local SNS endpoint. The installed @aws-sdk/client-sns (3.1169) still speaks the awsQuery
 * protocol: form-encoded POSTs (`Action=...&Version=2010-03-31`) answered with XML in the
 * `http://sns.amazonaws.com/doc/2010-03-31/` namespace. So the alerter's real SNS client works against
 * this unchanged, and email subscribers get their mails over SMTP.
 *
 * Request signatures are not checked: the endpoint listens on loopback only.
 *
 * The parts, in local/sns/: query-protocol.ts (parameters, XML, errors), actions.ts (what each action
 * does), topics.ts (topics and subscriptions), filter-policy.ts (message attributes and filter policies),
 * notifications.ts (the mail each subscriber gets), mail-queue.ts (SMTP delivery with retries).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen } from './net.ts';
import { acceptOwnOriginOnly } from './origin-guard.ts';
import { SNS_ACTIONS } from './sns/actions.ts';
import { createMailTransport, DEFAULT_RETRY, MailQueue, type RetryPolicy } from './sns/mail-queue.ts';
import {
  errorXml,
  LocalSnsError,
  readBody,
  reply,
  resultXml,
  SnsRequestError,
  xml,
} from './sns/query-protocol.ts';
import { removeSubscription, type SnsState } from './sns/topics.ts';

export type { RetryPolicy } from './sns/mail-queue.ts';
export { LocalSnsError, SnsRequestError } from './sns/query-protocol.ts';

const DEFAULT_REGION = 'us-east-1';
const DEFAULT_ACCOUNT_ID = '000000000000';

export interface SnsServerOptions {
  host?: string;
  /** 0 = ephemeral. */
  port: number;
  smtp: { host: string; port: number };
  region?: string;
  accountId?: string;
  retry?: Partial<RetryPolicy>;
  /** Where given-up deliveries and internal errors are reported (default: stderr). */
  log?: (message: string) => void;
}

export interface SnsServerStats {
  topics: number;
  subscriptions: number;
  /** Publish calls accepted. */
  published: number;
  /** Mails the SMTP server accepted. */
  delivered: number;
  /** Mails queued or being retried. */
  pending: number;
  /** Mails given up (permanent SMTP rejection or older than the retry max age). */
  failed: number;
  /** Failed attempts that were scheduled again. */
  retried: number;
  /** Why the last attempt failed, while its mail waits to be tried again. */
  lastError?: string;
}

export interface SnsServer {
  /** e.g. `http://127.0.0.1:4575`, for `createSnsClient({ endpoint })`. */
  endpoint: string;
  port: number;
  stats(): SnsServerStats;
  /** Resolves when every queued mail was delivered or given up. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function startSnsServer(options: SnsServerOptions): Promise<SnsServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((message: string) => process.stderr.write(`[local sns] ${message}\n`));
  const transport = createMailTransport(options.smtp);
  const state: SnsState = {
    region: options.region ?? DEFAULT_REGION,
    accountId: options.accountId ?? DEFAULT_ACCOUNT_ID,
    topics: new Map(),
    published: 0,
    queue: new MailQueue(transport, { ...DEFAULT_RETRY, ...options.retry }, log),
    endpoint: '',
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const requestId = randomUUID();
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (request.method === 'GET' && url.pathname === '/unsubscribe.html') {
        return reply(response, 200, 'text/html', unsubscribePage(state, url.searchParams), requestId);
      }
      const params = new URLSearchParams(url.search);
      if (request.method === 'POST') {
        for (const [key, value] of new URLSearchParams(await readBody(request))) params.append(key, value);
      }
      const action = params.get('Action') ?? '';
      const run = Object.hasOwn(SNS_ACTIONS, action) ? SNS_ACTIONS[action] : undefined;
      if (!run)
        throw new SnsRequestError(
          'InvalidAction',
          `The action ${action || '(none)'} is not valid for this endpoint.`,
        );
      reply(response, 200, 'text/xml', resultXml(action, run(state, params), requestId), requestId);
    } catch (error) {
      const failure =
        error instanceof SnsRequestError
          ? error
          : new SnsRequestError('InternalError', 'Internal error', 500, 'Receiver');
      if (failure !== error)
        log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      reply(response, failure.status, 'text/xml', errorXml(failure, requestId), requestId);
    }
  };

  const server = createServer((request, response) => void handle(request, response));
  acceptOwnOriginOnly(server);
  const port = await listen(server, options.port, host).catch((cause: unknown) => {
    throw new LocalSnsError(`local SNS could not listen on ${host}:${options.port}`, { cause });
  });
  state.endpoint = `http://${host}:${port}`;

  return {
    endpoint: state.endpoint,
    port,
    stats: () => {
      let subscriptions = 0;
      for (const topic of state.topics.values()) subscriptions += topic.subscriptions.size;
      return {
        topics: state.topics.size,
        subscriptions,
        published: state.published,
        ...state.queue.counters(),
      };
    },
    idle: () => state.queue.idle(),
    close: async () => {
      await new Promise<void>((resolve) => {
        // SDK clients keep sockets alive; without this, close waits for them to time out.
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await state.queue.close();
      transport.close();
    },
  };
}

/** The link at the foot of every mail works locally too, as people expect from SNS mails. */
function unsubscribePage(state: SnsState, query: URLSearchParams): string {
  const subscription = removeSubscription(state, query.get('SubscriptionArn') ?? '');
  return subscription
    ? `<html><body><h1>Subscription removed</h1><p>${xml(subscription.endpoint)} will no longer receive messages from ${xml(subscription.topicArn)}.</p></body></html>`
    : '<html><body><h1>Not subscribed</h1><p>This subscription does not exist (any more).</p></body></html>';
}
