/**
 * The clickstream event: the Kaggle "eCommerce behavior data from multi category store" row, typed.
 *
 * Pure code: no AWS SDK, no process.env. Producer, consumers, verify and analytics all use this one
 * definition of what a valid event is.
 */

/** The exact CSV header of the Kaggle files, in order. */
export const CSV_COLUMNS = [
  'event_time',
  'event_type',
  'product_id',
  'category_id',
  'category_code',
  'brand',
  'price',
  'user_id',
  'user_session',
] as const;

export const CSV_HEADER_LINE = CSV_COLUMNS.join(',');

export const EVENT_TYPES = ['view', 'cart', 'remove_from_cart', 'purchase'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return value === 'view' || value === 'cart' || value === 'remove_from_cart' || value === 'purchase';
}

/**
 * One accepted event. Ids stay strings: category_id is a 19-digit number above 2^53, and product and
 * user ids are compared, never computed with.
 */
export interface ClickEvent {
  /** ISO-8601 UTC, second precision: `2019-10-01T00:00:00Z`. */
  event_time: string;
  event_type: EventType;
  product_id: string;
  category_id: string;
  /** Empty in about a third of real rows. */
  category_code: string | null;
  /** Empty in about 14% of real rows. */
  brand: string | null;
  price: number;
  user_id: string;
  /** A few real rows have none. */
  user_session: string | null;
}

/** The record body the producer puts on the events stream. */
export interface EventRecord extends ClickEvent {
  /** When the producer sent it (ISO-8601), so consumers can measure end-to-end latency. */
  replayed_at: string;
}

export const REJECT_REASONS = [
  'column_count',
  'bad_time',
  'bad_number',
  'unknown_event_type',
  'empty_user_id',
  'invalid_utf8',
  'oversize',
  // Rows the CSV splitter itself cannot split, e.g. a quote that is never closed (set by the producer).
  'malformed_csv',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type ParseResult =
  | { ok: true; event: ClickEvent; eventMs: number }
  | { ok: false; reason: RejectReason; detail: string };

/** A Kinesis record is at most 1 MiB including its partition key; a row this long cannot be sent. */
export const MAX_ROW_BYTES = 1024 * 1024 - 256;

const DIGITS = /^[0-9]{1,20}$/;
const KAGGLE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC$/;

/**
 * Parses `2019-10-01 00:00:00 UTC` (the Kaggle format) to epoch milliseconds, or NaN.
 * Rejects impossible dates (Feb 30) rather than letting Date roll them over.
 */
export function parseKaggleTime(text: string): number {
  const m = KAGGLE_TIME.exec(text);
  if (!m) return Number.NaN;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return Number.NaN;
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  if (new Date(ms).getUTCDate() !== d) return Number.NaN;
  return ms;
}

/** `2019-10-01T00:00:00Z` → `2019-10-01 00:00:00 UTC`. */
export function toKaggleTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Epoch ms → `2019-10-01T00:00:00Z` (second precision, the form events carry). */
export function toIsoSeconds(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}Z`;
}

// Only valid times are remembered, so a cache hit is a valid time.
const lastTime: { text: string | undefined; ms: number; iso: string } = { text: undefined, ms: 0, iso: '' };

/**
 * Validates and types one CSV row (already split into fields). `byteLength` is the row's size when
 * known, to reject rows that could never fit a Kinesis record.
 */
export function parseRow(fields: readonly string[], byteLength = 0): ParseResult {
  if (fields.length !== CSV_COLUMNS.length) {
    return { ok: false, reason: 'column_count', detail: `expected 9 columns, got ${fields.length}` };
  }
  if (byteLength > MAX_ROW_BYTES) {
    return { ok: false, reason: 'oversize', detail: `row is ${byteLength} bytes` };
  }
  const [time, type, productId, categoryId, categoryCode, brand, priceText, userId, session] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  for (const field of fields) {
    // csv-parse decodes invalid UTF-8 to U+FFFD; the source never contains that character on purpose.
    if (field.includes('\uFFFD')) return { ok: false, reason: 'invalid_utf8', detail: 'invalid UTF-8 bytes' };
  }
  // Source files are in time order with hundreds of events per second, so consecutive rows mostly share
  // event_time: remembering the last one halves the cost of typing a row (the replay CPU path's budget).
  if (time !== lastTime.text) {
    const ms = parseKaggleTime(time);
    if (Number.isNaN(ms)) return { ok: false, reason: 'bad_time', detail: `event_time ${clip(time)}` };
    lastTime.text = time;
    lastTime.ms = ms;
    lastTime.iso = toIsoSeconds(ms);
  }
  const eventMs = lastTime.ms;
  if (!isEventType(type)) {
    return { ok: false, reason: 'unknown_event_type', detail: `event_type ${clip(type)}` };
  }
  if (userId === '') return { ok: false, reason: 'empty_user_id', detail: 'user_id is empty' };
  if (!DIGITS.test(userId)) return { ok: false, reason: 'bad_number', detail: `user_id ${clip(userId)}` };
  if (!DIGITS.test(productId)) {
    return { ok: false, reason: 'bad_number', detail: `product_id ${clip(productId)}` };
  }
  if (!DIGITS.test(categoryId)) {
    return { ok: false, reason: 'bad_number', detail: `category_id ${clip(categoryId)}` };
  }
  const price = priceText === '' ? Number.NaN : Number(priceText);
  if (!Number.isFinite(price) || price < 0) {
    return { ok: false, reason: 'bad_number', detail: `price ${clip(priceText)}` };
  }
  return {
    ok: true,
    eventMs,
    event: {
      event_time: lastTime.iso,
      event_type: type,
      product_id: productId,
      category_id: categoryId,
      category_code: categoryCode === '' ? null : categoryCode,
      brand: brand === '' ? null : brand,
      price,
      user_id: userId,
      user_session: session === '' ? null : session,
    },
  };
}

/** The fields of an event in CSV column order, for writing it back out (verify, rejects). */
export function eventToFields(event: ClickEvent): string[] {
  return [
    toKaggleTime(Date.parse(event.event_time)),
    event.event_type,
    event.product_id,
    event.category_id,
    event.category_code ?? '',
    event.brand ?? '',
    event.price.toFixed(2),
    event.user_id,
    event.user_session ?? '',
  ];
}

function clip(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
