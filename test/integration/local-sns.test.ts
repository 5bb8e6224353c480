import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  InvalidParameterException,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  NotFoundException,
  PublishCommand,
  type SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSnsClient } from '../../adapters/clients.ts';
import {
  MAILDEV_EMAIL_API_PATH,
  type SmtpSink,
  saveMailDevEmails,
  startMailDev,
  startSmtpSink,
} from '../../local/mail.ts';
import { type RetryPolicy, type SnsServer, startSnsServer } from '../../local/sns-server.ts';

const HOST = '127.0.0.1';
const FAST_RETRY: Partial<RetryPolicy> = { initialDelayMs: 20, maxDelayMs: 100 };

let sink: SmtpSink;
let sns: SnsServer;
let client: SNSClient;
let logged: string[];

async function startWithSink(retry: Partial<RetryPolicy> = FAST_RETRY): Promise<void> {
  sink = await startSmtpSink({ host: HOST, port: 0 });
  logged = [];
  sns = await startSnsServer({
    host: HOST,
    port: 0,
    smtp: { host: sink.host, port: sink.port },
    retry,
    log: (message) => logged.push(message),
  });
  client = createSnsClient({ endpoint: sns.endpoint });
}

async function topicWithSubscribers(name: string, ...emails: string[]): Promise<string> {
  const { TopicArn } = await client.send(new CreateTopicCommand({ Name: name }));
  for (const Endpoint of emails) {
    await client.send(new SubscribeCommand({ TopicArn, Protocol: 'email', Endpoint }));
  }
  return TopicArn ?? '';
}

