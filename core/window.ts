/**
 * The window fold: events → per-(user, event-time window) partial aggregates, carried as Lambda
 * tumbling-window state between invocations and emitted as UserWindowPartial with deterministic
 * contribution ids.
 *
 * Pure code: no AWS SDK, no process.env. The state is plain JSON because Lambda serializes it between
 * invocations; the fold mutates it in place so an invocation pays no conversion per record.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_WINDOW_SECONDS, type UserWindowPartial, type UserWindowTotal } from './aggregate.ts';
import { type ClickEvent, type EventRecord, type EventType, isEventType, toIsoSeconds } from './event.ts';

/** AWS: tumbling-window state is at most 1 MB per shard; beyond it Lambda terminates the window early. */
export const LAMBDA_STATE_LIMIT_BYTES = 1024 * 1024;
/**
 * Flush well before the limit: one more record adds at most a few hundred bytes (ids are capped below),
 * and partials merge exactly anyway, so an early flush costs only an extra DynamoDB write per user.
 */
export const DEFAULT_FLUSH_AT_BYTES = 800 * 1024;
/** AWS: TumblingWindowInSeconds ≤ 900. */
export const MAX_TUMBLING_WINDOW_SECONDS = 900;
/** Longer ids are rejected as malformed: they would bloat state and DynamoDB items (400 KB limit). */
export const MAX_ID_LENGTH = 256;

const TYPE_INDEX: Record<EventType, 0 | 1 | 2 | 3> = { view: 0, cart: 1, remove_from_cart: 2, purchase: 3 };

/** One (user, window) accumulator inside the state. Short keys: state size is capped at 1 MB. */
export interface WindowEntry {
  /** user_id */
  u: string;
  /** window start, epoch seconds */
  w: number;
  /** counts in EVENT_TYPES order: view, cart, remove_from_cart, purchase */
  n: [number, number, number, number];
  /** purchase revenue in integer cents, so sums do not depend on batching (float addition is not associative) */
  r: number;
  /** first and last event time, epoch seconds */
  f: number;
  l: number;
  /** distinct sessions and products */
  s: string[];
  p: string[];
}

export interface WindowState {
  v: 1;
  /** Window length the entries were folded with. */
  ws: number;
  /** Positions (sequence numbers) of the first and last record folded since the last flush. */
  first: string | null;
  last: string | null;
  /** Upper estimate of JSON.stringify(state) in UTF-8 bytes, kept incrementally. */
  bytes: number;
  /** Keyed by `${w}|${u}`. */
  entries: Record<string, WindowEntry>;
}

// `{"v":1,"ws":…,"first":"<seq>","last":"<seq>","bytes":…,"entries":{}}` with 64-char positions.
const STATE_BASE_BYTES = 256;
// `"<w>|<u>":{"u":"<u>","w":…,"n":[…],"r":…,"f":…,"l":…,"s":[],"p":[]},` without the two user ids,
// with room for 8-digit counts and a 12-digit revenue.
const ENTRY_BASE_BYTES = 160;

export function emptyWindowState(windowSeconds: number): WindowState {
  return { v: 1, ws: windowSeconds, first: null, last: null, bytes: STATE_BASE_BYTES, entries: {} };
}

/** Accepts what Lambda hands back (`{}` on the first invoke of a window, or our own state). */
export function isWindowState(value: unknown): value is WindowState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<WindowState>;
  return state.v === 1 && typeof state.ws === 'number' && typeof state.entries === 'object' && state.entries !== null;
}

export function isWindowStateEmpty(state: WindowState): boolean {
  return state.first === null;
}

/** UTF-8 bytes of a string once JSON-escaped, overestimated for escapes and surrogates. */
export function jsonStringBytes(text: string): number {
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x20 || c === 0x22 || c === 0x5c ? 6 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return bytes;
}

/**
 * Folds one accepted event into the state. Returns true when the state has reached `flushAtBytes`:
 * the caller then emits the partials and starts a fresh state. Deciding this per record (never per
 * batch) makes the flush points, and so the contribution ids, independent of how Lambda batched the
 * records: a retried or bisected batch reproduces the same contributions.
 */
