/**
 * Synthetic Kaggle-shaped clickstream: sessions with a view → cart → purchase funnel, skewed category
 * and brand popularity, per-product prices, a daily and weekly rhythm of visits, rows in event-time
 * order, and injected bots (plus heavy but human shoppers) whose ids and behaviour go into a
 * ground-truth object, so a demo can score its alerts.
 *
 * Pure and deterministic: no I/O, no clock, no Math.random. The same config gives the same bytes.
 * Memory is bounded by the active-session pool and the bots, never by the number of events.
 */
import { CSV_HEADER_LINE, type EventType, toIsoSeconds, toKaggleTime } from './event.ts';
import type { AlertMetric } from './rules.ts';

export class SyntheticConfigError extends Error {
  override name = 'SyntheticConfigError';
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const SYNTHETIC_DEFAULTS = {
  events: 200_000,
  /** users default to events / this, about as many events per user as a couple of real sessions. */
  eventsPerUser: 40,
  bots: 12,
  /** heavy human shoppers default to one per this many bots (rounded up). */
  botsPerHeavyShopper: 3,
  seed: 1,
  start: '2019-10-01T00:00:00Z',
  /** Days of event time the normal traffic spans, unless a rate is given instead. */
  days: 7,
} as const;

/**
 * What a normal (non-bot) user never exceeds in any 60 s event-time window, sliding or tumbling.
 * These hold by construction, not by chance: at least 3 s between a user's events, at least 30 s of
 * checkout before every purchase, one open session per user and 20 s between a user's sessions.
 * Heavy shoppers keep them too. Alert thresholds above these levels cannot fire on generated normal
 * users in one minute.
 */
export const NORMAL_USER_BOUNDS = {
  windowSeconds: 60,
  maxEvents: 20,
  maxViews: 20,
  maxSessions: 3,
  maxPurchases: 2,
} as const;
export type NormalUserBounds = typeof NORMAL_USER_BOUNDS;

export interface BotKindInfo {
  kind: string;
  description: string;
  /** The alert metric (core/rules.ts) that shows the kind, taken over `horizonMinutes`. */
  signal: AlertMetric;
  horizonMinutes: number;
  /**
   * The bot reaches at least this value of `signal` over every `horizonMinutes` of aligned 60 s
   * windows inside its active span.
   */
  level: number;
  /** True when the bot never carts or purchases anything, anywhere in the data. */
  neverBuys: boolean;
  /** True when it keeps below every one-minute default rule in every minute: only a horizon shows it. */
  paced: boolean;
}

export const BOT_KINDS = [
  {
    kind: 'scraper',
    description:
      'crawls the catalogue: hundreds of views a minute, each of a different product, in one session',
    signal: 'total_count',
    horizonMinutes: 1,
    level: 200,
    neverBuys: true,
    paced: false,
  },
  {
    kind: 'window_shopper',
    description:
      'views products of a few categories at 45+ per minute for minutes on end, never carts or buys',
    signal: 'views_without_cart_or_purchase',
    horizonMinutes: 1,
    level: 40,
    neverBuys: true,
    paced: false,
  },
  {
    kind: 'session_hopper',
    description: 'opens a fresh session every one to three events: 12+ distinct sessions a minute',
    signal: 'distinct_sessions',
    horizonMinutes: 1,
    level: 10,
    neverBuys: false,
    paced: false,
  },
  {
    kind: 'purchase_burst',
    description: 'view, cart, purchase in quick succession: 6+ purchases a minute, mostly of top smartphones',
    signal: 'purchase_count',
    horizonMinutes: 1,
    level: 5,
    neverBuys: false,
    paced: false,
  },
  {
    kind: 'slow_crawler',
    description:
      'low and slow: 18 to 26 new products viewed every minute for two hours, one session, never a cart',
    signal: 'views_without_cart_or_purchase',
    horizonMinutes: 60,
    level: 18 * 60,
    neverBuys: true,
    paced: true,
  },
  {
    kind: 'slow_card_tester',
    description: 'buys two of the cheapest products every minute for half an hour (view, cart, purchase)',
    signal: 'purchase_count',
    horizonMinutes: 10,
    level: 20,
    neverBuys: false,
    paced: true,
  },
  {
    kind: 'cart_stuffer',
    description: 'views and carts 4 to 7 products a minute for 40 minutes and never buys one',
    signal: 'carts_without_purchase',
    horizonMinutes: 10,
    level: 40,
    neverBuys: false,
    paced: true,
  },
  {
    kind: 'slow_session_cycler',
    description: 'opens 2 or 3 fresh sessions a minute, a view or two each, for an hour and a half',
    signal: 'distinct_sessions',
    horizonMinutes: 60,
    level: 120,
    neverBuys: false,
    paced: true,
  },
] as const satisfies readonly BotKindInfo[];
export type BotKind = (typeof BOT_KINDS)[number]['kind'];

/** Heavy but human: long sessions of steady browsing, carts and the odd purchase. Never a bot. */
export const HEAVY_SHOPPER = {
  kind: 'heavy_shopper',
  description:
    'one session of 70 to 110 minutes: a view every 6 to 12 s, the first cart after 20 to 40 minutes of browsing, then a cart every few minutes and up to three purchases',
} as const;

export interface BotTruth {
  user_id: string;
  kind: BotKind;
  /** The active span (event time, minute-aligned, `end` exclusive). All of the bot's events fall inside it. */
  windows: Array<{ start: string; end: string }>;
  events: number;
  sessions: number;
  byType: Record<EventType, number>;
}

/** A heavy shopper: planned like a bot, scored as a normal user (an incident on one is a false alert). */
export interface HumanTruth extends Omit<BotTruth, 'kind'> {
  kind: typeof HEAVY_SHOPPER.kind;
}

/** The ground-truth file's format; bumped whenever a reader of the old one would misread the new. */
export const SYNTHETIC_TRUTH_FORMAT = 'clickstream-synthetic-truth/2';

/** The ground-truth file written next to the generated CSV. */
export interface SyntheticTruth {
  format: typeof SYNTHETIC_TRUTH_FORMAT;
  seed: number;
  events: number;
  users: number;
  start: string;
  /** Mean normal events per second of event time (the daily and weekly rhythm varies around it). */
  rate: number;
  normalUserBounds: NormalUserBounds;
  botKinds: BotKindInfo[];
  bots: BotTruth[];
  heavyShoppers: HumanTruth[];
}

export interface SyntheticConfig {
  events: number;
  /** Normal users in the pool; bots and heavy shoppers come on top with ids that never collide with them. */
  users: number;
  bots: number;
  heavyShoppers: number;
  seed: number;
  startMs: number;
  /** Mean normal events per second of event time; when absent, `days` sets the span instead. */
  rate?: number;
  days?: number;
}

export interface SyntheticInput {
  events?: number;
  users?: number;
  bots?: number;
  heavyShoppers?: number;
  seed?: number;
  start?: string;
  rate?: number;
  days?: number;
}

export function resolveSyntheticConfig(input: SyntheticInput = {}): SyntheticConfig {
  const events = wholeNumber(input.events ?? SYNTHETIC_DEFAULTS.events, 'events', 1);
  const users = wholeNumber(
    input.users ?? Math.max(1, Math.round(events / SYNTHETIC_DEFAULTS.eventsPerUser)),
    'users',
    1,
  );
  const bots = wholeNumber(input.bots ?? SYNTHETIC_DEFAULTS.bots, 'bots', 0);
  // Heavy shoppers' sessions last over an hour: by default only data that spans days gets them.
  const heavyShoppers = wholeNumber(
    input.heavyShoppers ??
      (input.rate === undefined ? Math.ceil(bots / SYNTHETIC_DEFAULTS.botsPerHeavyShopper) : 0),
    'heavy shoppers',
    0,
  );
  const seed = wholeNumber(input.seed ?? SYNTHETIC_DEFAULTS.seed, 'seed', 0);
  const startText = input.start ?? SYNTHETIC_DEFAULTS.start;
  const startMs = Date.parse(startText);
  if (!/^\d{4}-\d{2}-\d{2}/.test(startText) || Number.isNaN(startMs)) {
    throw new SyntheticConfigError(
      `start must be an ISO-8601 time, got "${startText}"`,
      'e.g. --start 2019-10-01T00:00:00Z',
    );
  }
  if (input.rate !== undefined && input.days !== undefined) {
    throw new SyntheticConfigError(
      'give a rate or a number of days, not both',
      'the span is events / rate, or the days given',
    );
  }
  const pace: Pick<SyntheticConfig, 'rate' | 'days'> = {};
  if (input.rate !== undefined) {
    if (!Number.isFinite(input.rate) || input.rate <= 0 || input.rate > 100_000) {
      throw new SyntheticConfigError(
        `rate must be a number of events per second in (0, 100000], got ${input.rate}`,
      );
    }
    pace.rate = input.rate;
  } else {
    const days = input.days ?? SYNTHETIC_DEFAULTS.days;
    if (!Number.isFinite(days) || days <= 0 || days > 366) {
      throw new SyntheticConfigError(`days must be a number in (0, 366], got ${days}`);
    }
    pace.days = days;
  }
  if (users + bots + heavyShoppers > USER_ID_SPACE) {
    throw new SyntheticConfigError(
      `users + bots + heavy shoppers must be at most ${USER_ID_SPACE}, got ${users + bots + heavyShoppers}`,
    );
  }
  return {
    events,
    users,
    bots,
    heavyShoppers,
    seed,
    startMs: Math.floor(startMs / 1000) * 1000,
    ...pace,
  };
}

function wholeNumber(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new SyntheticConfigError(`${name} must be a whole number ≥ ${min}, got ${value}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Randomness: sfc32 seeded through splitmix32, fast and identical on every platform.

class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    let state = (Math.floor(seed / 2 ** 32) ^ Math.imul(stream, 0x9e3779b1)) >>> 0;
    const mix = () => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix() ^ (seed >>> 0);
    this.b = mix();
    this.c = mix() ^ stream;
    this.d = mix();
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  uuid(): string {
    const hex = hex8(this.u32()) + hex8(this.u32()) + hex8(this.u32()) + hex8(this.u32());
    const variant = '89ab'[this.u32() & 3];
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20)}`;
  }
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** A 32-bit integer hash: product attributes follow from the product id, so they need no storage. */
function hash32(value: number, salt: number): number {
  let z =
    (Math.imul(value | 0, 0x9e3779b1) ^ Math.imul(Math.floor(value / 2 ** 32) | 0, 0x85ebca6b) ^ salt) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d);
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Zipf-like rank in [0, n): P(r) ∝ ln((r+2)/(r+1)) ≈ 1/(r+1), in O(1) from one uniform. */
function zipfRank(u: number, n: number): number {
  const r = Math.floor(Math.exp(u * Math.log(n + 1))) - 1;
  return r < 0 ? 0 : r >= n ? n - 1 : r;
}

// ---------------------------------------------------------------------------------------------------
// The catalogue: fixed across seeds, like a real shop's; behaviour varies with the seed.

interface Category {
  id: string;
  code: string;
  brands: readonly string[];
  productBase: number;
  products: number;
  logPriceLow: number;
  logPriceSpan: number;
  /** productPart of the top ranks, filled on first use; the catalogue is fixed, so it never goes stale. */
  cachedParts: Array<string | undefined>;
}

const BRANDS = {
  smartphone: ['samsung', 'apple', 'xiaomi', 'huawei', 'oppo', 'vivo', 'meizu', 'honor', 'nokia', 'realme'],
  electronics: ['samsung', 'apple', 'xiaomi', 'lg', 'sony', 'huawei', 'jbl', 'philips', 'acer', 'garmin'],
  computers: ['lenovo', 'hp', 'asus', 'acer', 'dell', 'msi', 'apple', 'logitech', 'canon', 'epson'],
  appliances: [
    'bosch',
    'samsung',
    'lg',
    'indesit',
    'beko',
    'philips',
    'redmond',
    'tefal',
    'polaris',
    'braun',
  ],
  apparel: ['nike', 'adidas', 'puma', 'reebok', 'respect', 'baden', 'rieker', 'wonderful'],
  furniture: ['brw', 'askona', 'sv-mebel', 'divan', 'lorena', 'dreamline'],
  kids: ['lego', 'hasbro', 'mattel', 'chicco', 'cybex', 'carrello'],
  auto: ['pioneer', 'kenwood', 'sho-me', 'mio', 'alpine'],
  construction: ['makita', 'bosch', 'dewalt', 'zubr', 'interskol', 'hammer'],
  sport: ['stels', 'forward', 'stern', 'nordway', 'cube'],
  generic: [
    'shiseido',
    'lucente',
    'runail',
    'irisk',
    'masura',
    'grattol',
    'kapous',
    'estel',
    'concept',
    'lovely',
    'cosmoprofi',
    'haruyama',
    'ingarden',
    'uno',
    'jessnail',
    'bpw.style',
  ],
} as const;

type BrandGroup = keyof typeof BRANDS;

/** Coded categories after the smartphone, roughly in the order of their share of real traffic. */
const CODED: ReadonlyArray<
  readonly [code: string, group: BrandGroup, low: number, high: number, products: number]
> = [
  ['computers.notebook', 'computers', 250, 2500, 900],
  ['electronics.video.tv', 'electronics', 150, 1800, 700],
  ['electronics.clocks', 'electronics', 20, 700, 1200],
  ['electronics.audio.headphone', 'electronics', 10, 350, 1100],
  ['appliances.kitchen.washer', 'appliances', 150, 900, 500],
  ['appliances.environment.vacuum', 'appliances', 50, 600, 600],
  ['appliances.kitchen.refrigerators', 'appliances', 200, 1600, 600],
  ['electronics.tablet', 'electronics', 100, 1200, 300],
  ['apparel.shoes', 'apparel', 20, 220, 1500],
  ['auto.accessories.player', 'auto', 30, 350, 300],
  ['furniture.living_room.sofa', 'furniture', 150, 1500, 400],
  ['computers.desktop', 'computers', 300, 2500, 300],
  ['appliances.kitchen.microwave', 'appliances', 50, 400, 250],
  ['electronics.telephone', 'electronics', 10, 90, 200],
  ['appliances.personal.hair_cutter', 'appliances', 10, 150, 300],
  ['appliances.iron', 'appliances', 15, 150, 250],
  ['kids.toys', 'kids', 5, 120, 1500],
  ['construction.tools.drill', 'construction', 30, 350, 400],
  ['computers.peripherals.printer', 'computers', 60, 700, 300],
  ['appliances.kitchen.kettle', 'appliances', 10, 120, 400],
  ['electronics.audio.acoustic', 'electronics', 20, 900, 400],
  ['sport.bicycle', 'sport', 150, 1300, 300],
  ['kids.carriage', 'kids', 80, 900, 250],
  ['appliances.environment.water_heater', 'appliances', 60, 500, 200],
  ['auto.accessories.videoregister', 'auto', 30, 300, 200],
  ['computers.components.videocards', 'computers', 150, 1500, 200],
  ['apparel.shoes.keds', 'apparel', 20, 150, 800],
  ['furniture.bedroom.bed', 'furniture', 100, 1200, 300],
  ['electronics.camera.photo', 'electronics', 100, 2000, 200],
  ['computers.peripherals.mouse', 'computers', 5, 120, 300],
  ['appliances.environment.air_conditioner', 'appliances', 200, 1200, 150],
  ['apparel.costume', 'apparel', 15, 200, 600],
  ['furniture.living_room.cabinet', 'furniture', 80, 800, 300],
  ['accessories.bag', 'generic', 10, 200, 500],
  ['country_yard.cultivator', 'construction', 100, 700, 80],
  ['medicine.tools.tonometer', 'generic', 15, 120, 80],
  ['stationery.cartrige', 'generic', 10, 80, 150],
];
const UNCODED_CATEGORIES = 160;

/** Shares of events by category group, as in the real October data. */
const SMARTPHONE_SHARE = 0.25;
const UNCODED_SHARE = 0.33;
/** The most popular products of a category always carry a brand; the rest lack one often enough for ~14%. */
const BRANDED_HEAD_RANKS = 10;
const TARGET_NO_BRAND_SHARE = 0.14;

const CATALOG_SEED = 20191001;

interface Catalog {
  smartphone: Category;
  coded: Category[];
  uncoded: Category[];
  all: Category[];
}

function buildCatalog(): Catalog {
  const rng = new Rng(CATALOG_SEED, 0xca7);
  const ids = new Set<string>();
  const digits = (n: number) => {
    let text = '';
    while (text.length < n) text += String(rng.u32() % 1_000_000).padStart(6, '0');
    return text.slice(0, n);
  };
  const uniqueId = (prefix: string) => {
    for (;;) {
      // 19 digits starting with 2: always above 2^53, like every real category_id.
      const id = prefix + digits(19 - prefix.length);
      if (!ids.has(id)) {
        ids.add(id);
        return id;
      }
    }
  };
  const all: Category[] = [];
  const make = (code: string, group: BrandGroup, low: number, high: number, products: number): Category => {
    const category: Category = {
      id: uniqueId(code ? '2053013' : '2'),
      code,
      brands: BRANDS[group],
      // Product ids: 7–8 digits, disjoint per category, stable per (category, popularity rank).
      productBase: 1_000_000 + all.length * 250_000,
      products,
      logPriceLow: Math.log(low),
      logPriceSpan: Math.log(high) - Math.log(low),
      cachedParts: [],
    };
    all.push(category);
    return category;
  };
  const smartphone = make('electronics.smartphone', 'smartphone', 80, 1500, 1200);
  const coded = CODED.map(([code, group, low, high, products]) => make(code, group, low, high, products));
  const uncoded: Category[] = [];
  for (let i = 0; i < UNCODED_CATEGORIES; i++) {
    const low = Math.exp(rng.next() * Math.log(60)) + 0.5;
    uncoded.push(make('', 'generic', low, low * (2 + rng.next() * 10), 40 + rng.int(700)));
  }
  return { smartphone, coded, uncoded, all };
}

const CATALOG = buildCatalog();

/** Zipf popularity puts most views on a category's top ranks; caching their text saves ~10% of the time. */
const CACHED_RANKS = 128;

/** The CSV fields a product contributes, between event_type and user_id, with surrounding commas. */
function productPart(category: Category, rank: number): string {
  if (rank >= CACHED_RANKS) return formatProduct(category, rank);
  const cached = category.cachedParts[rank];
  if (cached !== undefined) return cached;
  const part = formatProduct(category, rank);
  category.cachedParts[rank] = part;
  return part;
}

function formatProduct(category: Category, rank: number): string {
  const productId = category.productBase + rank;
  const brandDraw = hash32(productId, 0xb4a2d) / 4294967296;
  const headMass = Math.log(BRANDED_HEAD_RANKS + 1) / Math.log(category.products + 1);
  const noBrandInTail = Math.min(0.9, TARGET_NO_BRAND_SHARE / Math.max(0.05, 1 - headMass));
  const brand =
    rank >= BRANDED_HEAD_RANKS && brandDraw < noBrandInTail
      ? ''
      : (category.brands[zipfRank(hash32(productId, 0x5eed) / 4294967296, category.brands.length)] ?? '');
  const price = Math.exp(
    category.logPriceLow + (hash32(productId, 0x9f1ce) / 4294967296) * category.logPriceSpan,
  );
  return `,${productId},${category.id},${category.code},${brand},${price.toFixed(2)},`;
}

function drawCategory(rng: Rng): Category {
  const u = rng.next();
  if (u < SMARTPHONE_SHARE) return CATALOG.smartphone;
  // Reuse the remainder of the same draw for the rank: keeps one call per pick on the hot path.
  if (u < 1 - UNCODED_SHARE) {
    const v = (u - SMARTPHONE_SHARE) / (1 - UNCODED_SHARE - SMARTPHONE_SHARE);
    return CATALOG.coded[zipfRank(v, CATALOG.coded.length)]!;
  }
  const v = (u - (1 - UNCODED_SHARE)) / UNCODED_SHARE;
  return CATALOG.uncoded[zipfRank(v, CATALOG.uncoded.length)]!;
}

// ---------------------------------------------------------------------------------------------------
// Users: ids are a bijection of the user index (multiplication modulo a prime), so normal users and
// bots share one realistic-looking id range and can never collide.

const USER_ID_BASE = 500_000_000;
const USER_ID_SPACE = 99_999_989; // prime

function userIdOf(index: number, multiplier: number): string {
  // (index × multiplier) mod p without leaving exact double arithmetic.
  const high = Math.floor(multiplier / 65536);
  const low = multiplier % 65536;
  const scrambled =
    (((((index * high) % USER_ID_SPACE) * 65536) % USER_ID_SPACE) + ((index * low) % USER_ID_SPACE)) %
    USER_ID_SPACE;
  return String(USER_ID_BASE + scrambled);
}

// ---------------------------------------------------------------------------------------------------
// Normal sessions.

const MIN_GAP_MS = 3_000;
const MEAN_EXTRA_GAP_MS = 27_000;
const MIN_CHECKOUT_MS = 30_000;
const MEAN_EXTRA_CHECKOUT_MS = 30_000;
const SESSION_COOLDOWN_MS = 20_000;

const P_CART_AFTER_VIEW = 0.045;
const P_PURCHASE_AFTER_CART = 0.38;
const P_REMOVE_AFTER_CART = 0.15;
const P_SAME_PRODUCT = 0.12;
const P_SAME_CATEGORY = 0.7;
const END_AFTER: Record<EventType, number> = {
  view: 0.12,
  cart: 0.04,
  remove_from_cart: 0.12,
  purchase: 0.25,
};
/**
 * Visits by hour of day (UTC) and by weekday (Monday first): quiet nights, a long afternoon and evening
 * peak, busier weekends. Relative weights; visitRhythm scales them to a mean of 1 over a week, so the
 * mean rate (and the span a number of events fills) does not change with the shape.
 */
const HOURLY_VISITS = [
  0.35, 0.25, 0.2, 0.2, 0.3, 0.5, 0.8, 1, 1.1, 1.2, 1.25, 1.3, 1.3, 1.3, 1.35, 1.45, 1.55, 1.6, 1.55, 1.4,
  1.2, 0.95, 0.7, 0.5,
];
const WEEKDAY_VISITS = [0.95, 0.9, 0.9, 0.95, 1, 1.15, 1.2];
const MEAN_VISITS =
  (HOURLY_VISITS.reduce((a, b) => a + b, 0) / 24) * (WEEKDAY_VISITS.reduce((a, b) => a + b, 0) / 7);

/** The rate of new visits at an instant, relative to the mean. */
export function visitRhythm(ms: number): number {
  const hours = Math.floor(ms / 3_600_000);
  // 1970-01-01 was a Thursday: day 0 is weekday 3 counted from Monday.
  const weekday = (Math.floor(hours / 24) + 3) % 7;
  return (HOURLY_VISITS[hours % 24]! * WEEKDAY_VISITS[weekday]!) / MEAN_VISITS;
}

/** Mean events per normal session under the transition probabilities above (measured). */
const MEAN_SESSION_EVENTS = 8.3;
const USER_PICK_TRIES = 8;

interface Actor {
  nextMs: number;
  /** Tie-break so equal times pop in a deterministic order. */
  order: number;
  bot: BotRun | undefined;
}

interface NormalSession extends Actor {
  userIndex: number;
  userPart: string;
  nextType: EventType;
  category: Category;
  rank: number;
  product: string;
  events: number;
}

class ActorHeap<T extends Actor> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): void {
    const items = this.items;
    const last = items.pop();
    if (last && items.length > 0) {
      items[0] = last;
      this.siftDownTop();
    }
  }