describe('local SNS endpoint with an SMTP sink', () => {
  beforeEach(() => startWithSink());
  afterEach(async () => {
    client.destroy();
    await sns.close();
    await sink.close();
  });

  it('creates topics idempotently by name and lists them', async () => {
    const first = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    const second = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    await client.send(new CreateTopicCommand({ Name: 'other' }));

    expect(first.TopicArn).toBe('arn:aws:sns:us-east-1:000000000000:alerts');
    expect(second.TopicArn).toBe(first.TopicArn);
    expect(first.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const { Topics } = await client.send(new ListTopicsCommand({}));
    expect(Topics?.map((t) => t.TopicArn).sort()).toEqual([
      'arn:aws:sns:us-east-1:000000000000:alerts',
      'arn:aws:sns:us-east-1:000000000000:other',
    ]);

    await client.send(new DeleteTopicCommand({ TopicArn: first.TopicArn }));
    const after = await client.send(new ListTopicsCommand({}));
    expect(after.Topics?.map((t) => t.TopicArn)).toEqual(['arn:aws:sns:us-east-1:000000000000:other']);
  });

  it('subscribes an email address, confirmed at once, and lists the subscription', async () => {
    const { TopicArn } = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    const subscribed = await client.send(
      new SubscribeCommand({ TopicArn, Protocol: 'email', Endpoint: 'ops@example.com' }),
    );
    const again = await client.send(
      new SubscribeCommand({ TopicArn, Protocol: 'email', Endpoint: 'ops@example.com' }),
    );

    expect(subscribed.SubscriptionArn).toMatch(/^arn:aws:sns:us-east-1:000000000000:alerts:[0-9a-f-]{36}$/);
    expect(again.SubscriptionArn).toBe(subscribed.SubscriptionArn);
    const { Subscriptions } = await client.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
    expect(Subscriptions).toEqual([
      {
        TopicArn,
        Protocol: 'email',
        SubscriptionArn: subscribed.SubscriptionArn,
        Owner: '000000000000',
        Endpoint: 'ops@example.com',
      },
    ]);
  });

  it('delivers a publish with subject and attributes as exactly one mail', async () => {
    const TopicArn = await topicWithSubscribers('alerts', 'ops@example.com');
    const { MessageId } = await client.send(
      new PublishCommand({
        TopicArn,
        Subject: 'Bot alert: user 42',
        Message: 'User 42 made 900 events in 60 s.',
        MessageAttributes: { rule: { DataType: 'String', StringValue: 'events-per-window' } },
      }),
    );
    await sns.idle();

    expect(MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sink.messages).toHaveLength(1);
    const [mail] = sink.messages;
    expect(mail?.subject).toBe('Bot alert: user 42');
    expect(mail?.from).toBe('"AWS Notifications" <no-reply@sns.local>');
    expect(mail?.envelopeTo).toEqual(['ops@example.com']);
    expect(mail?.text.startsWith('User 42 made 900 events in 60 s.\n\n--\n')).toBe(true);
    expect(mail?.text).toContain(`${sns.endpoint}/unsubscribe.html?SubscriptionArn=`);
    expect(sns.stats()).toMatchObject({ published: 1, delivered: 1, pending: 0, failed: 0 });
  });

  it('sends one mail to each of two subscribers', async () => {
    const TopicArn = await topicWithSubscribers('alerts', 'a@example.com', 'b@example.com');
    await client.send(new PublishCommand({ TopicArn, Subject: 'hello', Message: 'body' }));
    await sns.idle();

    expect(sink.messages.map((m) => m.envelopeTo).sort()).toEqual([['a@example.com'], ['b@example.com']]);
    expect(sns.stats()).toMatchObject({ published: 1, delivered: 2 });
  });

  it('applies a FilterPolicy by exact attribute value', async () => {
    const { TopicArn } = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    await client.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        Attributes: { FilterPolicy: JSON.stringify({ severity: ['high'] }) },
      }),
    );
    const publish = (Subject: string, attributes: Record<string, string>) =>
      client.send(
        new PublishCommand({
          TopicArn,
          Subject,
          Message: Subject,
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
          ),
        }),
      );
    await publish('low', { severity: 'low' });
    await publish('missing', {});
    await publish('high', { severity: 'high' });
    await sns.idle();

    expect(sink.messages.map((m) => m.subject)).toEqual(['high']);
    expect(sns.stats()).toMatchObject({ published: 3, delivered: 1 });
  });

  it('rejects filter operators it does not implement instead of ignoring them', async () => {
    const { TopicArn } = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    const subscribe = client.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        Attributes: { FilterPolicy: JSON.stringify({ severity: [{ prefix: 'hi' }] }) },
      }),
    );
    await expect(subscribe).rejects.toBeInstanceOf(InvalidParameterException);
  });

  it('surfaces a missing topic as the SDK NotFoundException', async () => {
    const error = await client
      .send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:nope', Message: 'x' }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NotFoundException);
    expect((error as NotFoundException).message).toBe('Topic does not exist');
    expect((error as NotFoundException).$metadata.httpStatusCode).toBe(404);
    expect(sns.stats().published).toBe(0);
  });

  it('stops mailing after Unsubscribe', async () => {
    const { TopicArn } = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    const { SubscriptionArn } = await client.send(
      new SubscribeCommand({ TopicArn, Protocol: 'email', Endpoint: 'ops@example.com' }),
    );
    await client.send(new UnsubscribeCommand({ SubscriptionArn }));
    await client.send(new PublishCommand({ TopicArn, Message: 'nobody hears this' }));
    await sns.idle();

    expect(sink.messages).toHaveLength(0);
    const { Subscriptions } = await client.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
    expect(Subscriptions).toEqual([]);
  });

  it('unsubscribes through the link at the foot of the mail', async () => {
    const TopicArn = await topicWithSubscribers('alerts', 'ops@example.com');
    await client.send(new PublishCommand({ TopicArn, Message: 'first' }));
    await sns.idle();
    const link = /^(http:\/\/127\.0\.0\.1:\d+\/unsubscribe\.html\?\S+)$/m.exec(
      sink.messages[0]?.text ?? '',
    )?.[1];

    const page = await fetch(link ?? 'missing link');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Subscription removed');
    const { Subscriptions } = await client.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
    expect(Subscriptions).toEqual([]);
  });

  it('sends the SNS notification JSON to email-json subscribers', async () => {
    const { TopicArn } = await client.send(new CreateTopicCommand({ Name: 'alerts' }));
    await client.send(
      new SubscribeCommand({ TopicArn, Protocol: 'email-json', Endpoint: 'bot@example.com' }),
    );
    const { MessageId } = await client.send(
      new PublishCommand({
        TopicArn,
        Subject: 'json',
        Message: '{"user_id":"42"}',
        MessageAttributes: { rule: { DataType: 'String', StringValue: 'purchase-burst' } },
      }),
    );
    await sns.idle();

    expect(sink.messages).toHaveLength(1);
    expect(JSON.parse(sink.messages[0]?.text ?? '')).toMatchObject({
      Type: 'Notification',
      MessageId,
      TopicArn,
      Subject: 'json',
      Message: '{"user_id":"42"}',
      MessageAttributes: { rule: { Type: 'String', Value: 'purchase-burst' } },
    });
  });

  it('delivers a mail published while SMTP is down once, after SMTP comes back', async () => {
    const TopicArn = await topicWithSubscribers('alerts', 'ops@example.com');
    await sink.pause();
    await client.send(new PublishCommand({ TopicArn, Subject: 'during outage', Message: 'm1' }));
    await vi.waitUntil(() => sns.stats().retried >= 3, { timeout: 5_000, interval: 10 });
    expect(sns.stats()).toMatchObject({ delivered: 0, pending: 1, failed: 0 });
    // What the demo's drain line shows while it waits on the mail host.
    expect(sns.stats().lastError).toEqual(expect.any(String));

    await sink.resume();
    await sns.idle();
    await client.send(new PublishCommand({ TopicArn, Subject: 'after outage', Message: 'm2' }));
    await sns.idle();

    expect(sink.messages.map((m) => m.subject)).toEqual(['during outage', 'after outage']);
    expect(sns.stats()).toMatchObject({ published: 2, delivered: 2, pending: 0, failed: 0 });
    expect(sns.stats().lastError).toBeUndefined();
  });
});

