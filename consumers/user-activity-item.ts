/**
 * The user-activity item: how a partial merges into it, and how items read back as UserWindowTotals.
 *
 * Exactly once per event. An item keeps the ids of its (user, window)'s events in one string set per
 * event type (purchases as `<id>:<cents>`), beside the session, product and contribution-id sets and
 * the first/last event second of every partial. A merge is one UpdateItem that `ADD`s the partial's
 * sets: adding an element a set already holds is a no-op
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html#Expressions.UpdateExpressions.ADD),
 * so a retried batch, a re-sent final window and an event a resumed producer sent twice all leave the
 * item as it was. Counts, revenue and first/last time are derived when reading (totalsOfItems), never
 * stored, so there is nothing to guard: no contribution-id condition, no read before the write, no
 * widening of times by further conditional updates. One call per partial where there were up to three.
 *
 * Size. An item is at most 400 KB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items),
 * counted as attribute names plus values, a string by its UTF-8 bytes
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
 * Each update adds an upper estimate of what it adds to `item_bytes` and is conditioned on the estimate
 * staying within ITEM_BUDGET_BYTES; the condition holds for every window but a heavy bot's. A view costs
 * its id (13 bytes for the Kaggle files: an 8-character source tag and a base36 line) plus one, so an
 * item fills at about 27,000 events of one user in one window when the user's sessions and products
 * repeat, and at about 16,000 when every event brings a new product id. Past that the item spills:
 * the update goes to an overflow item keyed (user, `<window_start>#<n>`), whose number the base item
 * records in `overflow_items` before the first write to it, and readers merge the base with its
 * overflow items. Nothing is lost and no shard sticks: spilling costs a few extra calls once per
 * overflow item, and since merges are unions, an event that lands in two items still counts once.
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  emptyMergedWindow,
  ID_FIELDS,
  type MergedWindow,
  totalOf,
  type UserWindowPartial,
  type UserWindowTotal,
} from '../core/aggregate.ts';
import { TTL_ATTRIBUTE, USER_ACTIVITY_KEY } from '../core/dynamo-tables.ts';
import { toIsoSeconds } from '../core/event.ts';
import { activityByUser, type WindowActivity } from '../core/horizon.ts';
import { ConsumerError, isAwsError } from './errors.ts';

/** DynamoDB's item size limit, 400 KB. */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;
/**
 * What the growing attributes of one item may hold by the `item_bytes` estimate. The rest of the limit
 * (over 20 KB) covers the key, the attribute names and the fixed attributes, which take under 1 KB.
 */
export const ITEM_BUDGET_BYTES = 380_000;

/** Attribute names of a user-activity item besides its key. */
export const ITEM_ATTRIBUTES = {
  sessions: 'sessions',
  products: 'products',
  contributions: 'contribution_ids',
  /** Epoch seconds of each partial's first and last event: min and max are the window's. */
  seconds: 'event_seconds',
  /** Upper estimate of the bytes the sets hold; decides when the item spills. */
  bytes: 'item_bytes',
  /** On a base item: how many overflow items `<window_start>#1..n` exist (or are about to). */
  overflow: 'overflow_items',
  windowSeconds: 'window_seconds',
} as const;

const OVERFLOW_SEPARATOR = '#';

export interface MergeResult {
  /** UpdateItem and GetItem calls made. */
  calls: number;
  /** Updates that went to an overflow item. */
  spilled: number;
}

export interface MergeOptions {
  /** Default ITEM_BUDGET_BYTES; tests pass a small one to make items spill. */
  itemBudgetBytes?: number;
}

/** One update's worth of a partial: all of it, unless it is too big for a fresh item. */
interface Chunk {
  ids: [string[], string[], string[], string[]];
  sessions: string[];
  products: string[];
  bytes: number;
}

/** A set element's share of an item: its UTF-8 bytes, and one more to be safe. */
function elementBytes(value: string): number {
  return Buffer.byteLength(value, 'utf8') + 1;
}

