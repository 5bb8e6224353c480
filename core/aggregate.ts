/**
 * Per-user, per-event-time-window activity. The window aggregator emits *partials* (one shard's share
 * of a user's window); DynamoDB holds their idempotent merge; stream 2 and the lake carry the partials.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import type { EventType } from './event.ts';

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
   * covers), unique within its (user, window), so a retried batch or a re-sent final window merges once.
   */
  contribution_id: string;
  view_count: number;
  cart_count: number;
  remove_from_cart_count: number;
  purchase_count: number;
  total_count: number;
  /** Distinct session ids seen in this partial (sets, so merging across shards stays exact). */
  sessions: string[];
  /** Distinct product ids seen in this partial. */
  products: string[];
  /** Sum of purchase prices, in the source currency. */
  revenue: number;
  first_event_time: string;
  last_event_time: string;
}

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
