/**
 * Local mail: MailDev is the inbox people read the alert mails in (web UI and REST API); the SMTP sink
 * is an in-memory mailbox for tests, which can also be taken down and brought back on the same port
 * to rehearse an SMTP outage.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailDev } from 'maildev';
import { type AddressObject, type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { listen } from './net.ts';
import { acceptOwnOriginOnly } from './origin-guard.ts';

export class LocalMailError extends Error {
  override name = 'LocalMailError';
}

/** MailDev 3 serves its REST API under `/api` (v2 had it at the root): the list of mails is here. */
export const MAILDEV_EMAIL_API_PATH = '/api/email';

/** The fields of MailDev's mail JSON that we read. */
export interface MailDevEmail {
  id: string;
  subject: string;
  text?: string;
  from: Array<{ address: string; name?: string }>;
  to: Array<{ address: string; name?: string }>;
  headers: Record<string, string | string[]>;
}

export interface MailDevHandle {
  smtp: { host: string; port: number };
  /** The web UI, e.g. `http://127.0.0.1:1080/`. */
  webUrl: string;
  /** `GET` lists the received mails as JSON. */
  emailApiUrl: string;
  /** The mails MailDev holds, oldest first, read through its REST API. */
  emails(): Promise<MailDevEmail[]>;
  close(): Promise<void>;
}

/**
 * Starts MailDev with SMTP and web both on `host` (port 0 = ephemeral; MailDev 3 reports the bound
 * ports). No outgoing relay is configured, so nothing ever leaves the machine. Its web server answers
 * its own origin only (local/origin-guard.ts): MailDev itself lets any web page read the mails.
 */
export async function startMailDev(options: {
  smtpPort: number;
  webPort: number;
  host?: string;
  /** Where MailDev keeps its .eml files (made, and removed at close); default a fresh temp dir. */
  directory?: string;
}): Promise<MailDevHandle> {
  const host = options.host ?? '127.0.0.1';
  // MailDev writes every .eml to disk, by default into a tmp dir shared by all runs and never cleaned;
  // a directory of our own is removed at close.
  const mailDirectory = options.directory ?? (await mkdtemp(join(tmpdir(), 'clickstream-maildev-')));
  await mkdir(mailDirectory, { recursive: true });
  const maildev = new MailDev({
    smtp: options.smtpPort,
    ip: host,
    web: options.webPort,
    webIp: host,
    mailDirectory,
    silent: true,
    verbose: false,
  });
  let servers: Awaited<ReturnType<MailDev['start']>>;
  try {
    servers = await withoutConsoleInfo(() => maildev.start());
  } catch (cause) {
    await stopHalfStarted(maildev);
    await rm(mailDirectory, { recursive: true, force: true });
    throw new LocalMailError(
      `MailDev failed to start on ${host} (smtp ${options.smtpPort}, web ${options.webPort})`,
      { cause },
    );
  }
  if (servers.api) acceptOwnOriginOnly(servers.api.server.server);
  const smtpPort = servers.smtp.getAddress().port;
  const webPort = servers.api?.getAddress()?.port ?? options.webPort;
  const webUrl = `http://${host}:${webPort}/`;
  const emailApiUrl = `http://${host}:${webPort}${MAILDEV_EMAIL_API_PATH}`;
  return {
    smtp: { host, port: smtpPort },
    webUrl,
    emailApiUrl,
    emails: () => fetchMailDevEmails(webUrl),
    close: async () => {
      await maildev.stop();
      await rm(mailDirectory, { recursive: true, force: true });
    },
  };
}

/**
 * MailDev's stop() does nothing unless start() completed; a start that failed on its web port has its
 * SMTP server listening already, which would hold that port and keep this process alive. So the
 * servers it did start are stopped one by one (MailDev 3 keeps them on its orchestrator).
 */
async function stopHalfStarted(maildev: MailDev): Promise<void> {
  type Stoppable = { stop(): Promise<void> } | null | undefined;
  const started = (maildev as unknown as { orchestrator?: { api?: Stoppable; smtp?: Stoppable } })
    .orchestrator;
  for (const server of [started?.api, started?.smtp]) await server?.stop().catch(() => undefined);
}

/** The mails a MailDev at `webUrl` (its web UI, e.g. `http://127.0.0.1:1080/`) holds, oldest first. */
export async function fetchMailDevEmails(webUrl: string): Promise<MailDevEmail[]> {
  const url = new URL(MAILDEV_EMAIL_API_PATH, webUrl);
  const response = await fetch(url);
  if (!response.ok) throw new LocalMailError(`MailDev answered ${response.status} on ${url}`);
  return (await response.json()) as MailDevEmail[];
}

