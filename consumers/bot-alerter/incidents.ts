/**
 * The alerter's incident keeping: applies a user's broken rules to the stored incident (core/incident.ts
 * decides), writes the result with the emails it calls for in an outbox, then delivers the outbox in
 * order, exactly once each (delivery.ts). Writing the decision before sending is what makes a crash
 * anywhere safe: a retry finds the decision made and the email still in the outbox, and sends it.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { type AlertContext, buildIncidentMessage } from '../../core/alert-message.ts';
import { toIsoSeconds } from '../../core/event.ts';
import { sumWindows } from '../../core/horizon.ts';
import {
  applyMatches,
  type CloseReason,
  closeDue,
  closeIncident,
  type Incident,
  type IncidentSettings,
  type IncidentStep,
  incidentSpan,
} from '../../core/incident.ts';
import type { HorizonMatch } from '../../core/rules.ts';
import { ConsumerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { readUserWindows } from '../user-activity-item.ts';
import type { AlertOutcome } from './delivery.ts';
import type { IncidentStore, OpenEntry, OutboxEntry, StoredIncident } from './incident-store.ts';

/**
 * What incident keeping needs of the alerter's configuration (processor.ts's AlerterConfig has these
 * fields), named here so that the processor, which creates the keeper, and this module do not import
 * each other.
 */
interface IncidentKeeperConfig extends AlertContext {
  dynamo: DynamoDBDocumentClient;
  userActivityTable: string;
  /** Users evaluated in parallel. */
  concurrency?: number;
}

/**
 * The stored incident closed, with its summary email in the outbox: totals by type over the incident's
 * span are read from the user's merged windows.
 */
async function closedState(
  config: Omit<IncidentKeeperConfig, 'concurrency'>,
  settings: IncidentSettings,
  stored: StoredIncident,
  endOfStream: boolean,
  watermarkMs: number,
): Promise<StoredIncident> {
  const reason: CloseReason = endOfStream ? 'end-of-stream' : 'quiet';
  const closed = closeIncident(
    stored.incident,
    reason,
    endOfStream ? 'end of stream' : toIsoSeconds(watermarkMs),
  );
  const span = incidentSpan(closed);
  const windows = await readUserWindows(
    config.dynamo,
    config.userActivityTable,
    closed.userId,
    span.from,
    closed.lastBreachWindow,
  );
  const minutes = Math.round((Date.parse(span.to) - Date.parse(span.from)) / 60_000) + 1;
  const totals = windows.length > 0 ? sumWindows(windows, 0, windows.length - 1, minutes) : undefined;
  const message = buildIncidentMessage(
    { incident: closed, step: { step: 'close', reason }, settings, ...(totals ? { totals } : {}) },
    config,
  );
  return {
    ...stored,
    incident: closed,
    version: stored.version + 1,
    outbox: { close: { ...message, seq: 1, claimId: `${closed.id}#close` } },
  };
}

/** Conditional writes lost to a concurrent writer before giving up (the record is then retried). */
const WRITE_ATTEMPTS = 5;

export interface IncidentCounters {
  opened: number;
  followUps: number;
  closed: number;
  /** Windows whose breaches fell to an already closed incident. */
  lateBreaches: number;
  sent: number;
  duplicatesSuppressed: number;
}

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

