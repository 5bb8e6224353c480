/** Reading alert emails the way their recipient does (not a test file itself). */
import type { ReceivedMail } from '../../local/mail.ts';

export interface IncidentMail {
  incident: string;
  /** `open`, `follow-up 1`, ..., `close`. */
  step: string;
  user: string;
}

/** Which incident and step an alert mail is, read from its body. */
export function incidentMail(mail: ReceivedMail): IncidentMail {
  const match = /^Incident: (\S+) \(([^)]+)\)$/m.exec(mail.text);
  const user = /^User:\s+(\S+)$/m.exec(mail.text)?.[1];
  if (!match?.[1] || !match[2] || !user) throw new Error(`not an incident mail: ${mail.subject}`);
  return { incident: match[1], step: match[2], user };
}

/** The identity of an alert mail: its incident and step. Any mail sharing one with another is a duplicate. */
export function alertKey(mail: ReceivedMail): string {
  const { incident, step } = incidentMail(mail);
  return `${incident}|${step}`;
}

/** Mails per (incident, step): any count other than 1 is a duplicate email. */
export function mailsPerAlert(mails: readonly ReceivedMail[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const mail of mails) {
    const key = alertKey(mail);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
