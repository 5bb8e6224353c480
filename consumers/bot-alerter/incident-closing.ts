/**
 * Closing the alerter's quiet incidents: each open incident the watermark (or the end of the stream)
 * has left quiet is closed with its summary email, delivered, archived and taken off the open set.
 */
import pLimit from 'p-limit';
import { buildIncidentMessage } from '../../core/alert-message.ts';
import { toIsoSeconds } from '../../core/event.ts';
import { sumWindows } from '../../core/horizon.ts';
import {
  type CloseReason,
  closeDue,
  closeIncident,
  type IncidentSettings,
  incidentSpan,
} from '../../core/incident.ts';
import { ConsumerError } from '../errors.ts';
import { readUserWindows } from '../user-activity-item.ts';
import { type OpenEntry, type StoredIncident, WRITE_ATTEMPTS } from './incident-store.ts';
import type { IncidentKeeperConfig, KeeperContext } from './keeper-context.ts';
import { deliverOutbox } from './outbox.ts';

/** Closes every open incident that is due; see IncidentKeeper.closeQuiet. */
export async function closeQuietIncidents(
  keeper: KeeperContext,
  watermarkMs: number,
  endOfStream: boolean,
): Promise<{ sent: number; pending: number }> {
  const result = { sent: 0, pending: 0 };
  const limit = pLimit(keeper.config.concurrency ?? 8);
  // allSettled: a failed close fails the pass only once the others have finished, so none is still
  // in flight when the batch is retried.
  const outcomes = await Promise.allSettled(
    (await keeper.store.openEntries()).map((entry) =>
      limit(() => closeOne(keeper, entry, watermarkMs, endOfStream)),
    ),
  );
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') throw outcome.reason;
    result.sent += outcome.value.sent;
    if (outcome.value.pending) result.pending++;
  }
  return result;
}

async function closeOne(
  keeper: KeeperContext,
  entry: OpenEntry,
  watermarkMs: number,
  endOfStream: boolean,
): Promise<{ sent: number; pending: boolean }> {
  const { store, settings } = keeper;
  const { userId } = entry;
  let sent = 0;
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const stored = await store.read(userId);
    // The write this entry was added for has not landed (it may be under way elsewhere): leave it.
    if (!stored || stored.version < entry.version) return { sent, pending: endOfStream };
    if (Object.keys(stored.outbox).length > 0) {
      const delivered = await deliverOutbox(keeper, stored, 'stop');
      sent += delivered.sent;
      if (delivered.blocked) return { sent, pending: true };
      continue;
    }
    if (stored.incident.status === 'closed') {
      await store.archive(stored.incident);
      await store.markClosed(entry);
      return { sent, pending: false };
    }
    if (!closeDue(stored.incident, watermarkMs, stored.changedAt, keeper.now(), settings, endOfStream)) {
      return { sent, pending: false };
    }
    const next = await closedState(keeper.config, settings, stored, endOfStream, watermarkMs);
    const closed = next.incident;
    if (await store.write(next, stored.version)) {
      keeper.counters.closed++;
      const delivered = await deliverOutbox(keeper, next, 'stop');
      sent += delivered.sent;
      if (delivered.blocked) return { sent, pending: true };
      await store.archive(closed);
      await store.markClosed(entry);
      return { sent, pending: false };
    }
  }
  throw new ConsumerError(`the incident of user ${userId} kept changing while closing it`);
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