/** The partial cut into chunks of at most `maxBytes` of set elements, in field order. */
export function chunksOf(partial: UserWindowPartial, maxBytes: number): Chunk[] {
  const chunks: Chunk[] = [];
  let chunk: Chunk | undefined;
  const add = (value: string, put: (target: Chunk) => void) => {
    const bytes = elementBytes(value);
    if (chunk === undefined || (chunk.bytes + bytes > maxBytes && chunk.bytes > 0)) {
      chunk = { ids: [[], [], [], []], sessions: [], products: [], bytes: 0 };
      chunks.push(chunk);
    }
    put(chunk);
    chunk.bytes += bytes;
  };
  ID_FIELDS.forEach((field, type) => {
    for (const id of partial[field]) add(id, (target) => target.ids[type]?.push(id));
  });
  for (const session of partial.sessions) add(session, (target) => target.sessions.push(session));
  for (const product of partial.products) add(product, (target) => target.products.push(product));
  // A partial without events still carries its contribution and times (never emitted, but harmless).
  if (chunks.length === 0) chunks.push({ ids: [[], [], [], []], sessions: [], products: [], bytes: 0 });
  return chunks;
}

function itemKey(partial: Pick<UserWindowPartial, 'user_id' | 'window_start'>, index: number) {
  return {
    [USER_ACTIVITY_KEY.partition]: partial.user_id,
    [USER_ACTIVITY_KEY.sort]:
      index === 0 ? partial.window_start : `${partial.window_start}${OVERFLOW_SEPARATOR}${index}`,
  };
}

/**
 * Merges one partial: normally one unconditional-in-effect UpdateItem. Only when the item has no room
 * left (a heavy bot) does it read the base item's overflow count and move on to overflow items.
 */
export async function mergePartial(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  partial: UserWindowPartial,
  expiresAtSeconds: number,
  options: MergeOptions = {},
): Promise<MergeResult> {
  const budget = options.itemBudgetBytes ?? ITEM_BUDGET_BYTES;
  const seconds = new Set([
    Date.parse(partial.first_event_time) / 1000,
    Date.parse(partial.last_event_time) / 1000,
  ]);
  // What every chunk adds besides its elements: the contribution id and the two seconds.
  const fixedBytes = elementBytes(partial.contribution_id) + 2 * 8;
  const result: MergeResult = { calls: 0, spilled: 0 };
  // Chunks of a quarter budget: each fits a fresh item, and an item takes several before it spills.
  for (const chunk of chunksOf(partial, Math.floor((budget - fixedBytes) / 4))) {
    const bytes = chunk.bytes + fixedBytes;
    const names: Record<string, string> = {
      '#cids': ITEM_ATTRIBUTES.contributions,
      '#secs': ITEM_ATTRIBUTES.seconds,
      '#bytes': ITEM_ATTRIBUTES.bytes,
      '#ws': ITEM_ATTRIBUTES.windowSeconds,
      '#ttl': TTL_ATTRIBUTE,
    };
    const values: Record<string, unknown> = {
      ':cids': new Set([partial.contribution_id]),
      ':secs': seconds,
      ':bytes': bytes,
      ':room': budget - bytes,
      ':ws': partial.window_seconds,
      ':ttl': expiresAtSeconds,
    };
    const adds = ['#cids :cids', '#secs :secs', '#bytes :bytes'];
    const addSet = (name: string, elements: readonly string[]) => {
      // DynamoDB has no empty sets: an empty one is left out.
      if (elements.length === 0) return;
      names[`#${name}`] = name;
      values[`:${name}`] = new Set(elements);
      adds.push(`#${name} :${name}`);
    };
    ID_FIELDS.forEach((field, type) => {
      addSet(field, chunk.ids[type] as string[]);
    });
    addSet(ITEM_ATTRIBUTES.sessions, chunk.sessions);
    addSet(ITEM_ATTRIBUTES.products, chunk.products);
    const update = (index: number) =>
      new UpdateCommand({
        TableName: tableName,
        Key: itemKey(partial, index),
        UpdateExpression: `ADD ${adds.join(', ')} SET #ws = :ws, #ttl = :ttl`,
        ConditionExpression: 'attribute_not_exists(#bytes) OR #bytes <= :room',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      });
    await writeWithSpill(dynamo, tableName, partial, update, result);
  }
  return result;
}