export function foldEvent(
  state: WindowState,
  event: ClickEvent,
  eventMs: number,
  position: string,
  flushAtBytes = DEFAULT_FLUSH_AT_BYTES,
): boolean {
  const windowMs = state.ws * 1000;
  const w = (Math.floor(eventMs / windowMs) * windowMs) / 1000;
  const key = `${w}|${event.user_id}`;
  const second = Math.floor(eventMs / 1000);
  let entry = state.entries[key];
  if (entry === undefined) {
    entry = { u: event.user_id, w, n: [0, 0, 0, 0], r: 0, f: second, l: second, s: [], p: [] };
    state.entries[key] = entry;
    state.bytes += ENTRY_BASE_BYTES + 2 * jsonStringBytes(event.user_id);
  } else {
    if (second < entry.f) entry.f = second;
    if (second > entry.l) entry.l = second;
  }
  entry.n[TYPE_INDEX[event.event_type]]++;
  if (event.event_type === 'purchase') entry.r += Math.round(event.price * 100);
  const session = event.user_session;
  if (session !== null && !entry.s.includes(session)) {
    entry.s.push(session);
    state.bytes += jsonStringBytes(session) + 1;
  }
  if (!entry.p.includes(event.product_id)) {
    entry.p.push(event.product_id);
    state.bytes += jsonStringBytes(event.product_id) + 1;
  }
  if (state.first === null) state.first = position;
  state.last = position;
  return state.bytes >= flushAtBytes;
}

/**
 * Deterministic id of one contribution: the source (shard), the position range it covers, the user
 * and the window. The same records folded from the same state always yield the same id, so DynamoDB
 * can refuse a second merge of it.
 */
export function contributionId(
  source: string,
  first: string,
  last: string,
  userId: string,
  windowStart: string,
): string {
  return createHash('sha256')
    .update(`${source}\n${first}\n${last}\n${userId}\n${windowStart}`)
    .digest('base64url')
    .slice(0, 22);
}

/** The state's entries as partials, and the state emptied (ready for the next segment). */
export function takePartials(state: WindowState, source: string): UserWindowPartial[] {
  const { first, last } = state;
  if (first === null || last === null) return [];
  const partials: UserWindowPartial[] = [];
  for (const entry of Object.values(state.entries)) {
    const windowStart = toIsoSeconds(entry.w * 1000);
    const [view, cart, removeFromCart, purchase] = entry.n;
    partials.push({
      user_id: entry.u,
      window_start: windowStart,
      window_seconds: state.ws,
      contribution_id: contributionId(source, first, last, entry.u, windowStart),
      view_count: view,
      cart_count: cart,
      remove_from_cart_count: removeFromCart,
      purchase_count: purchase,
      total_count: view + cart + removeFromCart + purchase,
      sessions: entry.s,
      products: entry.p,
      revenue: entry.r / 100,
      first_event_time: toIsoSeconds(entry.f * 1000),
      last_event_time: toIsoSeconds(entry.l * 1000),
    });
  }
  state.first = null;
  state.last = null;
  state.bytes = STATE_BASE_BYTES;
  state.entries = {};
  return partials;
}

/** A merged (user, window) with its sets, as DynamoDB holds it. */
export interface MergedWindow extends Omit<UserWindowTotal, 'distinct_sessions' | 'distinct_products'> {
  sessions: Set<string>;
  products: Set<string>;
  contributionIds: Set<string>;
}

/**
 * Merges partials exactly as the DynamoDB update does (a contribution id merges once), in memory:
 * the reference the integration tests and `verify` compare DynamoDB against.
 */
