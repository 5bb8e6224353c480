/** Reading alert emails the way their recipient does (not a test file itself). */
import type { ReceivedMail } from '../local/mail.ts';

/**
 * (user, window, rule) of an alert mail, read from its body. The identity of an alert: two windows
 * of one user can break the same rule with the same count, so a subject alone does not tell them apart.
 */
export function alertKey(mail: ReceivedMail): string {
  const user = /^Suspicious activity by user (\S+)\.$/m.exec(mail.text)?.[1];
  const window = /^Window:\s+(\S+) to /m.exec(mail.text)?.[1];
  const rule = /^Rule:\s+(\S+) /m.exec(mail.text)?.[1];
  if (!user || !window || !rule) throw new Error(`not an alert mail: ${mail.subject}`);
  return `${user}|${window}|${rule}`;
}

/** Mails per alert identity: any count other than 1 is a duplicate email. */
export function mailsPerAlert(mails: readonly ReceivedMail[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const mail of mails) {
    const key = alertKey(mail);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