/** Tries the base item, then overflow items from the last one recorded, reserving each new one first. */
async function writeWithSpill(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  partial: UserWindowPartial,
  update: (index: number) => UpdateCommand,
  result: MergeResult,
): Promise<void> {
  let index = 0;
  let reserved: number | undefined;
  for (;;) {
    result.calls++;
    try {
      await dynamo.send(update(index));
      if (index > 0) result.spilled++;
      return;
    } catch (error) {
      if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
    }
    if (reserved === undefined) {
      result.calls++;
      reserved = await overflowCount(dynamo, tableName, partial);
      index = Math.max(reserved, 1);
    } else {
      index++;
    }
    // Recorded before the first write to it: a reader never misses an overflow item that has data.
    if (index > reserved) {
      result.calls++;
      await reserveOverflow(dynamo, tableName, partial, index);
      reserved = index;
    }
  }
}

async function overflowCount(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  partial: UserWindowPartial,
): Promise<number> {
  const { Item } = await dynamo.send(
    new GetCommand({
      TableName: tableName,
      Key: itemKey(partial, 0),
      ProjectionExpression: '#o',
      ExpressionAttributeNames: { '#o': ITEM_ATTRIBUTES.overflow },
      ConsistentRead: true,
    }),
  );
  const count = Item?.[ITEM_ATTRIBUTES.overflow];
  return typeof count === 'number' ? count : 0;
}

async function reserveOverflow(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  partial: UserWindowPartial,
  index: number,
): Promise<void> {
  try {
    await dynamo.send(
      new UpdateCommand({
        TableName: tableName,
        Key: itemKey(partial, 0),
        UpdateExpression: 'SET #o = :n',
        ConditionExpression: 'attribute_not_exists(#o) OR #o < :n',
        ExpressionAttributeNames: { '#o': ITEM_ATTRIBUTES.overflow },
        ExpressionAttributeValues: { ':n': index },
      }),
    );
  } catch (error) {
    // Another writer recorded this many or more already.
    if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
  }
}

/** The window_start of an item's sort key (an overflow item's is `<window_start>#<n>`). */
function windowOfSortKey(sortKey: string): string {
  const at = sortKey.indexOf(OVERFLOW_SEPARATOR);
  return at < 0 ? sortKey : sortKey.slice(0, at);
}

/**
 * Whether an item is one of several that make up its window: an overflow item, or a base item that
 * has (or reserved) overflow items. Such a window's total needs all of them; any other item is a whole
 * window on its own, so a reader can turn it into a total at once and keep nothing.
 */
export function isSpilledWindowItem(item: Record<string, unknown>): boolean {
  const sortKey = item[USER_ACTIVITY_KEY.sort];
  if (typeof sortKey === 'string' && sortKey.includes(OVERFLOW_SEPARATOR)) return true;
  const overflow = item[ITEM_ATTRIBUTES.overflow];
  return typeof overflow === 'number' && overflow > 0;
}

function stringSet(item: Record<string, unknown>, name: string): Iterable<string> {
  const value = item[name];
  return value instanceof Set ? (value as Set<string>) : [];
}

/**
 * Stored items, base and overflow alike, as merged windows: every reader of totals (the alerter,
 * verify, the demo, tests) goes through here and totalOf, so counts mean the same everywhere.
 */
