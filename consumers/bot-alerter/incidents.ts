/**
 * The alerter's incident keeping: applies a user's broken rules to the stored incident (core/incident.ts
 * decides), writes the result with the emails it calls for in an outbox, then delivers the outbox in
 * order, exactly once each (delivery.ts). Writing the decision before sending is what makes a crash
 * anywhere safe: a retry finds the decision made and the email still in the outbox, and sends it.
 *
 * The parts: outbox.ts (the emails of a decision, delivered in order) and incident-closing.ts (quiet
 * incidents closed with their summary email).
 */
import { applyMatches } from '../../core/incident.ts';
import type { HorizonMatch } from '../../core/rules.ts';
import { ConsumerError } from '../errors.ts';
import { closeQuietIncidents } from './incident-closing.ts';
import { type StoredIncident, WRITE_ATTEMPTS } from './incident-store.ts';
import type { IncidentCounters, KeeperContext } from './keeper-context.ts';
import { deliverOutbox, outboxOf } from './outbox.ts';

export type { IncidentCounters } from './keeper-context.ts';

export interface IncidentKeeper {
  /** Applies one user's broken rules; returns the emails this call sent. */
  apply(userId: string, matches: readonly HorizonMatch[]): Promise<number>;
  /**
   * Closes the open incidents the watermark (or the end of the stream) has left quiet. `pending`
   * counts those left open although due: an email of theirs is being sent by another invocation, or
   * the write that opened them has not landed yet.
   */
  closeQuiet(watermarkMs: number, endOfStream: boolean): Promise<{ sent: number; pending: number }>;
  counters(): IncidentCounters;
}

export function createIncidentKeeper(options: Omit<KeeperContext, 'counters'>): IncidentKeeper {
  const keeper: KeeperContext = {
    ...options,
    counters: {
      opened: 0,
      followUps: 0,
      closed: 0,
      lateBreaches: 0,
      sent: 0,
      duplicatesSuppressed: 0,
    },
  };
  return {
    apply: (userId, matches) => applyMatchesOf(keeper, userId, matches),
    closeQuiet: (watermarkMs, endOfStream) => closeQuietIncidents(keeper, watermarkMs, endOfStream),
    counters: () => ({ ...keeper.counters }),
  };
}

/** Applies one user's broken rules to the stored incident, writes the decision, then sends its emails. */
async function applyMatchesOf(
  keeper: KeeperContext,
  userId: string,
  matches: readonly HorizonMatch[],
): Promise<number> {
  const { store, counters } = keeper;
  let sent = 0;
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const stored = await store.read(userId);
    // A new incident must not overwrite emails of the last one that are still to go.
    if (stored && Object.keys(stored.outbox).length > 0) {
      sent += (await deliverOutbox(keeper, stored)).sent;
      continue;
    }
    const { incident, steps, late } = applyMatches(stored?.incident, matches, keeper.settings);
    if (!incident || JSON.stringify(incident) === JSON.stringify(stored?.incident)) {
      if (late > 0) {
        counters.lateBreaches += late;
        keeper.logger.info('breaches of a closed incident not mailed', { userId, windows: late });
      }
      return sent;
    }
    const opens = steps.some((step) => step.step === 'open');
    // Before the write: an open incident missing from the set would never close by the watermark,
    // while a user in it without an open incident is only skipped.
    const next: StoredIncident = {
      incident,
      version: (stored?.version ?? 0) + 1,
      outbox: outboxOf(keeper, incident, steps, stored),
      changedAt: keeper.now(),
    };
    if (opens) await store.markOpen({ userId, version: next.version });
    if (await store.write(next, stored?.version)) {
      if (opens) counters.opened++;
      counters.followUps += steps.filter((step) => step.step.startsWith('follow-up')).length;
      counters.lateBreaches += late;
      return sent + (await deliverOutbox(keeper, next)).sent;
    }
  }
  throw new ConsumerError(`the incident of user ${userId} kept changing under this invocation`);
}
