/**
 * The user-activity item: how a partial merges into it, and how it reads back as a UserWindowTotal.
 *
 * The merge is one UpdateItem: `ADD` of the counts and of the session/product/contribution-id string
 * sets, guarded by "this contribution id is not in the set yet". A retried batch or a re-sent final
 * window therefore fails the condition instead of counting twice, and ConditionalCheckFailed means
 * "already merged", which is success.
 */
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { UserWindowPartial, UserWindowTotal } from '../core/aggregate.ts';
import type { WindowActivity } from '../core/horizon.ts';
import { ConsumerError, isAwsError } from './errors.ts';
import { TTL_ATTRIBUTE, USER_ACTIVITY_KEY } from './tables.ts';

export type MergeOutcome = 'merged' | 'already-merged';

const COUNT_FIELDS = [
  'view_count',
  'cart_count',
  'remove_from_cart_count',
  'purchase_count',
  'total_count',
] as const;

export async function mergePartial(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  partial: UserWindowPartial,
  expiresAtSeconds: number,
): Promise<MergeOutcome> {
  const names: Record<string, string> = {
    '#cids': 'cids',
    '#contributions': 'contributions',
    '#revenue': 'revenue',
    '#ws': 'window_seconds',
    '#ttl': TTL_ATTRIBUTE,
    '#first': 'first_event_time',
    '#last': 'last_event_time',
  };
  const values: Record<string, unknown> = {
    ':cid': partial.contribution_id,
    ':cidSet': new Set([partial.contribution_id]),
    ':one': 1,
    ':revenue': partial.revenue,
    ':ws': partial.window_seconds,
    ':ttl': expiresAtSeconds,
    ':first': partial.first_event_time,
    ':last': partial.last_event_time,
  };
  const adds = ['#cids :cidSet', '#contributions :one', '#revenue :revenue'];
  for (const field of COUNT_FIELDS) {
    names[`#${field}`] = field;
    values[`:${field}`] = partial[field];
    adds.push(`#${field} :${field}`);
  }
  // DynamoDB has no empty sets: a partial without sessions adds none.
  if (partial.sessions.length > 0) {
    names['#sessions'] = 'sessions';
    values[':sessions'] = new Set(partial.sessions);
    adds.push('#sessions :sessions');
  }
  if (partial.products.length > 0) {
    names['#products'] = 'products';
    values[':products'] = new Set(partial.products);
    adds.push('#products :products');
  }
  const key = {
    [USER_ACTIVITY_KEY.partition]: partial.user_id,
    [USER_ACTIVITY_KEY.sort]: partial.window_start,
  };
  try {
    const result = await dynamo.send(
      new UpdateCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: `ADD ${adds.join(', ')} SET #ws = :ws, #ttl = :ttl, #first = if_not_exists(#first, :first), #last = if_not_exists(#last, :last)`,
        ConditionExpression: 'attribute_not_exists(#cids) OR NOT contains(#cids, :cid)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    const item = result.Attributes ?? {};
    await widenTimes(dynamo, tableName, key, partial, item.first_event_time, item.last_event_time);
    return 'merged';
  } catch (error) {
    if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
    // A previous attempt merged the counts; it may have died before widening the times, and widening
    // is idempotent, so redo it.
    await widenTimes(dynamo, tableName, key, partial, undefined, undefined);
    return 'already-merged';
  }
}

/**
 * DynamoDB update expressions have no min/max, so first/last event time are widened by conditional
 * SETs, only when this partial extends the range (known from the merge's ALL_NEW; unknown = try both).
 */
async function widenTimes(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  key: Record<string, string>,
  partial: UserWindowPartial,
  storedFirst: unknown,
  storedLast: unknown,
): Promise<void> {
  const updates: Array<[string, string, '<' | '>']> = [];
  if (typeof storedFirst !== 'string' || partial.first_event_time < storedFirst) {
    updates.push(['first_event_time', partial.first_event_time, '>']);
  }
  if (typeof storedLast !== 'string' || partial.last_event_time > storedLast) {
    updates.push(['last_event_time', partial.last_event_time, '<']);
  }
  for (const [attribute, value, comparison] of updates) {
    try {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: 'SET #a = :v',
          // ISO-8601 UTC strings of one format order like the instants they name.
          ConditionExpression: `#a ${comparison} :v`,
          ExpressionAttributeNames: { '#a': attribute },
          ExpressionAttributeValues: { ':v': value },
        }),
      );
    } catch (error) {
      if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
    }
  }
}

/** A stored item as the merged total (sets become their sizes). */
export function itemToTotal(item: Record<string, unknown>): UserWindowTotal {
  const number = (name: string) => {
    const value = item[name];
    return typeof value === 'number' ? value : 0;
  };
  const setSize = (name: string) => {
    const value = item[name];
    return value instanceof Set ? value.size : 0;
  };
  const text = (name: string) => {
    const value = item[name];
    if (typeof value !== 'string') throw new ConsumerError(`user-activity item has no ${name}`);
    return value;
  };
  return {
    user_id: text(USER_ACTIVITY_KEY.partition),
    window_start: text(USER_ACTIVITY_KEY.sort),
    window_seconds: number('window_seconds'),
    view_count: number('view_count'),
    cart_count: number('cart_count'),
    remove_from_cart_count: number('remove_from_cart_count'),
    purchase_count: number('purchase_count'),
    total_count: number('total_count'),
    distinct_sessions: setSize('sessions'),
    distinct_products: setSize('products'),
    revenue: number('revenue'),
    first_event_time: text('first_event_time'),
    last_event_time: text('last_event_time'),
    contributions: number('contributions'),
  };
}

/** A stored item with its session and product id sets: a horizon's distinct counts are unions of them. */
export function itemToActivity(item: Record<string, unknown>): WindowActivity {
  const ids = (name: string): ReadonlySet<string> => {
    const value = item[name];
    return value instanceof Set ? (value as Set<string>) : new Set();
  };
  return { total: itemToTotal(item), sessions: ids('sessions'), products: ids('products') };
}

/**
 * One user's merged windows whose start lies in [fromStart, toStart] (ISO-8601 UTC strings, which sort
 * like the instants they name), ascending. One Query instead of a BatchGetItem of every window start in
 * the range: it returns only the windows the user was active in, and DynamoDB charges a Query by the
 * total size of what it returns (rounded up to 4 KB once) where BatchGetItem charges each key at least
 * 4 KB, found or not:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
 */
export async function readUserWindows(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  userId: string,
  fromStart: string,
  toStart: string,
): Promise<WindowActivity[]> {
  const windows: WindowActivity[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#user = :user AND #start BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#user': USER_ACTIVITY_KEY.partition, '#start': USER_ACTIVITY_KEY.sort },
        ExpressionAttributeValues: { ':user': userId, ':from': fromStart, ':to': toStart },
        // Consistent: the aggregator merged before it put the partial on stream 2; this read sees it.
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) windows.push(itemToActivity(item));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return windows;
}

export function userWindowKey(userId: string, windowStart: string): string {
  return `${userId}|${windowStart}`;
}
