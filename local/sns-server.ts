/**
 * A small local SNS endpoint. The installed @aws-sdk/client-sns (3.1169) still speaks the awsQuery
 * protocol: form-encoded POSTs (`Action=...&Version=2010-03-31`) answered with XML in the
 * `http://sns.amazonaws.com/doc/2010-03-31/` namespace. So the alerter's real SNS client works against
 * this unchanged, and email subscribers get their mails over SMTP.
 *
 * Request signatures are not checked: the endpoint listens on loopback only.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { listen } from './net.ts';
import { acceptOwnOriginOnly } from './origin-guard.ts';

export class LocalSnsError extends Error {
  override name = 'LocalSnsError';
}

/** An SNS API error, answered as the real `<ErrorResponse>` so the SDK raises its typed exception. */
export class SnsRequestError extends LocalSnsError {
  override name = 'SnsRequestError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const DEFAULT_REGION = 'us-east-1';
const DEFAULT_ACCOUNT_ID = '000000000000';
/** What real SNS sets when Publish has no Subject. */
const DEFAULT_SUBJECT = 'AWS Notification Message';
const MAIL_FROM = 'AWS Notifications <no-reply@sns.local>';
/** SNS limits: 256 KiB per message, 100 characters per subject, 100 items per List* page. */
const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_SUBJECT_LENGTH = 100;
const PAGE_SIZE = 100;
const MAX_REQUEST_BYTES = 1024 * 1024;

export interface RetryPolicy {
  /** First retry delay; doubles per failed attempt. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A delivery still failing after this long is given up, counted as failed and logged. */
  maxAgeMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 250, maxDelayMs: 30_000, maxAgeMs: 60 * 60 * 1000 };

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

type Protocol = 'email' | 'email-json';

interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

/** Exact-match subset of SNS filter policies: attribute name → allowed strings or numbers. */
type FilterPolicy = Record<string, Array<string | number>>;

interface Subscription {
  arn: string;
  topicArn: string;
  protocol: Protocol;
  endpoint: string;
  filterPolicyText?: string;
  filterPolicy?: FilterPolicy;
}

interface Topic {
  arn: string;
  name: string;
  subscriptions: Map<string, Subscription>;
}

/** One Publish, as every subscriber's delivery is built from it. */
interface Notification {
  messageId: string;
  subject: string | null;
  /** The message for this subscriber (MessageStructure=json can differ per protocol). */
  body: string;
  timestamp: string;
  attributes: Map<string, MessageAttribute>;
}

interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  /** Same for every attempt of one delivery, so a receiver can drop a duplicate SMTP cannot rule out. */
  messageId: string;
  enqueuedAt: number;
  attempts: number;
}

