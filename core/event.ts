/**
 * The clickstream event: the Kaggle "eCommerce behavior data from multi category store" row, typed.
 *
 * Pure code: no AWS SDK, no process.env. Producer, consumers, verify and analytics all use this one
 * definition of what a valid event is.
 */
import { createHash } from 'node:crypto';

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
  /**
   * The event's identity (eventId below): the same source row always gets the same id, so an event a
   * resumed producer sends again is recognised downstream and counted once.
   */
  event_id: string;
  /** When the producer sent it (ISO-8601), so consumers can measure end-to-end latency. */
  replayed_at: string;
}

/**
 * Event ids are `<source tag><line>`: the tag names the source's content (sourceTag), the line is the
 * row's last line in the source, in base36. Compact on purpose: every id is stored once per event in
 * the fold state, in the DynamoDB item of its (user, window) and in the lake. For the Kaggle files
 * (42 million rows, lines below 36^5) an id is 8 + 5 = 13 characters.
 *
 * The tag is 48 bits of a SHA-256: with a thousand different sources replayed into one lake, the chance
 * that two share a tag (and so would count each other's rows at the same line as one) is about 2e-9.
 */
export const SOURCE_TAG_LENGTH = 8;
/** Ids longer than this, or with characters outside [0-9A-Za-z_-], are rejected as malformed. */
export const MAX_EVENT_ID_LENGTH = 64;
const EVENT_ID = /^[0-9A-Za-z_-]{1,64}$/;

export function isEventId(value: unknown): value is string {
  return typeof value === 'string' && EVENT_ID.test(value);
}

/**
 * The tag of a source, from what identifies its content: the first bytes of the stored object and its
 * size (producer/checkpoint.ts reads them). Content, not location: the same file replayed from disk or
 * from S3 gets the same ids, and a different file written to the same key gets new ones.
 */
export function sourceTag(head: Uint8Array, size: number): string {
  const digest = createHash('sha256').update(`${size}\n`).update(head).digest('base64url');
  return digest.slice(0, SOURCE_TAG_LENGTH);
}

export function eventId(tag: string, line: number): string {
  return tag + line.toString(36);
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

/**
 * Parses `2019-10-01 00:00:00 UTC` (the Kaggle format) to epoch milliseconds, or NaN.
 * Rejects impossible dates (Feb 30) rather than letting Date roll them over, and years before 1000
 * (Date.UTC would read `0019` as 1919). Reads character codes instead of a RegExp and a Date: the
 * replay CPU path types every row, and this was a third of its cost.
 */
export function parseKaggleTime(text: string): number {
  if (text.length !== 23 || !text.endsWith(' UTC')) return Number.NaN;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32) return Number.NaN;
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return Number.NaN;
  const y = digits(text, 0, 4);
  const mo = digits(text, 5, 2);
  const d = digits(text, 8, 2);
  const h = digits(text, 11, 2);
  const mi = digits(text, 14, 2);
  const s = digits(text, 17, 2);
  if (y < 1000 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return Number.NaN;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (mo === 2 && leap ? 29 : (DAYS_IN_MONTH[mo - 1] as number))) return Number.NaN;
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The decimal value of `length` ASCII digits at `start`; NaN when any is not a digit (NaN fails every check). */
function digits(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const code = text.charCodeAt(i) - 48;
    if (code < 0 || code > 9) return Number.NaN;
    value = value * 10 + code;
  }
  return value;
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
    // The same instant as toIsoSeconds(ms), cut from the validated text instead of formatted again.
    lastTime.iso = `${time.slice(0, 10)}T${time.slice(11, 19)}Z`;
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
