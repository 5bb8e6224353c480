/**
 * Per-user, per-event-time-window activity. The window aggregator emits *partials* (one shard's share
 * of a user's window); DynamoDB holds their idempotent merge; stream 2 and the lake carry the partials.
 *
 * Exactly once, per event: a partial names its events by id instead of counting them, and every merge
 * (DynamoDB's, the lake's SQL, the in-memory reference below) is a union of id sets. So a retried batch,
 * a re-sent final window and an event the producer sent twice (a resumed run) all count once; a total's
 * counts are the sizes of its sets.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { EVENT_TYPES, type EventType } from './event.ts';

export const DEFAULT_WINDOW_SECONDS = 60;

export type EventCounts = Record<EventType, number>;

/**
 * One shard's contribution to a (user, window). This is exactly the JSON record put on the
 * user-activity stream (partition key user_id) and the row shape of the lake's user_activity table.
 */
export interface UserWindowPartial {
  user_id: string;
  /** ISO-8601 UTC start of the event-time window, e.g. `2019-10-01T00:01:00Z`. */
  window_start: string;
  window_seconds: number;
  /**
   * Deterministic id of the flush this partial came from (shard + the sequence-number range it
   * covers): how many partials a window merged, and which flush a lake row came from.
   */
  contribution_id: string;
  /** Ids of the events of each type. An id may repeat (an event sent twice): count distinct ids. */
  view_ids: string[];
  cart_ids: string[];
  remove_from_cart_ids: string[];
  /** One `<event id>:<price in cents>` per purchase: revenue is the sum over the distinct entries. */
  purchases: string[];
  /** Distinct session ids seen in this partial (sets, so merging across shards stays exact). */
  sessions: string[];
  /** Distinct product ids seen in this partial. */
  products: string[];
  first_event_time: string;
  last_event_time: string;
}

/** The partial fields holding event ids, in EVENT_TYPES order. */
export const ID_FIELDS = [
  'view_ids',
  'cart_ids',
  'remove_from_cart_ids',
  'purchases',
] as const satisfies ReadonlyArray<keyof UserWindowPartial>;
export type IdField = (typeof ID_FIELDS)[number];

/** The merged total for a (user, window), as stored in DynamoDB and evaluated by the alert rules. */
export interface UserWindowTotal {
  user_id: string;
  window_start: string;
  window_seconds: number;
  view_count: number;
  cart_count: number;
  remove_from_cart_count: number;
  purchase_count: number;
  total_count: number;
  distinct_sessions: number;
  distinct_products: number;
  revenue: number;
  first_event_time: string;
  last_event_time: string;
  /** How many partials were merged. */
  contributions: number;
}

/**
 * What one partial record on the user-activity stream may take: Kinesis takes at most 1 MiB a record
 * with its partition key (a user id of up to 256 characters), Firehose 1,000 KiB; a round million is
 * under both.
 */
export const MAX_PARTIAL_RECORD_BYTES = 1_000_000;

/**
 * A partial as the JSON records that carry it, each at most `maxBytes`: almost always the one record.
 * A heavy bot's partial can hold more ids than a record takes (the fold's state keeps them compact,
 * the record spells them out), and a record Kinesis refuses would stop the shard; its arrays are then
 * halved until each piece fits. The pieces keep the contribution id and times, and merges are unions,
 * so the pieces of a partial merge exactly as the partial would.
 */
export function partialRecords(partial: UserWindowPartial, maxBytes = MAX_PARTIAL_RECORD_BYTES): string[] {
  const json = JSON.stringify(partial);
  // UTF-16 units never take more than 3 UTF-8 bytes: most partials are known to fit without measuring.
  if (json.length * 3 <= maxBytes || Buffer.byteLength(json, 'utf8') <= maxBytes) return [json];
  const fields = [...ID_FIELDS, 'sessions', 'products'] as const;
  if (fields.every((field) => partial[field].length <= 1)) return [json];
  const half = (first: boolean): UserWindowPartial => {
    const piece = { ...partial };
    for (const field of fields) {
      const values = partial[field];
      const middle = Math.ceil(values.length / 2);
      piece[field] = first ? values.slice(0, middle) : values.slice(middle);
    }
    return piece;
  };
  return [...partialRecords(half(true), maxBytes), ...partialRecords(half(false), maxBytes)];
}

/** A purchase as its partial carries it. Cents, so sums do not depend on order (float addition is not associative). */
export function purchaseEntry(eventId: string, price: number): string {
  return `${eventId}:${Math.round(price * 100)}`;
}

export function purchaseCents(entry: string): number {
  return Number(entry.slice(entry.lastIndexOf(':') + 1));
}

/** A (user, window) as the union of its partials: what DynamoDB holds, and what totals are read from. */
export interface MergedWindow {
  user_id: string;
  window_start: string;
  window_seconds: number;
  /** Event ids per type, in EVENT_TYPES order (purchases as purchaseEntry). */
  ids: [Set<string>, Set<string>, Set<string>, Set<string>];
  sessions: Set<string>;
  products: Set<string>;
  contributionIds: Set<string>;
  first_event_time: string;
  last_event_time: string;
}

export function emptyMergedWindow(
  userId: string,
  windowStart: string,
  windowSeconds: number,
  firstEventTime: string,
  lastEventTime: string,
): MergedWindow {
  return {
    user_id: userId,
    window_start: windowStart,
    window_seconds: windowSeconds,
    ids: [new Set(), new Set(), new Set(), new Set()],
    sessions: new Set(),
    products: new Set(),
    contributionIds: new Set(),
    first_event_time: firstEventTime,
    last_event_time: lastEventTime,
  };
}

/** Adds a partial to a merged window: a union, so adding the same partial or event again changes nothing. */
export function addPartial(merged: MergedWindow, partial: UserWindowPartial): void {
  ID_FIELDS.forEach((field, type) => {
    const ids = merged.ids[type] as Set<string>;
    for (const id of partial[field]) ids.add(id);
  });
  for (const session of partial.sessions) merged.sessions.add(session);
  for (const product of partial.products) merged.products.add(product);
  merged.contributionIds.add(partial.contribution_id);
  // ISO-8601 UTC strings of one format order like the instants they name.
  if (partial.first_event_time < merged.first_event_time) merged.first_event_time = partial.first_event_time;
  if (partial.last_event_time > merged.last_event_time) merged.last_event_time = partial.last_event_time;
}

/** The one place a total is computed: counts are set sizes, revenue the sum of the distinct purchases. */
export function totalOf(merged: MergedWindow): UserWindowTotal {
  const counts = merged.ids.map((ids) => ids.size) as [number, number, number, number];
  let cents = 0;
  for (const entry of merged.ids[EVENT_TYPES.indexOf('purchase')] as Set<string>)
    cents += purchaseCents(entry);
  return {
    user_id: merged.user_id,
    window_start: merged.window_start,
    window_seconds: merged.window_seconds,
    view_count: counts[0],
    cart_count: counts[1],
    remove_from_cart_count: counts[2],
    purchase_count: counts[3],
    total_count: counts[0] + counts[1] + counts[2] + counts[3],
    distinct_sessions: merged.sessions.size,
    distinct_products: merged.products.size,
    revenue: cents / 100,
    first_event_time: merged.first_event_time,
    last_event_time: merged.last_event_time,
    contributions: merged.contributionIds.size,
  };
}