  /** After the top's nextMs grew. */
  siftDownTop(): void {
    const items = this.items;
    const n = items.length;
    const item = items[0]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(items[right]!, items[child]!)) child = right;
      const c = items[child]!;
      if (!before(c, item)) break;
      items[i] = c;
      i = child;
    }
    items[i] = item;
  }
}

function before(a: Actor, b: Actor): boolean {
  return a.nextMs < b.nextMs || (a.nextMs === b.nextMs && a.order < b.order);
}

// ---------------------------------------------------------------------------------------------------
// Bots and heavy shoppers: planned up front (their size depends on --bots, not --events), merged into
// the stream by time.

interface BotEvent {
  ms: number;
  type: EventType;
  product: string;
  userPart: string;
}

interface BotRun {
  truth: BotTruth | HumanTruth;
  events: BotEvent[];
  next: number;
}

type ActorKind = BotKind | typeof HEAVY_SHOPPER.kind;

interface BotShape {
  kind: ActorKind;
  minutes: number;
  /** What each minute holds: events, sessions or purchases, depending on the kind. */
  perMinute: number[];
  /** Upper bound of the events it will emit, known before planning them. */
  maxEvents: number;
}

function shapeBot(kind: ActorKind, rng: Rng): BotShape {
  const shape = (minutes: number, count: () => number, maxEventsEach = 1): BotShape => {
    const perMinute = Array.from({ length: minutes }, count);
    return { kind, minutes, perMinute, maxEvents: perMinute.reduce((sum, n) => sum + n, 0) * maxEventsEach };
  };
  switch (kind) {
    case 'scraper':
      return shape(2, () => 260 + rng.int(140));
    case 'window_shopper':
      return shape(4 + rng.int(2), () => 45 + rng.int(30));
    case 'session_hopper':
      // perMinute counts sessions here, of 1–3 events each.
      return shape(2 + rng.int(2), () => 12 + rng.int(9), 3);
    case 'purchase_burst':
      // perMinute counts purchases; each comes with a view and a cart.
      return shape(1 + rng.int(2), () => 6 + rng.int(5), 3);
    case 'slow_crawler':
      // Under the one-minute views rule (30) in every minute.
      return shape(120, () => 18 + rng.int(9));
    case 'slow_card_tester':
      // Two purchases a minute, each with its view and cart: under the burst rule (3).
      return shape(30, () => 2, 3);
    case 'cart_stuffer':
      // perMinute counts carts, each after a view of its product.
      return shape(40, () => 4 + rng.int(4), 2);
    case 'slow_session_cycler':
      // perMinute counts sessions of 1–2 views: with one carried over, at most 4 in a minute (rule: 5).
      return shape(90, () => 2 + rng.int(2), 2);
    case 'heavy_shopper':
      // A view every 6 s at the most: 10 events a minute.
      return shape(70 + rng.int(41), () => 10);
  }
}

