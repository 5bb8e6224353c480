/**
 * The window fold: events → per-(user, event-time window) partial aggregates, carried as Lambda
 * tumbling-window state between invocations and emitted as UserWindowPartial with deterministic
 * contribution ids. Entries keep the ids of their events, not counts, so every merge downstream is a
 * union and an event that arrives twice (a resumed producer) counts once.
 *
 * Pure code: no AWS SDK, no process.env. The state is plain JSON because Lambda serializes it between
 * invocations; the fold mutates it in place so an invocation pays no conversion per record.
 */
import { hash } from 'node:crypto';
import {
  addPartial,
  DEFAULT_WINDOW_SECONDS,
  emptyMergedWindow,
  type MergedWindow,
  purchaseEntry,
  totalOf,
  type UserWindowPartial,
  type UserWindowTotal,
} from './aggregate.ts';
import {
  type ClickEvent,
  type EventRecord,
  isEventId,
  isEventType,
  SOURCE_TAG_LENGTH,
  toIsoSeconds,
} from './event.ts';

export type { MergedWindow } from './aggregate.ts';

/** AWS: tumbling-window state is at most 1 MB per shard; beyond it Lambda terminates the window early. */
export const LAMBDA_STATE_LIMIT_BYTES = 1024 * 1024;
/**
 * Flush well before the limit: one more record adds at most a few hundred bytes (ids are capped below),
 * and partials merge exactly anyway, so an early flush costs only an extra DynamoDB write per user.
 * Every event adds its id (about 15 bytes), so a shard's state holds some 50,000 events at most.
 */
export const DEFAULT_FLUSH_AT_BYTES = 800 * 1024;
/** AWS: TumblingWindowInSeconds ≤ 900. */
export const MAX_TUMBLING_WINDOW_SECONDS = 900;
/** Longer ids are rejected as malformed: they would bloat state and DynamoDB items (400 KB limit). */
export const MAX_ID_LENGTH = 256;

/** One (user, window) accumulator inside the state. Short keys: state size is capped at 1 MB. */
export interface WindowEntry {
  /** user_id */
  u: string;
  /** window start, epoch seconds */
  w: number;
  /**
   * Event ids in EVENT_TYPES order: view, cart, remove_from_cart, purchase (purchases as
   * `<id>:<cents>`). Ids, not counts: a merge of ids is idempotent per event. A view, cart or removal
   * whose id is the state's tag plus a line is kept as the line number (see compactLine).
   */
  e: [Array<number | string>, Array<number | string>, Array<number | string>, string[]];
  /** first and last event time, epoch seconds */
  f: number;
  l: number;
  /** distinct sessions and products */
  s: string[];
  p: string[];
}

export interface WindowState {
  /** 2 since entries hold event ids instead of counts. */
  v: 2;
  /** Window length the entries were folded with. */
  ws: number;
  /** Positions (sequence numbers) of the first and last record folded since the last flush. */
  first: string | null;
  last: string | null;
  /** Upper estimate of JSON.stringify(state) in UTF-8 bytes, kept incrementally. */
  bytes: number;
  /** The source tag of the first producer id folded: ids with it are kept as their line numbers. */
  t: string | null;
  /** Keyed by `${w}|${u}`. */
  entries: Record<string, WindowEntry>;
}

// `{"v":2,"ws":…,"first":"<seq>","last":"<seq>","bytes":…,"t":"<tag>","entries":{}}` with 64-char positions.
const STATE_BASE_BYTES = 256;
// `"<w>|<u>":{"u":"<u>","w":…,"e":[[],[],[],[]],"f":…,"l":…,"s":[],"p":[]},` without the two user ids.
const ENTRY_BASE_BYTES = 160;

export function emptyWindowState(windowSeconds: number): WindowState {
  return { v: 2, ws: windowSeconds, first: null, last: null, bytes: STATE_BASE_BYTES, t: null, entries: {} };
}

/** Accepts what Lambda hands back (`{}` on the first invoke of a window, or our own state). */
export function isWindowState(value: unknown): value is WindowState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<WindowState>;
  return (
    state.v === 2 &&
    typeof state.ws === 'number' &&
    typeof state.entries === 'object' &&
    state.entries !== null
  );
}