export function createIncidentKeeper(options: {
  config: IncidentKeeperConfig;
  settings: IncidentSettings;
  store: IncidentStore;
  deliver: (claimId: string, entry: OutboxEntry) => Promise<AlertOutcome>;
  logger: Logger;
  now: () => number;
}): IncidentKeeper {
  const { config, settings, store, logger, now } = options;
  const counters: IncidentCounters = {
    opened: 0,
    followUps: 0,
    closed: 0,
    lateBreaches: 0,
    sent: 0,
    duplicatesSuppressed: 0,
  };

  /**
   * Delivers the outbox in order. At an email another invocation is sending it stops: by throwing
   * (the caller's records are retried), or, for the close pass, which only sweeps up after others,
   * by returning `blocked` (the owner finishes it, or a later pass once the claim's lease is out).
   */
  async function deliverOutbox(
    stored: StoredIncident,
    onClaimed: 'throw' | 'stop' = 'throw',
  ): Promise<{ sent: number; blocked: boolean }> {
    let sent = 0;
    const entries = Object.entries(stored.outbox).sort(([, a], [, b]) => a.seq - b.seq);
    for (const [step, entry] of entries) {
      const outcome = await options.deliver(entry.claimId, entry);
      if (outcome === 'claimed-elsewhere') {
        if (onClaimed === 'stop') return { sent, blocked: true };
        throw new ConsumerError(`email ${entry.claimId} is claimed by a live attempt`);
      }
      if (outcome === 'sent') {
        sent++;
        counters.sent++;
      } else counters.duplicatesSuppressed++;
      await store.removeFromOutbox(stored.incident.userId, step);
    }
    return { sent, blocked: false };
  }

  function outboxOf(incident: Incident, steps: IncidentStep[], stored: StoredIncident | undefined) {
    const outbox: Record<string, OutboxEntry> = {};
    let seq = Math.max(0, ...Object.values(stored?.outbox ?? {}).map((entry) => entry.seq));
    for (const step of steps) {
      const message = buildIncidentMessage({ incident, step, settings }, config);
      outbox[step.step] = { ...message, seq: ++seq, claimId: `${incident.id}#${step.step}` };
    }
    return outbox;
  }

  async function apply(userId: string, matches: readonly HorizonMatch[]): Promise<number> {
    let sent = 0;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const stored = await store.read(userId);
      // A new incident must not overwrite emails of the last one that are still to go.
      if (stored && Object.keys(stored.outbox).length > 0) {
        sent += (await deliverOutbox(stored)).sent;
        continue;
      }
      const { incident, steps, late } = applyMatches(stored?.incident, matches, settings);
      if (!incident || JSON.stringify(incident) === JSON.stringify(stored?.incident)) {
        if (late > 0) {
          counters.lateBreaches += late;
          logger.info('breaches of a closed incident not mailed', { userId, windows: late });
        }
        return sent;
      }
      const opens = steps.some((step) => step.step === 'open');
      // Before the write: an open incident missing from the set would never close by the watermark,
      // while a user in it without an open incident is only skipped.
      const next: StoredIncident = {
        incident,
        version: (stored?.version ?? 0) + 1,
        outbox: outboxOf(incident, steps, stored),
        changedAt: now(),
      };
      if (opens) await store.markOpen({ userId, version: next.version });
      if (await store.write(next, stored?.version)) {
        if (opens) counters.opened++;
        counters.followUps += steps.filter((step) => step.step.startsWith('follow-up')).length;
        counters.lateBreaches += late;
        return sent + (await deliverOutbox(next)).sent;
      }
    }
    throw new ConsumerError(`the incident of user ${userId} kept changing under this invocation`);
  }

  async function closeOne(
    entry: OpenEntry,
    watermarkMs: number,
    endOfStream: boolean,
  ): Promise<{ sent: number; pending: boolean }> {
    const { userId } = entry;
    let sent = 0;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const stored = await store.read(userId);
      // The write this entry was added for has not landed (it may be under way elsewhere): leave it.
      if (!stored || stored.version < entry.version) return { sent, pending: endOfStream };
      if (Object.keys(stored.outbox).length > 0) {
        const delivered = await deliverOutbox(stored, 'stop');
        sent += delivered.sent;
        if (delivered.blocked) return { sent, pending: true };
        continue;
      }
      if (stored.incident.status === 'closed') {
        await store.archive(stored.incident);
        await store.markClosed(entry);
        return { sent, pending: false };
      }
      if (!closeDue(stored.incident, watermarkMs, stored.changedAt, now(), settings, endOfStream)) {
        return { sent, pending: false };
      }
      const next = await closedState(config, settings, stored, endOfStream, watermarkMs);
      const closed = next.incident;
      if (await store.write(next, stored.version)) {
        counters.closed++;
        const delivered = await deliverOutbox(next, 'stop');
        sent += delivered.sent;
        if (delivered.blocked) return { sent, pending: true };
        await store.archive(closed);
        await store.markClosed(entry);
        return { sent, pending: false };
      }
    }
    throw new ConsumerError(`the incident of user ${userId} kept changing while closing it`);
  }

  return {
    apply,
    async closeQuiet(watermarkMs, endOfStream) {
      const result = { sent: 0, pending: 0 };
      const limit = pLimit(config.concurrency ?? 8);
      // allSettled: a failed close fails the pass only once the others have finished, so none is still
      // in flight when the batch is retried.
      const outcomes = await Promise.allSettled(
        (await store.openEntries()).map((entry) => limit(() => closeOne(entry, watermarkMs, endOfStream))),
      );
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') throw outcome.reason;
        result.sent += outcome.value.sent;
        if (outcome.value.pending) result.pending++;
      }
      return result;
    },
    counters: () => ({ ...counters }),
  };
}