describe('local SNS delivery retry bound', () => {
  afterEach(async () => {
    client.destroy();
    await sns.close();
    await sink.close();
  });

  it('gives up a mail older than the max age, counts and logs it', async () => {
    await startWithSink({ initialDelayMs: 20, maxDelayMs: 50, maxAgeMs: 200 });
    const TopicArn = await topicWithSubscribers('alerts', 'ops@example.com');
    await sink.pause();
    await client.send(new PublishCommand({ TopicArn, Subject: 'lost', Message: 'm' }));
    await sns.idle();

    expect(sns.stats()).toMatchObject({ delivered: 0, pending: 0, failed: 1 });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^mail to ops@example\.com given up after \d+ attempts/);
    await sink.resume();
    expect(sink.messages).toHaveLength(0);
  });
});

describe('local SNS with MailDev', () => {
  it('delivers into MailDev, readable over its REST API', async () => {
    const maildev = await startMailDev({ host: HOST, smtpPort: 0, webPort: 0 });
    const server = await startSnsServer({ host: HOST, port: 0, smtp: maildev.smtp });
    const sns = createSnsClient({ endpoint: server.endpoint });
    try {
      const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'alerts' }));
      await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'email', Endpoint: 'ops@example.com' }));
      await sns.send(new PublishCommand({ TopicArn, Subject: 'Bot alert', Message: 'user 7' }));
      await server.idle();

      expect(maildev.webUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const response = await fetch(new URL(MAILDEV_EMAIL_API_PATH, maildev.webUrl));
      expect(response.status).toBe(200);
      const emails = (await response.json()) as Array<{ subject: string; to: Array<{ address: string }> }>;
      expect(emails).toHaveLength(1);
      expect(emails[0]?.subject).toBe('Bot alert');
      expect(emails[0]?.to.map((t) => t.address)).toEqual(['ops@example.com']);
      expect((await maildev.emails()).map((e) => e.subject)).toEqual(['Bot alert']);

      // What the demo keeps once MailDev is gone: each mail as a readable text file.
      const directory = mkdtempSync(join(tmpdir(), 'maildev-saved-'));
      try {
        await sns.send(new PublishCommand({ TopicArn, Subject: 'Second: user 8!', Message: 'user 8' }));
        await server.idle();
        const files = await saveMailDevEmails(maildev.webUrl, directory);
        expect(files.map((f) => basename(f))).toEqual(['1-bot-alert.txt', '2-second-user-8.txt']);
        expect(readFileSync(files[1] as string, 'utf8')).toMatch(
          /^From: .+\nTo: ops@example\.com\nSubject: Second: user 8!\n(Date: .+\n)?\nuser 8/,
        );
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    } finally {
      sns.destroy();
      await server.close();
      await maildev.close();
    }
  });
});