/** One actor's events in the making, with the counts its truth entry reports. */
class RunBuilder {
  readonly events: BotEvent[] = [];
  readonly byType: Record<EventType, number> = { view: 0, cart: 0, remove_from_cart: 0, purchase: 0 };
  sessions = 0;

  constructor(
    readonly userId: string,
    readonly rng: Rng,
    readonly firstMinuteMs: number,
  ) {}

  newSession(): string {
    this.sessions++;
    return `${this.userId},${this.rng.uuid()}\n`;
  }

  add(ms: number, type: EventType, product: string, userPart: string): void {
    this.events.push({ ms, type, product, userPart });
    this.byType[type]++;
  }

  /** `count` sorted instants inside the given minute of the run. */
  times(minute: number, count: number): Float64Array {
    const base = this.firstMinuteMs + minute * 60_000;
    const sorted = new Float64Array(count);
    for (let i = 0; i < count; i++) sorted[i] = base + this.rng.int(60_000);
    return sorted.sort();
  }
}

/** Views the catalogue in order, every view a product it has not seen. */
function planCrawl(shape: BotShape, run: RunBuilder): void {
  const userPart = run.newSession();
  let category = drawCategory(run.rng);
  let rank = 0;
  shape.perMinute.forEach((count, minute) => {
    for (const ms of run.times(minute, count)) {
      if (rank >= category.products) {
        category = CATALOG.all[(CATALOG.all.indexOf(category) + 1) % CATALOG.all.length]!;
        rank = 0;
      }
      run.add(ms, 'view', productPart(category, rank++), userPart);
    }
  });
}