export async function startSnsServer(options: SnsServerOptions): Promise<SnsServer> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? DEFAULT_REGION;
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const log = options.log ?? ((message: string) => process.stderr.write(`[local sns] ${message}\n`));
  const topics = new Map<string, Topic>();
  let published = 0;
  let endpoint = '';

  const transport = nodemailer.createTransport({
    host: options.smtp.host,
    port: options.smtp.port,
    secure: false,
    // One reused connection: smtp-server (and MailDev on it) waits 100 ms before greeting each new
    // connection, which would cap delivery at ~9 mails/s. One connection also keeps publish order.
    pool: true,
    maxConnections: 1,
    maxMessages: Number.POSITIVE_INFINITY,
    // Local mail hosts offer no certificate worth trusting; plain SMTP on loopback.
    ignoreTLS: true,
    // Bounded, so a hung mail host turns into a retry instead of stalling the queue.
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 10_000,
  } satisfies SMTPPool.Options);
  const queue = new MailQueue(transport, { ...DEFAULT_RETRY, ...options.retry }, log);

  const topicArn = (name: string) => `arn:aws:sns:${region}:${accountId}:${name}`;
  const requireTopic = (arn: string | null): Topic => {
    const topic = arn ? topics.get(arn) : undefined;
    if (!topic) throw new SnsRequestError('NotFound', 'Topic does not exist', 404);
    return topic;
  };
  const findSubscription = (arn: string): Subscription | undefined => {
    for (const topic of topics.values()) {
      const subscription = topic.subscriptions.get(arn);
      if (subscription) return subscription;
    }
    return undefined;
  };
  const removeSubscription = (arn: string): Subscription | undefined => {
    const subscription = findSubscription(arn);
    if (subscription) topics.get(subscription.topicArn)?.subscriptions.delete(subscription.arn);
    return subscription;
  };

  const mailFor = (subscription: Subscription, notification: Notification): OutgoingMail => {
    const unsubscribeUrl = `${endpoint}/unsubscribe.html?${new URLSearchParams({
      SubscriptionArn: subscription.arn,
      Endpoint: subscription.endpoint,
    })}`;
    const subscriptionId = subscription.arn.slice(subscription.arn.lastIndexOf(':') + 1);
    return {
      to: subscription.endpoint,
      subject: notification.subject ?? DEFAULT_SUBJECT,
      text:
        subscription.protocol === 'email'
          ? emailText(notification.body, unsubscribeUrl)
          : JSON.stringify(notificationEnvelope(subscription.topicArn, notification, unsubscribeUrl)),
      messageId: `<${notification.messageId}.${subscriptionId}@sns.local>`,
      enqueuedAt: Date.now(),
      attempts: 0,
    };
  };

  /** Each action returns the inside of its `<ActionResult>` element, or undefined when it has none. */
  const actions: Record<string, (params: URLSearchParams) => string | undefined> = {
    CreateTopic(params) {
      const name = required(params, 'Name');
      if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) {
        throw invalidParameter('Topic Name');
      }
      const arn = topicArn(name);
      // Idempotent by name, as in SNS.
      if (!topics.has(arn)) topics.set(arn, { arn, name, subscriptions: new Map() });
      return `<TopicArn>${xml(arn)}</TopicArn>`;
    },

    ListTopics(params) {
      const page = paginate([...topics.keys()], params.get('NextToken'));
      const members = page.items.map((arn) => `<member><TopicArn>${xml(arn)}</TopicArn></member>`).join('');
      return `<Topics>${members}</Topics>${nextToken(page.next)}`;
    },

    DeleteTopic(params) {
      // Deleting a topic that does not exist is not an error in SNS.
      topics.delete(required(params, 'TopicArn'));
      return undefined;
    },

    Subscribe(params) {
      const topic = requireTopic(required(params, 'TopicArn'));
      const protocol = required(params, 'Protocol');
      if (protocol !== 'email' && protocol !== 'email-json') {
        throw invalidParameter(
          `Invalid protocol type: ${protocol} (the local endpoint delivers email and email-json)`,
        );
      }
      const address = required(params, 'Endpoint');
      if (!/^[^\s@<>]+@[^\s@<>]+$/.test(address)) throw invalidParameter('Email address');
      const attributes = mapEntries(params, 'Attributes', 'key', 'value');
      const scope = attributes.get('FilterPolicyScope');
      if (scope !== undefined && scope !== 'MessageAttributes') {
        throw invalidParameter('FilterPolicyScope: only MessageAttributes is supported locally');
      }
      const filterPolicyText = attributes.get('FilterPolicy');
      const filterPolicy = filterPolicyText === undefined ? undefined : parseFilterPolicy(filterPolicyText);
      for (const existing of topic.subscriptions.values()) {
        if (existing.protocol !== protocol || existing.endpoint !== address) continue;
        if (existing.filterPolicyText !== filterPolicyText) {
          throw invalidParameter('Attributes Reason: Subscription already exists with different attributes');
        }
        return `<SubscriptionArn>${xml(existing.arn)}</SubscriptionArn>`;
      }
      // Confirmed at once: locally there is no confirmation mail round-trip, so the real ARN is
      // returned instead of "pending confirmation" and the first Publish already reaches the inbox.
      const subscription: Subscription = {
        arn: `${topic.arn}:${randomUUID()}`,
        topicArn: topic.arn,
        protocol,
        endpoint: address,
        ...(filterPolicyText !== undefined && filterPolicy ? { filterPolicyText, filterPolicy } : {}),
      };
      topic.subscriptions.set(subscription.arn, subscription);
      return `<SubscriptionArn>${xml(subscription.arn)}</SubscriptionArn>`;
    },

    ListSubscriptionsByTopic(params) {
      const topic = requireTopic(required(params, 'TopicArn'));
      const page = paginate([...topic.subscriptions.values()], params.get('NextToken'));
      const members = page.items
        .map(
          (s) =>
            `<member><TopicArn>${xml(s.topicArn)}</TopicArn><Protocol>${s.protocol}</Protocol>` +
            `<SubscriptionArn>${xml(s.arn)}</SubscriptionArn><Owner>${accountId}</Owner>` +
            `<Endpoint>${xml(s.endpoint)}</Endpoint></member>`,
        )
        .join('');
      return `<Subscriptions>${members}</Subscriptions>${nextToken(page.next)}`;
    },

    Unsubscribe(params) {
      if (!removeSubscription(required(params, 'SubscriptionArn'))) {
        throw new SnsRequestError('NotFound', 'Subscription does not exist', 404);
      }
      return undefined;
    },

    Publish(params) {
      const topic = requireTopic(params.get('TopicArn') ?? params.get('TargetArn'));
      const message = params.get('Message');
      if (!message) throw invalidParameter('Empty message');
      if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) throw invalidParameter('Message too long');
      const subject = params.get('Subject');
      if (subject !== null && !isValidSubject(subject)) throw invalidParameter('Subject');
      const attributes = parseMessageAttributes(params);
      const perProtocol =
        params.get('MessageStructure') === 'json' ? parseStructuredMessage(message) : undefined;

      const notification = {
        messageId: randomUUID(),
        subject,
        timestamp: new Date().toISOString(),
        attributes,
      };
      published++;
      for (const subscription of topic.subscriptions.values()) {
        if (subscription.filterPolicy && !matchesFilterPolicy(subscription.filterPolicy, attributes))
          continue;
        const body = perProtocol ? (perProtocol[subscription.protocol] ?? perProtocol.default) : message;
        queue.enqueue(mailFor(subscription, { ...notification, body }));
      }
      return `<MessageId>${notification.messageId}</MessageId>`;
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const requestId = randomUUID();
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (request.method === 'GET' && url.pathname === '/unsubscribe.html') {
        return reply(response, 200, 'text/html', unsubscribePage(url.searchParams), requestId);
      }
      const params = new URLSearchParams(url.search);
      if (request.method === 'POST') {
        for (const [key, value] of new URLSearchParams(await readBody(request))) params.append(key, value);
      }
      const action = params.get('Action') ?? '';
      const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
      if (!run)
        throw new SnsRequestError(
          'InvalidAction',
          `The action ${action || '(none)'} is not valid for this endpoint.`,
        );
      reply(response, 200, 'text/xml', resultXml(action, run(params), requestId), requestId);
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

  /** The link at the foot of every mail works locally too, as people expect from SNS mails. */
  const unsubscribePage = (query: URLSearchParams): string => {
    const subscription = removeSubscription(query.get('SubscriptionArn') ?? '');
    return subscription
      ? `<html><body><h1>Subscription removed</h1><p>${xml(subscription.endpoint)} will no longer receive messages from ${xml(subscription.topicArn)}.</p></body></html>`
      : '<html><body><h1>Not subscribed</h1><p>This subscription does not exist (any more).</p></body></html>';
  };

  const server = createServer((request, response) => void handle(request, response));
  acceptOwnOriginOnly(server);
  const port = await listen(server, options.port, host).catch((cause: unknown) => {
    throw new LocalSnsError(`local SNS could not listen on ${host}:${options.port}`, { cause });
  });
  endpoint = `http://${host}:${port}`;

  return {
    endpoint,
    port,
    stats: () => {
      let subscriptions = 0;
      for (const topic of topics.values()) subscriptions += topic.subscriptions.size;
      return { topics: topics.size, subscriptions, published, ...queue.counters() };
    },
    idle: () => queue.idle(),
    close: async () => {
      await new Promise<void>((resolve) => {
        // SDK clients keep sockets alive; without this, close waits for them to time out.
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await queue.close();
      transport.close();
    },
  };
}

/**
 * Delivers mails one at a time, in publish order, retrying with exponential backoff while the mail
 * host is unreachable. A mail leaves the queue only once the SMTP server accepted it (or it is given
 * up), and only one attempt is ever in flight, so a retry follows only an attempt the server did not
 * accept and never sends a mail twice (barring a reply lost after acceptance, which SMTP cannot rule
 * out; the stable Message-ID lets a receiver drop that duplicate). Head-of-line
 * waiting is deliberate: locally all mails go to one host, so when one cannot be delivered none can.
 */
class MailQueue {
  private readonly mails: OutgoingMail[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private delivered = 0;
  private failed = 0;
  private retried = 0;
  private lastError: string | undefined;
  private sending: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly transport: Transporter,
    private readonly retry: RetryPolicy,
    private readonly log: (message: string) => void,
  ) {}

  enqueue(mail: OutgoingMail): void {
    if (this.closed) return;
    this.mails.push(mail);
    this.drain();
  }

  counters() {
    return {
      delivered: this.delivered,
      pending: this.mails.length,
      failed: this.failed,
      retried: this.retried,
      ...(this.lastError && this.mails.length > 0 ? { lastError: this.lastError } : {}),
    };
  }

  idle(): Promise<void> {
    if (this.mails.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.sending;
    if (this.mails.length > 0) this.log(`closing with ${this.mails.length} undelivered mail(s)`);
    this.mails.length = 0;
    this.wakeIdle();
  }

  private drain(): void {
    if (this.sending || this.retryTimer || this.closed) return;
    this.sending = this.sendAll().finally(() => {
      this.sending = undefined;
    });
  }

  private async sendAll(): Promise<void> {
    while (!this.closed) {
      const mail = this.mails[0];
      if (!mail) break;
      const retryInMs = await this.attempt(mail);
      if (retryInMs !== undefined) {
        this.retried++;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.drain();
        }, retryInMs);
        return;
      }
      this.mails.shift();
    }
    if (this.mails.length === 0) this.wakeIdle();
  }

  /** Returns the delay before the next attempt, or undefined when the mail is done with. */
  private async attempt(mail: OutgoingMail): Promise<number | undefined> {
    mail.attempts++;
    try {
      await this.transport.sendMail({
        from: MAIL_FROM,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        messageId: mail.messageId,
      });
      this.delivered++;
      this.lastError = undefined;
      return undefined;
    } catch (error) {
      const responseCode = (error as { responseCode?: number }).responseCode;
      const reason = error instanceof Error ? error.message : String(error);
      this.lastError = reason;
      // 5xx is the mail host's final answer about this mail; sending it again cannot help.
      if (responseCode !== undefined && responseCode >= 500) {
        this.failed++;
        this.log(`mail to ${mail.to} rejected (${responseCode}), not retried: ${reason}`);
        return undefined;
      }
      const age = Date.now() - mail.enqueuedAt;
      if (age >= this.retry.maxAgeMs) {
        this.failed++;
        this.log(
          `mail to ${mail.to} given up after ${mail.attempts} attempts over ${Math.round(age / 1000)} s: ${reason}`,
        );
        return undefined;
      }
      const backoff = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** (mail.attempts - 1));
      return Math.min(backoff, this.retry.maxAgeMs - age);
    }
  }

  private wakeIdle(): void {
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

function emailText(message: string, unsubscribeUrl: string): string {
  return (
    `${message}\n\n--\n` +
    'If you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n' +
    `${unsubscribeUrl}\n\n` +
    'Please do not reply directly to this email. If you have any questions or comments regarding this email, ' +
    'please contact us at https://aws.amazon.com/support\n'
  );
}

/**
 * The SNS notification JSON, as email-json subscribers receive it. No Signature fields: there is no
 * AWS signing key locally, and a made-up signature would only look verifiable.
 */
function notificationEnvelope(topicArn: string, notification: Notification, unsubscribeUrl: string) {
  const attributes = Object.fromEntries(
    [...notification.attributes].map(([name, a]) => [
      name,
      { Type: a.DataType, Value: a.StringValue ?? a.BinaryValue ?? '' },
    ]),
  );
  return {
    Type: 'Notification',
    MessageId: notification.messageId,
    TopicArn: topicArn,
    ...(notification.subject !== null ? { Subject: notification.subject } : {}),
    Message: notification.body,
    Timestamp: notification.timestamp,
    UnsubscribeURL: unsubscribeUrl,
    ...(notification.attributes.size > 0 ? { MessageAttributes: attributes } : {}),
  };
}

/** Validates a filter policy; only exact string/number matching (the common subset) is supported. */
function parseFilterPolicy(text: string): FilterPolicy {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParameter('FilterPolicy: failed to parse JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidParameter('FilterPolicy: the policy must be a JSON object');
  }
  const policy: FilterPolicy = {};
  for (const [name, allowed] of Object.entries(parsed)) {
    const values = Array.isArray(allowed) ? allowed : [allowed];
    for (const value of values) {
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw invalidParameter(
          `FilterPolicy: ${name}: only exact string and number matching is supported by the local endpoint`,
        );
      }
    }
    policy[name] = values as Array<string | number>;
  }
  return policy;
}

