/**
 * The mails of email and email-json subscriptions, sent over SMTP one at a time with retries.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';

const MAIL_FROM = 'AWS Notifications <no-reply@sns.local>';

export interface RetryPolicy {
  /** First retry delay; doubles per failed attempt. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A delivery still failing after this long is given up, counted as failed and logged. */
  maxAgeMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  maxAgeMs: 60 * 60 * 1000,
};

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  /** Same for every attempt of one delivery, so a receiver can drop a duplicate SMTP cannot rule out. */
  messageId: string;
  enqueuedAt: number;
  attempts: number;
}

/** The SMTP transport the queue sends through. */
export function createMailTransport(smtp: { host: string; port: number }): Transporter {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
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
}

/**
 * Delivers mails one at a time, in publish order, retrying with exponential backoff while the mail
 * host is unreachable. A mail leaves the queue only once the SMTP server accepted it (or it is given
 * up), and only one attempt is ever in flight, so a retry follows only an attempt the server did not
 * accept and never sends a mail twice (barring a reply lost after acceptance, which SMTP cannot rule
 * out; the stable Message-ID lets a receiver drop that duplicate). Head-of-line
 * waiting is deliberate: locally all mails go to one host, so when one cannot be delivered none can.
 */
export class MailQueue {
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