function planWindowShopper(shape: BotShape, run: RunBuilder): void {
  const userPart = run.newSession();
  const rng = run.rng;
  const categories = [drawCategory(rng), drawCategory(rng), drawCategory(rng)];
  shape.perMinute.forEach((count, minute) => {
    for (const ms of run.times(minute, count)) {
      const shopped = categories[rng.int(categories.length)]!;
      run.add(ms, 'view', productPart(shopped, zipfRank(rng.next(), shopped.products)), userPart);
    }
  });
}

/** A fresh session every 1–`maxSize` events; `cartShare` of the later events in a session are carts. */
function planSessionCycling(shape: BotShape, run: RunBuilder, maxSize: number, cartShare: number): void {
  const rng = run.rng;
  shape.perMinute.forEach((count, minute) => {
    const sizes = Array.from({ length: count }, () => 1 + rng.int(maxSize));
    const stamps = run.times(
      minute,
      sizes.reduce((sum, n) => sum + n, 0),
    );
    let at = 0;
    for (const size of sizes) {
      const userPart = run.newSession();
      const hopped = drawCategory(rng);
      let product = productPart(hopped, zipfRank(rng.next(), hopped.products));
      for (let i = 0; i < size; i++) {
        const type: EventType = i > 0 && rng.next() < cartShare ? 'cart' : 'view';
        if (type === 'view' && i > 0) product = productPart(hopped, zipfRank(rng.next(), hopped.products));
        run.add(stamps[at++]!, type, product, userPart);
      }
    }
  });
}