/** Every policy key must be present and match one allowed value (String.Array: any element). */
function matchesFilterPolicy(policy: FilterPolicy, attributes: Map<string, MessageAttribute>): boolean {
  return Object.entries(policy).every(([name, allowed]) => {
    const attribute = attributes.get(name);
    if (!attribute || attribute.StringValue === undefined) return false;
    const candidates = candidateValues(attribute);
    return allowed.some((value) =>
      candidates.some((candidate) =>
        typeof value === 'number'
          ? typeof candidate === 'number' && candidate === value
          : candidate === value,
      ),
    );
  });
}

function candidateValues(attribute: MessageAttribute): Array<string | number> {
  const text = attribute.StringValue ?? '';
  if (attribute.DataType.startsWith('Number')) return [Number(text)];
  if (attribute.DataType.startsWith('String.Array')) {
    try {
      const items: unknown = JSON.parse(text);
      if (Array.isArray(items)) {
        return items.filter(
          (item): item is string | number => typeof item === 'string' || typeof item === 'number',
        );
      }
    } catch {
      // An unparsable array matches nothing, as in SNS.
    }
    return [];
  }
  return [text];
}

/** `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue` / `.Value.BinaryValue`. */
function parseMessageAttributes(params: URLSearchParams): Map<string, MessageAttribute> {
  const attributes = new Map<string, MessageAttribute>();
  for (let n = 1; params.has(`MessageAttributes.entry.${n}.Name`); n++) {
    const prefix = `MessageAttributes.entry.${n}`;
    const name = params.get(`${prefix}.Name`) ?? '';
    const dataType = params.get(`${prefix}.Value.DataType`);
    const stringValue = params.get(`${prefix}.Value.StringValue`);
    const binaryValue = params.get(`${prefix}.Value.BinaryValue`);
    if (!dataType || !/^(String|Number|Binary|String\.Array)(\..+)?$/.test(dataType)) {
      throw new SnsRequestError(
        'ParameterValueInvalid',
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    if (stringValue === null && binaryValue === null) {
      throw new SnsRequestError(
        'ParameterValueInvalid',
        `The message attribute '${name}' must contain non-empty message attribute value.`,
      );
    }
    attributes.set(name, {
      DataType: dataType,
      ...(stringValue !== null ? { StringValue: stringValue } : {}),
      ...(binaryValue !== null ? { BinaryValue: binaryValue } : {}),
    });
  }
  return attributes;
}

type StructuredMessage = { default: string } & Record<string, string | undefined>;

function parseStructuredMessage(message: string): StructuredMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    throw invalidParameter('Message Structure - JSON message body failed to parse');
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof (parsed as { default?: unknown }).default !== 'string'
  ) {
    throw invalidParameter('Message Structure - No default entry in JSON message body');
  }
  return parsed as StructuredMessage;
}