/** The state layout before entries held event ids: counts per type and revenue in cents. */
interface CountingState {
  v: 1;
  ws: number;
  first: string | null;
  last: string | null;
  entries: Record<
    string,
    {
      u: string;
      w: number;
      n: [number, number, number, number];
      r: number;
      f: number;
      l: number;
      s: string[];
      p: string[];
    }
  >;
}

/**
 * A state written by the counting fold (layout 1) as an id-keeping one, or undefined for anything else.
 * A deployment in the middle of a tumbling window hands the new code the old code's state; dropping it
 * would lose its events. Its counts become synthetic ids `v1-<hash of the state's position range>-<type
 * letter><n>`, revenue rides on the first purchase: a retry hands back the same state and gets the same
 * ids, so the merge stays idempotent.
 */
export function upgradeWindowState(value: unknown): WindowState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const old = value as Partial<CountingState>;
  if (old.v !== 1 || typeof old.ws !== 'number' || typeof old.entries !== 'object' || old.entries === null)
    return undefined;
  const prefix = `v1-${hash('sha256', `${old.first}\n${old.last}`, 'base64url').slice(0, 8)}-`;
  const state = emptyWindowState(old.ws);
  state.first = old.first ?? null;
  state.last = old.last ?? null;
  for (const [key, entry] of Object.entries(old.entries)) {
    const ids = (letter: string, count: number) =>
      Array.from({ length: count }, (_, k) => `${prefix}${letter}${k}`);
    state.entries[key] = {
      u: entry.u,
      w: entry.w,
      e: [
        ids('v', entry.n[0]),
        ids('c', entry.n[1]),
        ids('r', entry.n[2]),
        ids('p', entry.n[3]).map((id, k) => `${id}:${k === 0 ? entry.r : 0}`),
      ],
      f: entry.f,
      l: entry.l,
      s: entry.s,
      p: entry.p,
    };
  }
  state.bytes = STATE_BASE_BYTES + new TextEncoder().encode(JSON.stringify(state.entries)).length;
  return state;
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
 * The line of a producer id `<tag><line in base36>` (core/event.ts eventId) whose tag is the state's,
 * or -1. The first such id sets the state's tag. Kept as a number, an id costs the state its decimal
 * digits instead of 16 bytes of string, so a shard's state holds about twice the events before it
 * must flush (every flush splits its users' windows into more partials, each a DynamoDB write), and
 * the entry arrays hold small integers instead of pointers to strings the garbage collector must
 * trace. Only ids that print back exactly are kept so: lower-case base36 without leading zeros, at
 * most 10 digits (below 2^53).
 */
function compactLine(state: WindowState, id: string): number {
  const length = id.length;
  if (length <= SOURCE_TAG_LENGTH || length > SOURCE_TAG_LENGTH + 10) return -1;
  if (id.charCodeAt(SOURCE_TAG_LENGTH) === 48 && length > SOURCE_TAG_LENGTH + 1) return -1;
  let line = 0;
  for (let i = SOURCE_TAG_LENGTH; i < length; i++) {
    const c = id.charCodeAt(i);
    if (c >= 48 && c <= 57) line = line * 36 + (c - 48);
    else if (c >= 97 && c <= 122) line = line * 36 + (c - 87);
    else return -1;
  }
  const tag = state.t;
  if (tag === null) state.t = id.slice(0, SOURCE_TAG_LENGTH);
  else if (!id.startsWith(tag)) return -1;
  return line;
}

/** Decimal digits of a non-negative integer below 2^53: its length in JSON. Lines mostly have 4 to 8. */
function decimalDigits(n: number): number {
  if (n < 1e4) return n < 10 ? 1 : n < 100 ? 2 : n < 1e3 ? 3 : 4;
  if (n < 1e8) return n < 1e5 ? 5 : n < 1e6 ? 6 : n < 1e7 ? 7 : 8;
  let digits = 9;
  for (let rest = n; rest >= 1e9; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** An id array of the state as the ids it names. */
function expandIds(ids: ReadonlyArray<number | string>, tag: string | null): string[] {
  const out = new Array<string>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number | string;
    out[i] = typeof id === 'number' ? `${tag}${id.toString(36)}` : id;
  }
  return out;
}

/** A state entry with in-memory sets beside its arrays, built once per invocation, never serialized. */
interface IndexedEntry {
  entry: WindowEntry;
  sessions: Set<string> | undefined;
  products: Set<string> | undefined;
}

/**
 * Lookup structures over one state's entries. The state stays plain JSON (Lambda serializes it), so the
 * index lives beside it, keyed by the state object and valid while `state.entries` is the same object
 * (takePartials replaces it, and a state Lambda hands back is a fresh object). It saves building a
 * `${w}|${u}` key string per event, and keeps distinct-id checks O(1) for users (bots) with hundreds of
 * sessions or products in a window, where Array.includes would make the fold quadratic.
 */
interface FoldIndex {
  entries: Record<string, WindowEntry>;
  windows: Map<number, Map<string, IndexedEntry>>;
  lastWindow: number;
  lastUsers: Map<string, IndexedEntry> | undefined;
}

const indexes = new WeakMap<WindowState, FoldIndex>();

/** Up to this many ids a linear scan is cheaper than a Set (and most entries never get one). */
const SET_THRESHOLD = 16;

function setOf(ids: string[]): Set<string> | undefined {
  return ids.length > SET_THRESHOLD ? new Set(ids) : undefined;
}

function indexOf(state: WindowState): FoldIndex {
  let index = indexes.get(state);
  if (index !== undefined && index.entries === state.entries) return index;
  index = { entries: state.entries, windows: new Map(), lastWindow: Number.NaN, lastUsers: undefined };
  for (const key in state.entries) {
    const entry = state.entries[key] as WindowEntry;
    let users = index.windows.get(entry.w);
    if (users === undefined) {
      users = new Map();
      index.windows.set(entry.w, users);
    }
    users.set(entry.u, { entry, sessions: setOf(entry.s), products: setOf(entry.p) });
  }
  indexes.set(state, index);
  return index;
}

/**
 * Folds one accepted event into the state. Returns true when the state has reached `flushAtBytes`:
 * the caller then emits the partials and starts a fresh state. Deciding this per record (never per
 * batch) makes the flush points, and so the contribution ids, independent of how Lambda batched the
 * records: a retried or bisected batch reproduces the same contributions.
 *
 * `eventId` names the event in the merge (the record's event_id); by default its position, for callers
 * whose events are all distinct (verify's one-pass fold of the source). Both are printable ASCII that
 * JSON does not escape (core/event.ts isEventId; positions are digits and `/`), so an id costs the state
 * its length plus quotes and comma, counted without scanning it.
 */
export function foldEvent(
  state: WindowState,
  event: ClickEvent,
  eventMs: number,
  position: string,
  flushAtBytes = DEFAULT_FLUSH_AT_BYTES,
  eventId = position,
): boolean {
  const index = indexOf(state);
  // Integer arithmetic: the same window start as flooring the instant to the window in milliseconds.
  const w = Math.floor(eventMs / (state.ws * 1000)) * state.ws;
  let users = index.lastUsers;
  if (w !== index.lastWindow || users === undefined) {
    users = index.windows.get(w);
    if (users === undefined) {
      users = new Map();
      index.windows.set(w, users);
    }
    index.lastWindow = w;
    index.lastUsers = users;
  }
  const userId = event.user_id;
  const second = Math.floor(eventMs / 1000);
  let indexed = users.get(userId);
  if (indexed === undefined) {
    const entry: WindowEntry = { u: userId, w, e: [[], [], [], []], f: second, l: second, s: [], p: [] };
    state.entries[`${w}|${userId}`] = entry;
    state.bytes += ENTRY_BASE_BYTES + 2 * jsonStringBytes(userId);
    indexed = { entry, sessions: undefined, products: undefined };
    users.set(userId, indexed);
  }
  const entry = indexed.entry;
  if (second < entry.f) entry.f = second;
  if (second > entry.l) entry.l = second;
  const type = event.event_type;
  if (type === 'purchase') {
    // Rare enough to keep whole, with the price the merge sums.
    const purchase = purchaseEntry(eventId, event.price);
    entry.e[3].push(purchase);
    state.bytes += purchase.length + 3;
  } else {
    const ids = entry.e[type === 'view' ? 0 : type === 'cart' ? 1 : 2];
    const line = compactLine(state, eventId);
    if (line >= 0) {
      ids.push(line);
      state.bytes += decimalDigits(line) + 1;
    } else {
      ids.push(eventId);
      state.bytes += eventId.length + 3;
    }
  }
  const session = event.user_session;
  if (session !== null) {
    const sessions = indexed.sessions;
    if (sessions === undefined ? !entry.s.includes(session) : !sessions.has(session)) {
      entry.s.push(session);
      if (sessions !== undefined) sessions.add(session);
      else if (entry.s.length > SET_THRESHOLD) indexed.sessions = new Set(entry.s);
      state.bytes += jsonStringBytes(session) + 1;
    }
  }
  const product = event.product_id;
  const products = indexed.products;
  if (products === undefined ? !entry.p.includes(product) : !products.has(product)) {
    entry.p.push(product);
    if (products !== undefined) products.add(product);
    else if (entry.p.length > SET_THRESHOLD) indexed.products = new Set(entry.p);
    state.bytes += jsonStringBytes(product) + 1;
  }
  if (state.first === null) state.first = position;
  state.last = position;
  return state.bytes >= flushAtBytes;
}

/**
 * Deterministic id of one flush's contributions: the source (shard) and the position range it covers.
 * Each (user, window) gets at most one partial per flush, so the id is unique within a (user, window).
 * Exactness no longer hangs on it (merges are unions of event ids), but it still names where a partial
 * came from, and counts how many partials a window merged. One id per flush, not per partial: the
 * lake's contribution_id column then holds a few distinct values per file, which Parquet
 * dictionary-encodes to almost nothing.
 */
export function contributionId(source: string, first: string, last: string): string {
  // One-shot hash: createHash's object setup costs more than the digest.
  return hash('sha256', `${source}\n${first}\n${last}`, 'base64url').slice(0, 22);
}

/** The state's entries as partials, and the state emptied (ready for the next segment). */
export function takePartials(state: WindowState, source: string): UserWindowPartial[] {
  const { first, last } = state;
  if (first === null || last === null) return [];
  const partials: UserWindowPartial[] = [];
  const contribution = contributionId(source, first, last);
  // Entries share a few window starts and event seconds: format each instant once per flush.
  const isoCache = new Map<number, string>();
  const iso = (seconds: number): string => {
    let text = isoCache.get(seconds);
    if (text === undefined) {
      text = toIsoSeconds(seconds * 1000);
      isoCache.set(seconds, text);
    }
    return text;
  };
  for (const key in state.entries) {
    const entry = state.entries[key] as WindowEntry;
    const e = entry.e;
    partials.push({
      user_id: entry.u,
      window_start: iso(entry.w),
      window_seconds: state.ws,
      contribution_id: contribution,
      view_ids: expandIds(e[0], state.t),
      cart_ids: expandIds(e[1], state.t),
      remove_from_cart_ids: expandIds(e[2], state.t),
      purchases: e[3],
      sessions: entry.s,
      products: entry.p,
      first_event_time: iso(entry.f),
      last_event_time: iso(entry.l),
    });
  }
  state.first = null;
  state.last = null;
  state.bytes = STATE_BASE_BYTES;
  state.entries = {};
  return partials;
}

/**
 * Merges partials exactly as the DynamoDB update does (a union of event ids, so an event or a partial
 * seen twice counts once), in memory: the reference the integration tests and `verify` compare
 * DynamoDB against.
 */
export function mergePartials(partials: Iterable<UserWindowPartial>): Map<string, MergedWindow> {
  const merged = new Map<string, MergedWindow>();
  for (const partial of partials) {
    const key = `${partial.user_id}|${partial.window_start}`;
    let total = merged.get(key);
    if (total === undefined) {
      total = emptyMergedWindow(
        partial.user_id,
        partial.window_start,
        partial.window_seconds,
        partial.first_event_time,
        partial.last_event_time,
      );
      merged.set(key, total);
    }
    addPartial(total, partial);
  }
  return merged;
}

export function toUserWindowTotal(merged: MergedWindow): UserWindowTotal {
  return totalOf(merged);
}

/** Aggregates a whole event list in one pass: the expected totals for tests and `verify`. */
export function aggregateEvents(
  events: Iterable<ClickEvent & { event_id?: string }>,
  windowSeconds = DEFAULT_WINDOW_SECONDS,
): Map<string, MergedWindow> {
  const state = emptyWindowState(windowSeconds);
  let position = 0;
  const partials: UserWindowPartial[] = [];
  for (const event of events) {
    position++;
    const at = String(position);
    if (foldEvent(state, event, Date.parse(event.event_time), at, undefined, event.event_id ?? at)) {
      partials.push(...takePartials(state, 'reference'));
    }
  }
  partials.push(...takePartials(state, 'reference'));
  return mergePartials(partials);
}

// ---------------------------------------------------------------------------------------------------
// Reading stream records

export const MALFORMED_REASONS = [
  'bad_json',
  'not_an_object',
  'missing_field',
  'bad_field',
  // A KPL aggregated record whose framing or checksum is broken (core/kpl.ts): none of its events is readable.
  'bad_aggregate',
] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

export type EventReadResult =
  | { ok: true; event: EventRecord; eventMs: number }
  | { ok: false; reason: MalformedReason; detail: string };

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function bad(reason: MalformedReason, detail: string): EventReadResult {
  return { ok: false, reason, detail };
}

/** Why an id field is invalid, or undefined when it is valid. */
function idProblem(value: unknown, name: string, nullable: boolean): EventReadResult | undefined {
  if (typeof value === 'string' && value !== '' && value.length <= MAX_ID_LENGTH) return undefined;
  if (value === undefined) return bad('missing_field', `${name} is missing`);
  if (value === null && nullable) return undefined;
  if (typeof value !== 'string' || value === '') return bad('bad_field', `${name} is not a non-empty string`);
  return bad('bad_field', `${name} is longer than ${MAX_ID_LENGTH}`);
}

// The minute of the last valid event_time and its instant. Records of a batch mostly share a minute,
// and the regex + Date.parse cost a quarter of the validation, so a time in the cached minute is read
// from its two second digits. Only a valid time's minute is cached (it starts as one), and never hour
// 24 (valid only as 24:00:00), so a hit is exactly a time Date.parse accepts, with the same instant.
let cachedMinute = '1970-01-01T00:00';
let cachedMinuteMs = 0;

/** Epoch ms of an ISO-8601 UTC time to the second (`2019-10-01T00:00:05Z`), or NaN. */
function eventTimeMs(time: string): number {
  if (time.length === 20 && time.startsWith(cachedMinute)) {
    const tens = time.charCodeAt(17) - 48;
    const ones = time.charCodeAt(18) - 48;
    if (
      time.charCodeAt(16) === 58 &&
      time.charCodeAt(19) === 90 &&
      tens >= 0 &&
      tens <= 5 &&
      ones >= 0 &&
      ones <= 9
    ) {
      return cachedMinuteMs + (tens * 10 + ones) * 1000;
    }
  }
  if (!ISO_SECONDS.test(time)) return Number.NaN;
  const ms = Date.parse(time);
  if (Number.isFinite(ms) && !time.startsWith('24', 11)) {
    cachedMinute = time.slice(0, 16);
    cachedMinuteMs = ms - Number(time.slice(17, 19)) * 1000;
  }
  return ms;
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
  if (typeof time !== 'string') return bad('bad_field', 'event_time is not ISO-8601 UTC');
  const eventMs = eventTimeMs(time);
  if (Number.isNaN(eventMs)) {
    return ISO_SECONDS.test(time)
      ? bad('bad_field', 'event_time is not a valid time')
      : bad('bad_field', 'event_time is not ISO-8601 UTC');
  }
  const type = record.event_type;
  if (type === undefined) return bad('missing_field', 'event_type is missing');
  if (typeof type !== 'string' || !isEventType(type))
    return bad('bad_field', 'event_type is not a known type');
  const price = record.price;
  if (price === undefined) return bad('missing_field', 'price is missing');
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
    return bad('bad_field', 'price is not a non-negative number');
  }
  const eventId = record.event_id;
  if (eventId === undefined) return bad('missing_field', 'event_id is missing');
  if (!isEventId(eventId)) return bad('bad_field', 'event_id is not 1-64 characters of [0-9A-Za-z_-]');
  // Unrolled (no loop over a field table): this is the per-record hot path.
  const problem =
    idProblem(record.user_id, 'user_id', false) ??
    idProblem(record.product_id, 'product_id', false) ??
    idProblem(record.category_id, 'category_id', false) ??
    idProblem(record.user_session, 'user_session', true);
  if (problem !== undefined) return problem;
  return { ok: true, event: record as unknown as EventRecord, eventMs };
}