/** View, cart and purchase of each product bought, in that order, `perMinute` purchases a minute. */
function planPurchases(shape: BotShape, run: RunBuilder, pick: () => string): void {
  const userPart = run.newSession();
  shape.perMinute.forEach((count, minute) => {
    const stamps = run.times(minute, count * 3);
    for (let i = 0; i < count; i++) {
      const product = pick();
      run.add(stamps[3 * i]!, 'view', product, userPart);
      run.add(stamps[3 * i + 1]!, 'cart', product, userPart);
      run.add(stamps[3 * i + 2]!, 'purchase', product, userPart);
    }
  });
}

/** A view then a cart of each product, `perMinute` carts a minute, never a purchase. */
function planCartStuffing(shape: BotShape, run: RunBuilder): void {
  const userPart = run.newSession();
  const rng = run.rng;
  shape.perMinute.forEach((count, minute) => {
    const stamps = run.times(minute, count * 2);
    for (let i = 0; i < count; i++) {
      const category = drawCategory(rng);
      const product = productPart(category, zipfRank(rng.next(), category.products));
      run.add(stamps[2 * i]!, 'view', product, userPart);
      run.add(stamps[2 * i + 1]!, 'cart', product, userPart);
    }
  });
}

/**
 * A long human session: a view every 6–12 s, the first cart after 20–40 minutes, then at most a cart a
 * minute, a purchase (after a 40 s checkout) at most every 10 minutes and three in all.
 */
