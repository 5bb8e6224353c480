/**
 * One invocation's records folded into the tumbling-window state: the state taken over from the event
 * (or started), every event of every record (KPL aggregates opened) folded or set aside as malformed,
 * and the partials that fall out when the state reaches its flush point or the window closes.
 */
import type { UserWindowPartial } from '../../core/aggregate.ts';
import { isAggregated, KplFormatError, type UserRecord, userRecordsOf } from '../../core/kpl.ts';
import {
  emptyWindowState,
  foldEvent,
  isWindowState,
  type MalformedReason,
  readEventRecord,
  takePartials,
  upgradeWindowState,
  type WindowState,
} from '../../core/window.ts';
import type { MalformedRecord } from '../dead-letter.ts';
import type { KinesisStreamRecord, KinesisWindowEvent } from '../kinesis-event.ts';
import { recordBytes } from '../kinesis-event.ts';
import type { Logger } from '../logger.ts';

export interface FoldedBatch {
  /** The state to return to Lambda. */
  state: WindowState;
  /** Partials to merge and put now. */
  partials: UserWindowPartial[];
  malformed: MalformedRecord[];
  /** Events in the records (a KPL aggregated record holds many; an unreadable one counts as one). */
  events: number;
  /** The window closes with this invocation (final, terminated early, or no tumbling window). */
  closing: boolean;
}

export function foldBatch(
  event: KinesisWindowEvent<unknown>,
  shardId: string,
  settings: { windowSeconds: number; flushAtBytes: number; logger: Logger },
): FoldedBatch {
  const partials: UserWindowPartial[] = [];
  let state: WindowState;
  if (isWindowState(event.state)) state = event.state;
  else {
    const upgraded = upgradeWindowState(event.state);
    if (upgraded) settings.logger.warn('window state of the counting fold taken over', { shardId });
    state = upgraded ?? emptyWindowState(settings.windowSeconds);
  }
  if (state.ws !== settings.windowSeconds) {
    // The window length was reconfigured mid-window: close what was folded with the old length.
    appendAll(partials, takePartials(state, shardId));
    state = emptyWindowState(settings.windowSeconds);
  }
  const malformed: MalformedRecord[] = [];
  let events = 0;
  const reject = (
    record: KinesisStreamRecord,
    reason: MalformedReason,
    detail: string,
    inAggregate?: { index: number; data: Uint8Array },
  ) => {
    malformed.push({
      reason,
      detail,
      shardId,
      sequenceNumber: record.kinesis.sequenceNumber,
      partitionKey: record.kinesis.partitionKey,
      approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp,
      ...(inAggregate
        ? {
            subSequenceNumber: inAggregate.index,
            data: Buffer.from(inAggregate.data).toString('base64'),
          }
        : { data: record.kinesis.data }),
    });
  };
  for (const record of event.Records) {
    const bytes = recordBytes(record);
    const sequenceNumber = record.kinesis.sequenceNumber;
    const aggregated = isAggregated(bytes);
    let userRecords: UserRecord[];
    try {
      userRecords = userRecordsOf(bytes, record.kinesis.partitionKey);
    } catch (error) {
      // Counted as one event: what it held cannot be known; the dead-letter copy keeps its bytes.
      events++;
      reject(record, 'bad_aggregate', error instanceof KplFormatError ? error.message : String(error));
      continue;
    }
    events += userRecords.length;
    for (let i = 0; i < userRecords.length; i++) {
      const data = (userRecords[i] as UserRecord).data;
      const read = readEventRecord(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
      // Inside an aggregate the position names the event, so flushes and contribution ids stay per event.
      if (!read.ok) reject(record, read.reason, read.detail, aggregated ? { index: i, data } : undefined);
      else if (
        foldEvent(
          state,
          read.event,
          read.eventMs,
          aggregated ? `${sequenceNumber}/${i}` : sequenceNumber,
          settings.flushAtBytes,
          read.event.event_id,
        )
      )
        appendAll(partials, takePartials(state, shardId));
    }
  }
  const closing =
    event.isFinalInvokeForWindow === true || event.isWindowTerminatedEarly === true || !event.window;
  if (closing) appendAll(partials, takePartials(state, shardId));
  return { state, partials, malformed, events, closing };
}

/** push(...items) passes every item as an argument, which overflows the stack for large flushes. */
function appendAll<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}
