/**
 * An incident's outbox: the emails a stored decision calls for, each with its order and claim id, and
 * their delivery in that order, exactly once each (delivery.ts), every one removed once done with.
 */
import { buildIncidentMessage } from '../../core/alert-message.ts';
import type { Incident, IncidentStep } from '../../core/incident.ts';
import { ConsumerError } from '../errors.ts';
import type { OutboxEntry, StoredIncident } from './incident-store.ts';
import type { KeeperContext } from './keeper-context.ts';

/**
 * Delivers the outbox in order. At an email another invocation is sending it waits a few seconds for
 * that one to finish (delivery.ts), then stops: by throwing (the caller's records are retried), or,
 * for the close pass, which only sweeps up after others and does not wait, by returning `blocked` (the
 * owner finishes it, or a later pass once the claim's lease is out).
 */
export async function deliverOutbox(
  keeper: KeeperContext,
  stored: StoredIncident,
  onClaimed: 'throw' | 'stop' = 'throw',
): Promise<{ sent: number; blocked: boolean }> {
  let sent = 0;
  const entries = Object.entries(stored.outbox).sort(([, a], [, b]) => a.seq - b.seq);
  for (const [step, entry] of entries) {
    const outcome = await keeper.deliver(entry.claimId, entry, { wait: onClaimed === 'throw' });
    if (outcome === 'claimed-elsewhere') {
      if (onClaimed === 'stop') return { sent, blocked: true };
      throw new ConsumerError(`email ${entry.claimId} is claimed by a live attempt`);
    }
    if (outcome === 'sent') {
      sent++;
      keeper.counters.sent++;
    } else keeper.counters.duplicatesSuppressed++;
    await keeper.store.removeFromOutbox(stored.incident.userId, step);
  }
  return { sent, blocked: false };
}

export function outboxOf(
  keeper: KeeperContext,
  incident: Incident,
  steps: IncidentStep[],
  stored: StoredIncident | undefined,
) {
  const outbox: Record<string, OutboxEntry> = {};
  let seq = Math.max(0, ...Object.values(stored?.outbox ?? {}).map((entry) => entry.seq));
  for (const step of steps) {
    const message = buildIncidentMessage({ incident, step, settings: keeper.settings }, keeper.config);
    outbox[step.step] = { ...message, seq: ++seq, claimId: `${incident.id}#${step.step}` };
  }
  return outbox;
}