function planHeavyShopper(shape: BotShape, run: RunBuilder): void {
  const rng = run.rng;
  const userPart = run.newSession();
  const endMs = run.firstMinuteMs + shape.minutes * 60_000;
  const firstCartMs = run.firstMinuteMs + (20 + rng.int(21)) * 60_000;
  let category = drawCategory(rng);
  let product = productPart(category, zipfRank(rng.next(), category.products));
  let lastCartMs = Number.NEGATIVE_INFINITY;
  let lastPurchaseMs = Number.NEGATIVE_INFINITY;
  let purchases = 0;
  let carted: string | undefined;
  for (let ms = run.firstMinuteMs + rng.int(6_000); ms < endMs; ms += 6_000 + rng.int(6_001)) {
    if (carted !== undefined && purchases < 3 && ms - lastPurchaseMs >= 600_000 && rng.next() < 0.35) {
      const at = Math.max(ms, lastCartMs + 40_000);
      if (at >= endMs) break;
      run.add(at, 'purchase', carted, userPart);
      purchases++;
      lastPurchaseMs = at;
      ms = at;
      carted = undefined;
    } else if (ms >= firstCartMs && ms - lastCartMs >= 60_000 && rng.next() < 0.15) {
      run.add(ms, 'cart', product, userPart);
      lastCartMs = ms;
      carted = product;
    } else {
      if (rng.next() < 0.3) category = drawCategory(rng);
      product = productPart(category, zipfRank(rng.next(), category.products));
      run.add(ms, 'view', product, userPart);
    }
  }
}

const CHEAPEST_CATEGORY = CATALOG.uncoded.reduce((cheapest, category) =>
  category.logPriceLow + category.logPriceSpan < cheapest.logPriceLow + cheapest.logPriceSpan
    ? category
    : cheapest,
);

function planBot(shape: BotShape, firstMinuteMs: number, userId: string, rng: Rng): BotRun {
  const run = new RunBuilder(userId, rng, firstMinuteMs);
  switch (shape.kind) {
    case 'scraper':
    case 'slow_crawler':
      planCrawl(shape, run);
      break;
    case 'window_shopper':
      planWindowShopper(shape, run);
      break;
    case 'session_hopper':
      planSessionCycling(shape, run, 3, 0.3);
      break;
    case 'slow_session_cycler':
      planSessionCycling(shape, run, 2, 0);
      break;
    case 'purchase_burst':
      planPurchases(shape, run, () => {
        const bought = rng.next() < 0.7 ? CATALOG.smartphone : drawCategory(rng);
        return productPart(
          bought,
          bought === CATALOG.smartphone ? rng.int(3) : zipfRank(rng.next(), bought.products),
        );
      });
      break;
    case 'slow_card_tester':
      planPurchases(shape, run, () => productPart(CHEAPEST_CATEGORY, rng.int(CHEAPEST_CATEGORY.products)));
      break;
    case 'cart_stuffer':
      planCartStuffing(shape, run);
      break;
    case 'heavy_shopper':
      planHeavyShopper(shape, run);
      break;
  }
  // Bot instants are drawn per minute and sorted there; the heavy shopper's come in order already.
  run.events.sort((a, b) => a.ms - b.ms);
  const truth = {
    user_id: userId,
    windows: [
      { start: toIsoSeconds(firstMinuteMs), end: toIsoSeconds(firstMinuteMs + shape.minutes * 60_000) },
    ],
    events: run.events.length,
    sessions: run.sessions,
    byType: run.byType,
  };
  const kind = shape.kind;
  return {
    events: run.events,
    next: 0,
    truth: kind === HEAVY_SHOPPER.kind ? { ...truth, kind } : { ...truth, kind },
  };
}

interface PlannedActors {
  bots: BotRun[];
  heavyShoppers: BotRun[];
  /** Minutes of event time the normal traffic spans. */
  spanMinutes: number;
}

