/**
 * Source data for the analytics tests: the real Kaggle sample when present, else a small synthetic CSV
 * with the same shape; plus user-activity partials built from it the way per-shard windows split them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { purchaseEntry, type UserWindowPartial } from '../../core/aggregate.ts';
import { type ClickEvent, CSV_HEADER_LINE, eventId, parseRow } from '../../core/event.ts';

/** An event with its id, as the producer puts it on the stream (without replayed_at). */
export type IdentifiedEvent = ClickEvent & { event_id: string };

/** Beside the repository; CLICKSTREAM_KAGGLE_SAMPLE names it for a checkout that lives elsewhere. */
export const KAGGLE_SAMPLE =
  process.env.CLICKSTREAM_KAGGLE_SAMPLE ??
  join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'kaggle-2019-oct-nov-heads.csv');

/** The source rows as raw CSV fields (the Kaggle files hold no quoted fields). */
export interface Source {
  label: string;
  csv: string;
  rows: string[][];
}

export function loadSource(): Source {
  // ANALYTICS_SYNTHETIC=1 exercises the fallback path on machines that do have the sample.
  if (existsSync(KAGGLE_SAMPLE) && !process.env.ANALYTICS_SYNTHETIC) {
    const csv = readFileSync(KAGGLE_SAMPLE, 'utf8');
    return { label: 'Kaggle sample', csv, rows: splitCsv(csv) };
  }
  const csv = syntheticCsv();
  return { label: 'synthetic', csv, rows: splitCsv(csv) };
}

function splitCsv(csv: string): string[][] {
  return csv
    .split('\n')
    .slice(1)
    .filter((line) => line !== '')
    .map((line) => line.split(','));
}

/** Three days (a Sunday, Monday, Tuesday), a few hundred users, funnels with carts, purchases and abandonments. */
function syntheticCsv(): string {
  const lines = [CSV_HEADER_LINE];
  const categories = [
    ['2053013555631882655', 'electronics.smartphone'],
    ['2053013554658804075', 'electronics.audio.headphone'],
    ['2053013558920217191', 'computers.notebook'],
    ['2232732093077520756', 'construction.tools.light'],
    ['2053013563810775923', ''],
    ['2053013565983425517', 'appliances.kitchen.refrigerators'],
  ] as const;
  const brands = ['samsung', 'apple', 'xiaomi', 'huawei', '', 'lenovo', 'acer'];
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const start = Date.UTC(2019, 9, 6, 0, 0, 0);
  for (let i = 0; i < 3000; i++) {
    const ms = start + Math.floor(random() * 3 * 86_400) * 1000;
    const time = `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    const user = 500_000_000 + Math.floor(random() * 300);
    const session = `s-${user}-${Math.floor(random() * 3)}`;
    const [categoryId, code] =
      categories[Math.floor(random() * random() * categories.length)] ?? categories[0];
    const brand = brands[Math.floor(random() * brands.length)] ?? '';
    const r = random();
    // acer is viewed and carted but never bought: the brand brands_needing_marketing must find.
    const type = r < 0.8 ? 'view' : r < 0.93 || brand === 'acer' ? 'cart' : 'purchase';
    const price = (random() * 500).toFixed(2);
    lines.push(
      [
        time,
        type,
        String(1_000_000 + Math.floor(random() * 50)),
        categoryId,
        code,
        brand,
        price,
        String(user),
        session,
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The source's events with the ids the producer would give them (line i + 2: after the header). */
export function parseEvents(source: Source): IdentifiedEvent[] {
  return source.rows.map((fields, i) => {
    const result = parseRow(fields);
    if (!result.ok) throw new Error(`fixture row rejected: ${result.detail}`);
    return { ...result.event, event_id: eventId('fixture0', i + 2) };
  });
}

const WINDOW_SECONDS = 60;

/**
 * Partials as two shards would emit them: the events of one user and window split by category
 * (the events stream's partition key), one partial per shard.
 */
export function partialsOf(events: readonly IdentifiedEvent[]): UserWindowPartial[] {
  const byKey = new Map<string, IdentifiedEvent[]>();
  for (const event of events) {
    const windowMs =
      Math.floor(Date.parse(event.event_time) / (WINDOW_SECONDS * 1000)) * WINDOW_SECONDS * 1000;
    const shard = Number(BigInt(event.category_id) % 2n);
    const key = `${shard}|${event.user_id}|${windowMs}`;
    const list = byKey.get(key) ?? [];
    list.push(event);
    byKey.set(key, list);
  }
  return [...byKey.entries()].map(([key, list]) => {
    const [shard, user, windowMs] = key.split('|') as [string, string, string];
    return partial(user, Number(windowMs), `shardId-00000000000${shard}`, list);
  });
}

export function partial(
  userId: string,
  windowMs: number,
  shard: string,
  events: readonly IdentifiedEvent[],
): UserWindowPartial {
  const ids = (type: string) => events.filter((e) => e.event_type === type).map((e) => e.event_id);
  const times = events.map((e) => e.event_time).sort();
  return {
    user_id: userId,
    window_start: `${new Date(windowMs).toISOString().slice(0, 19)}Z`,
    window_seconds: WINDOW_SECONDS,
    // As the aggregator's ids: one per flush (here, a shard's minute), shared by every user in it.
    contribution_id: `${shard}:${windowMs}`,
    view_ids: ids('view'),
    cart_ids: ids('cart'),
    remove_from_cart_ids: ids('remove_from_cart'),
    purchases: events
      .filter((e) => e.event_type === 'purchase')
      .map((e) => purchaseEntry(e.event_id, e.price)),
    sessions: [...new Set(events.flatMap((e) => (e.user_session ? [e.user_session] : [])))],
    products: [...new Set(events.map((e) => e.product_id))],
    first_event_time: times[0] ?? '',
    last_event_time: times.at(-1) ?? '',
  };
}

/**
 * `count` events of one type for one user inside one window, spread over the given sessions. Their ids
 * are the user's, numbered from `firstId`: two calls for one user name different events unless their
 * numbers overlap.
 */
export function botEvents(
  userId: string,
  windowMs: number,
  count: number,
  type: ClickEvent['event_type'],
  sessions: readonly string[],
  firstId = 0,
): IdentifiedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    event_id: `bot${userId}x${firstId + i}`,
    event_time: `${new Date(windowMs + (i % 60) * 1000).toISOString().slice(0, 19)}Z`,
    event_type: type,
    product_id: String(5_000_000 + i),
    category_id: '2053013555631882655',
    category_code: 'electronics.smartphone',
    brand: 'samsung',
    price: 100,
    user_id: userId,
    user_session: sessions[i % sessions.length] ?? null,
  }));
}