export function mergedWindowsOfItems(items: Iterable<Record<string, unknown>>): Map<string, MergedWindow> {
  const windows = new Map<string, MergedWindow & { seconds: number[] }>();
  for (const item of items) {
    const userId = item[USER_ACTIVITY_KEY.partition];
    const sortKey = item[USER_ACTIVITY_KEY.sort];
    if (typeof userId !== 'string' || typeof sortKey !== 'string')
      throw new ConsumerError('user-activity item has no key');
    const windowStart = windowOfSortKey(sortKey);
    const key = userWindowKey(userId, windowStart);
    let merged = windows.get(key);
    if (merged === undefined) {
      merged = { ...emptyMergedWindow(userId, windowStart, 0, '', ''), seconds: [] };
      windows.set(key, merged);
    }
    const windowSeconds = item[ITEM_ATTRIBUTES.windowSeconds];
    if (typeof windowSeconds === 'number') merged.window_seconds = windowSeconds;
    ID_FIELDS.forEach((field, type) => {
      const ids = merged.ids[type] as Set<string>;
      for (const id of stringSet(item, field)) ids.add(id);
    });
    for (const session of stringSet(item, ITEM_ATTRIBUTES.sessions)) merged.sessions.add(session);
    for (const product of stringSet(item, ITEM_ATTRIBUTES.products)) merged.products.add(product);
    for (const id of stringSet(item, ITEM_ATTRIBUTES.contributions)) merged.contributionIds.add(id);
    const seconds = item[ITEM_ATTRIBUTES.seconds];
    if (seconds instanceof Set) for (const second of seconds as Set<number>) merged.seconds.push(second);
  }
  const result = new Map<string, MergedWindow>();
  for (const [key, { seconds, ...merged }] of windows) {
    if (seconds.length === 0) throw new ConsumerError(`user-activity item ${key} has no event times`);
    merged.first_event_time = toIsoSeconds(Math.min(...seconds) * 1000);
    merged.last_event_time = toIsoSeconds(Math.max(...seconds) * 1000);
    result.set(key, merged);
  }
  return result;
}

/** Stored items (base and overflow) as totals, one per (user, window). */
export function totalsOfItems(items: Iterable<Record<string, unknown>>): UserWindowTotal[] {
  return [...mergedWindowsOfItems(items).values()].map(totalOf);
}

/**
 * Stored items (base and overflow) as each user's windows with the id sets a horizon's distinct counts
 * are unions of, ascending by start: the totals are totalOf the merged sets (counts are set sizes), so
 * a horizon sums exactly what totalsOfItems reports per window.
 */
export function activityOfItems(items: Iterable<Record<string, unknown>>): Map<string, WindowActivity[]> {
  return activityByUser(mergedWindowsOfItems(items).values());
}

/**
 * Past every overflow sort key of a window (`<window_start>#<n>`, n in decimal digits): "~" sorts after
 * the digits, and before the next window start (which differs from this one before the "#").
 */
const OVERFLOW_KEYS_END = `${OVERFLOW_SEPARATOR}~`;

/**
 * One user's merged windows whose start lies in [fromStart, toStart] (ISO-8601 UTC strings, which sort
 * like the instants they name), ascending, each merged from its base item and its overflow items. One
 * Query instead of a BatchGetItem of every window start in the range: it returns only the windows the
 * user was active in, with their overflow items (their sort keys lie between the window's start and
 * the next one's), and DynamoDB charges a Query by the total size of what it returns (rounded up to
 * 4 KB once) where BatchGetItem charges each key at least 4 KB, found or not:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
 * An overflow item reserved but not written yet (its writer is being retried) is simply absent.
 */
export async function readUserWindows(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  userId: string,
  fromStart: string,
  toStart: string,
): Promise<WindowActivity[]> {
  const items: Array<Record<string, unknown>> = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#user = :user AND #start BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#user': USER_ACTIVITY_KEY.partition, '#start': USER_ACTIVITY_KEY.sort },
        ExpressionAttributeValues: {
          ':user': userId,
          ':from': fromStart,
          // The overflow items of a window starting at toStart sort after toStart itself.
          ':to': `${toStart}${OVERFLOW_KEYS_END}`,
        },
        // Consistent: the aggregator merged before it put the partial on stream 2; this read sees it.
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) items.push(item);
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return activityOfItems(items).get(userId) ?? [];
}

export function userWindowKey(userId: string, windowStart: string): string {
  return `${userId}|${windowStart}`;
}