function planActors(config: SyntheticConfig): PlannedActors {
  const botRngs = Array.from({ length: config.bots }, (_, k) => new Rng(config.seed, 0xb0700 + k));
  const heavyRngs = Array.from({ length: config.heavyShoppers }, (_, j) => new Rng(config.seed, 0x4ea70 + j));
  const botShapes = botRngs.map((rng, k) => shapeBot(BOT_KINDS[k % BOT_KINDS.length]!.kind, rng));
  const heavyShapes = heavyRngs.map((rng) => shapeBot(HEAVY_SHOPPER.kind, rng));
  const shapes = [...botShapes, ...heavyShapes];
  const eventsBound = shapes.reduce((sum, s) => sum + s.maxEvents, 0);
  const longest = Math.max(0, ...shapes.map((s) => s.minutes));
  const normalEvents = config.events - eventsBound;
  const spanMinutes = Math.floor(
    config.rate !== undefined ? normalEvents / config.rate / 60 : (config.days ?? 0) * 1440,
  );
  if (shapes.length > 0 && (normalEvents < eventsBound || spanMinutes < longest + 1)) {
    const who = `${config.bots} bots and ${config.heavyShoppers} heavy shoppers`;
    throw new SyntheticConfigError(
      `${config.events} events over ${spanMinutes} minutes are too few for ${who}: they need up to ${eventsBound} events and ${longest + 1} minutes of normal traffic around them`,
      `use --events ${2 * eventsBound} or more${config.rate !== undefined ? ', a lower --rate' : ''}, fewer --bots or --heavy-shoppers 0`,
    );
  }
  const firstMinute = Math.ceil(config.startMs / 60_000);
  const multiplier = userIdMultiplier(config.seed);
  // Spread each group over the span, a slot each, so only a few are ever active in the same minute.
  const place = (groupShapes: BotShape[], rngs: Rng[], firstIndex: number): BotRun[] => {
    const usable = Math.max(1, spanMinutes - longest);
    return groupShapes.map((shape, k) => {
      const slot = Math.floor((usable * k) / groupShapes.length);
      const slotWidth = Math.max(1, Math.floor(usable / groupShapes.length));
      const jitter = rngs[k]!.int(Math.max(1, Math.floor(slotWidth / 2)));
      const minute = firstMinute + Math.min(usable - 1, slot + jitter);
      return planBot(shape, minute * 60_000, userIdOf(firstIndex + k, multiplier), rngs[k]!);
    });
  };
  return {
    bots: place(botShapes, botRngs, config.users),
    heavyShoppers: place(heavyShapes, heavyRngs, config.users + config.bots),
    spanMinutes,
  };
}

function userIdMultiplier(seed: number): number {
  return 1 + (new Rng(seed, 0x1d).u32() % (USER_ID_SPACE - 1));
}

// ---------------------------------------------------------------------------------------------------
// The generator.

export interface SyntheticStats {
  events: number;
  byType: Record<EventType, number>;
  /** Bytes of CSV produced so far, header included (the text is ASCII). */
  bytes: number;
  firstEventMs: number | undefined;
  lastEventMs: number | undefined;
}

export class SyntheticGenerator {
  readonly config: SyntheticConfig;
  readonly truth: SyntheticTruth;
  readonly stats: SyntheticStats = {
    events: 0,
    byType: { view: 0, cart: 0, remove_from_cart: 0, purchase: 0 },
    bytes: 0,
    firstEventMs: undefined,
    lastEventMs: undefined,
  };

  private readonly rng: Rng;
  private readonly heap = new ActorHeap<Actor>();
  private readonly userMultiplier: number;
  private readonly normalBudget: number;
  private normalEmitted = 0;
  private arrivalsOpen: boolean;
  private nextArrivalMs: number;
  private readonly meanArrivalGapMs: number;
  /** Whether visits follow the daily and weekly rhythm (a flat --rate does not). */
  private readonly rhythm: boolean;
  private order = 0;
  /** Users with an open session (Infinity) or in their cool-down (time they become free). */
  private readonly busyUsers = new Map<number, number>();
  private releases: Array<{ userIndex: number; freeAtMs: number }> = [];
  private releaseHead = 0;
  private cachedSecond = Number.NaN;
  private cachedTimeText = '';

  constructor(config: SyntheticConfig) {
    this.config = config;
    this.rng = new Rng(config.seed, 0x5e55);
    this.userMultiplier = userIdMultiplier(config.seed);
    const actors = planActors(config);
    const runs = [...actors.bots, ...actors.heavyShoppers];
    const actorEvents = runs.reduce((sum, run) => sum + run.events.length, 0);
    this.normalBudget = config.events - actorEvents;
    for (const run of runs) {
      if (run.events.length > 0) this.heap.push({ nextMs: run.events[0]!.ms, order: this.order++, bot: run });
    }
    this.arrivalsOpen = this.normalBudget > 0;
    this.nextArrivalMs = config.startMs;
    // With days, the normal budget fills the span; with a rate, the span follows from it.
    const rate = config.rate ?? this.normalBudget / Math.max(1, actors.spanMinutes * 60);
    this.meanArrivalGapMs = (1000 * MEAN_SESSION_EVENTS) / rate;
    this.rhythm = config.rate === undefined;
    this.truth = {
      format: SYNTHETIC_TRUTH_FORMAT,
      seed: config.seed,
      events: config.events,
      users: config.users,
      start: toIsoSeconds(config.startMs),
      rate: Math.round(rate * 1e6) / 1e6,
      normalUserBounds: NORMAL_USER_BOUNDS,
      botKinds: BOT_KINDS.map((info) => ({ ...info })),
      bots: actors.bots.map((run) => run.truth as BotTruth),
      heavyShoppers: actors.heavyShoppers.map((run) => run.truth as HumanTruth),
    };
  }