export function mergePartials(partials: Iterable<UserWindowPartial>): Map<string, MergedWindow> {
  const merged = new Map<string, MergedWindow>();
  for (const partial of partials) {
    const key = `${partial.user_id}|${partial.window_start}`;
    let total = merged.get(key);
    if (total === undefined) {
      total = {
        user_id: partial.user_id,
        window_start: partial.window_start,
        window_seconds: partial.window_seconds,
        view_count: 0,
        cart_count: 0,
        remove_from_cart_count: 0,
        purchase_count: 0,
        total_count: 0,
        revenue: 0,
        first_event_time: partial.first_event_time,
        last_event_time: partial.last_event_time,
        contributions: 0,
        sessions: new Set(),
        products: new Set(),
        contributionIds: new Set(),
      };
      merged.set(key, total);
    }
    if (total.contributionIds.has(partial.contribution_id)) continue;
    total.contributionIds.add(partial.contribution_id);
    total.contributions++;
    total.view_count += partial.view_count;
    total.cart_count += partial.cart_count;
    total.remove_from_cart_count += partial.remove_from_cart_count;
    total.purchase_count += partial.purchase_count;
    total.total_count += partial.total_count;
    total.revenue = Math.round((total.revenue + partial.revenue) * 100) / 100;
    if (partial.first_event_time < total.first_event_time) total.first_event_time = partial.first_event_time;
    if (partial.last_event_time > total.last_event_time) total.last_event_time = partial.last_event_time;
    for (const session of partial.sessions) total.sessions.add(session);
    for (const product of partial.products) total.products.add(product);
  }
  return merged;
}

export function toUserWindowTotal(merged: MergedWindow): UserWindowTotal {
  const { sessions, products, contributionIds: _ids, ...rest } = merged;
  return { ...rest, distinct_sessions: sessions.size, distinct_products: products.size };
}

/** Aggregates a whole event list in one pass: the expected totals for tests and `verify`. */
export function aggregateEvents(
  events: Iterable<ClickEvent>,
  windowSeconds = DEFAULT_WINDOW_SECONDS,
): Map<string, MergedWindow> {
  const state = emptyWindowState(windowSeconds);
  let position = 0;
  const partials: UserWindowPartial[] = [];
  for (const event of events) {
    position++;
    if (foldEvent(state, event, Date.parse(event.event_time), String(position))) {
      partials.push(...takePartials(state, 'reference'));
    }
  }
  partials.push(...takePartials(state, 'reference'));
  return mergePartials(partials);
}

// ---------------------------------------------------------------------------------------------------
// Reading stream records

export const MALFORMED_REASONS = ['bad_json', 'not_an_object', 'missing_field', 'bad_field'] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

export type EventReadResult =
  | { ok: true; event: EventRecord; eventMs: number }
  | { ok: false; reason: MalformedReason; detail: string };

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function bad(reason: MalformedReason, detail: string): EventReadResult {
  return { ok: false, reason, detail };
}

function idField(record: Record<string, unknown>, name: string, nullable: boolean): string | null | EventReadResult {
  const value = record[name];
  if (value === undefined) return bad('missing_field', `${name} is missing`);
  if (value === null && nullable) return null;
  if (typeof value !== 'string' || value === '') return bad('bad_field', `${name} is not a non-empty string`);
  if (value.length > MAX_ID_LENGTH) return bad('bad_field', `${name} is longer than ${MAX_ID_LENGTH}`);
  return value;
}

/**
 * Validates one events-stream record body (the producer's EventRecord JSON). Hand-written rather than
 * a schema library: it runs once per record on the aggregator's hot path.
 */
export function readEventRecord(json: string): EventReadResult {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return bad('bad_json', 'record data is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bad('not_an_object', 'record data is not a JSON object');
  }
  const record = value as Record<string, unknown>;
  const time = record.event_time;
  if (time === undefined) return bad('missing_field', 'event_time is missing');
  if (typeof time !== 'string' || !ISO_SECONDS.test(time)) return bad('bad_field', 'event_time is not ISO-8601 UTC');
  const eventMs = Date.parse(time);
  if (!Number.isFinite(eventMs)) return bad('bad_field', 'event_time is not a valid time');
  const type = record.event_type;
  if (type === undefined) return bad('missing_field', 'event_type is missing');
  if (typeof type !== 'string' || !isEventType(type)) return bad('bad_field', 'event_type is not a known type');
  const price = record.price;
  if (price === undefined) return bad('missing_field', 'price is missing');
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
    return bad('bad_field', 'price is not a non-negative number');
  }
  for (const [name, nullable] of ID_FIELDS) {
    const checked = idField(record, name, nullable);
    if (checked !== null && typeof checked === 'object') return checked;
  }
  return { ok: true, event: record as unknown as EventRecord, eventMs };
}

const ID_FIELDS: ReadonlyArray<readonly [string, boolean]> = [
  ['user_id', false],
  ['product_id', false],
  ['category_id', false],
  ['user_session', true],
];