/**
 * Writes each mail a MailDev holds as a text file (headers, a blank line, the body) into `directory`,
 * named by its order and subject, so the mails can be read after MailDev has stopped. Returns the files.
 */
export async function saveMailDevEmails(webUrl: string, directory: string): Promise<string[]> {
  const emails = await fetchMailDevEmails(webUrl);
  await mkdir(directory, { recursive: true });
  const width = String(emails.length).length;
  const files: string[] = [];
  for (const [i, email] of emails.entries()) {
    const slug = email.subject
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 80);
    const path = join(directory, `${String(i + 1).padStart(width, '0')}-${slug || 'mail'}.txt`);
    const addresses = (list: MailDevEmail['from']) => list.map((a) => a.address).join(', ');
    const date = email.headers.date;
    await writeFile(
      path,
      [
        `From: ${addresses(email.from)}`,
        `To: ${addresses(email.to)}`,
        `Subject: ${email.subject}`,
        ...(date ? [`Date: ${Array.isArray(date) ? date[0] : date}`] : []),
        '',
        email.text ?? '',
      ].join('\n'),
    );
    files.push(path);
  }
  return files;
}

/**
 * MailDev's API server prints "MailDev API running at ..." with console.info even when silent, and
 * stdout must carry nothing but the summary under `--json`.
 */
async function withoutConsoleInfo<T>(start: () => Promise<T>): Promise<T> {
  const info = console.info;
  console.info = () => undefined;
  try {
    return await start();
  } finally {
    console.info = info;
  }
}

export interface ReceivedMail {
  from: string;
  /** Addresses of the To header. */
  to: string[];
  /** Addresses given in RCPT TO, i.e. who the mail was actually delivered to. */
  envelopeTo: string[];
  subject: string;
  text: string;
  headers: ParsedMail['headers'];
  messageId?: string;
}

export interface SmtpSink {
  host: string;
  port: number;
  /** Every mail received so far, in arrival order (kept across pause/resume). */
  readonly messages: readonly ReceivedMail[];
  /** Resolves with the messages once at least `count` have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<readonly ReceivedMail[]>;
  /** Stops listening, so senders get "connection refused" as when a mail host is down. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** An in-memory SMTP server for tests: accepts everything, keeps parsed mails. */
export async function startSmtpSink(options: { host?: string; port?: number } = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const messages: ReceivedMail[] = [];
  const waiters = new Set<() => void>();

  const createServer = () =>
    new SMTPServer({
      // Plain SMTP on loopback: no TLS certificate to trust, no credentials to configure.
      disabledCommands: ['AUTH', 'STARTTLS'],
      authOptional: true,
      logger: false,
      // Offline loopback: a reverse DNS lookup of 127.0.0.1 can only cost time.
      disableReverseLookup: true,
      // A paused sink must refuse connections now, not after smtp-server's default 30 s drain.
      closeTimeout: 100,
      onData(stream, session, callback) {
        simpleParser(stream)
          .then((parsed) => {
            messages.push(
              toReceivedMail(
                parsed,
                session.envelope.rcptTo.map((rcpt) => rcpt.address),
              ),
            );
            for (const wake of waiters) wake();
            callback();
          })
          .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
      },
    });

  let server: SMTPServer | undefined = createServer();
  let port = await listenSmtp(server, host, options.port ?? 0);

  return {
    host,
    get port() {
      return port;
    },
    messages,
    waitFor(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          cleanup();
          resolve(messages);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new LocalMailError(`expected ${count} mails within ${timeoutMs} ms, got ${messages.length}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async pause() {
      if (!server) return;
      const stopping = server;
      server = undefined;
      await closeSmtp(stopping);
    },
    async resume() {
      if (server) return;
      server = createServer();
      port = await listenSmtp(server, host, port);
    },
    async close() {
      if (server) await closeSmtp(server);
      server = undefined;
    },
  };
}

function toReceivedMail(parsed: ParsedMail, envelopeTo: string[]): ReceivedMail {
  return {
    from: parsed.from?.text ?? '',
    to: addresses(parsed.to),
    envelopeTo,
    subject: parsed.subject ?? '',
    text: parsed.text ?? '',
    headers: parsed.headers,
    ...(parsed.messageId ? { messageId: parsed.messageId } : {}),
  };
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  if (!field) return [];
  return (Array.isArray(field) ? field : [field]).flatMap((group) =>
    group.value.flatMap((entry) => (entry.address ? [entry.address] : [])),
  );
}

/** Listens on `host:port` (0: any free port); a failure says it was the SMTP sink's. */
function listenSmtp(server: SMTPServer, host: string, port: number): Promise<number> {
  return listen(server, port, host).catch((cause: unknown) => {
    throw new LocalMailError(`SMTP sink could not listen on ${host}:${port}`, { cause });
  });
}

function closeSmtp(server: SMTPServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