  /** The whole CSV, header first, as chunks of about `chunkChars` characters. */
  *chunks(chunkChars = 256 * 1024): Generator<string, void, undefined> {
    let chunk = `${CSV_HEADER_LINE}\n`;
    for (;;) {
      const line = this.nextLine();
      if (line === undefined) break;
      chunk += line;
      if (chunk.length >= chunkChars) {
        this.stats.bytes += chunk.length;
        yield chunk;
        chunk = '';
      }
    }
    this.stats.bytes += chunk.length;
    yield chunk;
  }

  /** The next CSV row (with its newline), or undefined when all events are out. */
  nextLine(): string | undefined {
    const heap = this.heap;
    for (;;) {
      const top = heap.peek();
      if (this.arrivalsOpen && (top === undefined || this.nextArrivalMs <= top.nextMs)) {
        this.arrive();
        continue;
      }
      if (top === undefined) return undefined;
      const ms = top.nextMs;
      let type: EventType;
      let line: string;
      if (top.bot) {
        const run = top.bot;
        const event = run.events[run.next++]!;
        type = event.type;
        line = this.timeText(ms) + type + event.product + event.userPart;
        const following = run.events[run.next];
        if (following) {
          top.nextMs = following.ms;
          heap.siftDownTop();
        } else {
          heap.pop();
        }
      } else {
        const session = top as NormalSession;
        if (this.normalEmitted >= this.normalBudget) {
          heap.pop();
          continue;
        }
        type = session.nextType;
        line = this.timeText(ms) + type + session.product + session.userPart;
        if (++this.normalEmitted >= this.normalBudget) this.arrivalsOpen = false;
        this.advance(session, type, ms);
      }
      const stats = this.stats;
      stats.events++;
      stats.byType[type]++;
      stats.firstEventMs ??= ms;
      stats.lastEventMs = ms;
      return line;
    }
  }

  private timeText(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.cachedSecond) {
      this.cachedSecond = second;
      this.cachedTimeText = `${toKaggleTime(second * 1000)},`;
    }
    return this.cachedTimeText;
  }

  private arrive(): void {
    const now = this.nextArrivalMs;
    const gap = this.rng.exp(this.meanArrivalGapMs) / (this.rhythm ? visitRhythm(now) : 1);
    this.nextArrivalMs = now + Math.max(1, Math.round(gap));
    this.releaseUsers(now);
    const users = this.config.users;
    for (let attempt = 0; attempt < USER_PICK_TRIES; attempt++) {
      // A mild skew: some users come back far more often than others, as in the real data.
      const userIndex = Math.floor(users * this.rng.next() ** 1.5);
      if (this.busyUsers.has(userIndex)) continue;
      this.busyUsers.set(userIndex, Number.POSITIVE_INFINITY);
      const category = drawCategory(this.rng);
      const rank = zipfRank(this.rng.next(), category.products);
      const session: NormalSession = {
        nextMs: now,
        order: this.order++,
        bot: undefined,
        userIndex,
        userPart: `${userIdOf(userIndex, this.userMultiplier)},${this.rng.uuid()}\n`,
        nextType: 'view',
        category,
        rank,
        product: productPart(category, rank),
        events: 0,
      };
      this.heap.push(session);
      return;
    }
    // Every user tried is busy (a small --users): this arrival is skipped, the rate dips, the bounds hold.
  }

  private releaseUsers(now: number): void {
    const releases = this.releases;
    while (this.releaseHead < releases.length) {
      const release = releases[this.releaseHead]!;
      if (release.freeAtMs > now) break;
      if (this.busyUsers.get(release.userIndex) === release.freeAtMs)
        this.busyUsers.delete(release.userIndex);
      this.releaseHead++;
    }
    if (this.releaseHead > 4096 && this.releaseHead * 2 > releases.length) {
      this.releases = releases.slice(this.releaseHead);
      this.releaseHead = 0;
    }
  }

  /** Decides the session's next event after one of `type` at `ms`, or ends the session. */
  private advance(session: NormalSession, type: EventType, ms: number): void {
    const rng = this.rng;
    session.events++;
    if (rng.next() < END_AFTER[type]) {
      this.heap.pop();
      const freeAtMs = ms + SESSION_COOLDOWN_MS;
      this.busyUsers.set(session.userIndex, freeAtMs);
      this.releases.push({ userIndex: session.userIndex, freeAtMs });
      return;
    }
    let next: EventType = 'view';
    if (type === 'view') {
      if (rng.next() < P_CART_AFTER_VIEW) next = 'cart';
    } else if (type === 'cart') {
      const u = rng.next();
      if (u < P_PURCHASE_AFTER_CART) next = 'purchase';
      else if (u < P_PURCHASE_AFTER_CART + P_REMOVE_AFTER_CART) next = 'remove_from_cart';
    }
    if (next === 'view') this.browse(session, type === 'view' ? P_SAME_PRODUCT : 0);
    session.nextType = next;
    // Checkout takes time: at most two purchases fit in any minute, whatever else happens.
    session.nextMs =
      next === 'purchase'
        ? ms + MIN_CHECKOUT_MS + Math.round(rng.exp(MEAN_EXTRA_CHECKOUT_MS))
        : ms + MIN_GAP_MS + Math.round(rng.exp(MEAN_EXTRA_GAP_MS));
    this.heap.siftDownTop();
  }

  private browse(session: NormalSession, sameProduct: number): void {
    const rng = this.rng;
    const u = rng.next();
    if (u < sameProduct) return;
    if (u >= sameProduct + P_SAME_CATEGORY * (1 - sameProduct)) session.category = drawCategory(rng);
    session.rank = zipfRank(rng.next(), session.category.products);
    session.product = productPart(session.category, session.rank);
  }
}

export function createSyntheticGenerator(input: SyntheticInput = {}): SyntheticGenerator {
  return new SyntheticGenerator(resolveSyntheticConfig(input));
}