/** `Attributes.entry.N.key` / `.value` maps, as the query protocol flattens them. */
function mapEntries(
  params: URLSearchParams,
  name: string,
  keyName: string,
  valueName: string,
): Map<string, string> {
  const entries = new Map<string, string>();
  for (let n = 1; params.has(`${name}.entry.${n}.${keyName}`); n++) {
    entries.set(
      params.get(`${name}.entry.${n}.${keyName}`) ?? '',
      params.get(`${name}.entry.${n}.${valueName}`) ?? '',
    );
  }
  return entries;
}

function isValidSubject(subject: string): boolean {
  // SNS: ASCII, starting with a letter, digit or punctuation, no line breaks or control characters.
  return (
    subject.length > 0 && subject.length <= MAX_SUBJECT_LENGTH && /^[\x21-\x7e][\x20-\x7e]*$/.test(subject)
  );
}

function required(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') throw invalidParameter(name, `${name} Reason: cannot be empty`);
  return value;
}

function invalidParameter(what: string, detail = what): SnsRequestError {
  return new SnsRequestError('InvalidParameter', `Invalid parameter: ${detail}`);
}

function paginate<T>(items: T[], token: string | null): { items: T[]; next?: string } {
  const start = token ? Number.parseInt(token, 10) : 0;
  if (!Number.isInteger(start) || start < 0) throw invalidParameter('NextToken');
  const end = start + PAGE_SIZE;
  return { items: items.slice(start, end), ...(end < items.length ? { next: String(end) } : {}) };
}

function nextToken(token: string | undefined): string {
  return token === undefined ? '' : `<NextToken>${token}</NextToken>`;
}

function resultXml(action: string, body: string | undefined, requestId: string): string {
  const resultElement = body === undefined ? '' : `<${action}Result>${body}</${action}Result>`;
  return (
    `<${action}Response xmlns="${XMLNS}">${resultElement}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

function errorXml(error: SnsRequestError, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${error.type}</Type><Code>${xml(error.code)}</Code>` +
    `<Message>${xml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function reply(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  requestId: string,
): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    // The SDK reads the request id for $metadata from this header.
    'x-amzn-RequestId': requestId,
  });
  response.end(body);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw invalidParameter('Message too long');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
