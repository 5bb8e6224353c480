/**
 * DynamoDB key schemas of the consumers' tables. The CDK stack creates the tables from `DYNAMO_TABLES`;
 * the local stack creates what the synthesized template holds, so the handlers, the emulator and AWS
 * agree on one definition. Plain data, so it sits in core: the consumers, infra, local and the smoke
 * probes all read it, and none of them should depend on another for it.
 */
import type { ResourceNames } from './resources.ts';

export type KeyAttributeType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  name: string;
  type: KeyAttributeType;
}

export interface DynamoTableSpec {
  /** Which ResourceNames entry names this table. */
  resource: 'userActivityTable' | 'alertDedupeTable';
  tableName: string;
  /** Partition key first, then the sort key if any. */
  keys: readonly [KeyAttribute] | readonly [KeyAttribute, KeyAttribute];
  /** Epoch-seconds attribute DynamoDB TTL expires items by. */
  ttlAttribute?: string;
}

/** Epoch seconds; DynamoDB TTL deletes the item some time after this instant. */
export const TTL_ATTRIBUTE = 'expires_at';

/**
 * user-activity: one item per (user, event-time window), the idempotent merge of all partials.
 * `window_start` is ISO-8601 UTC, so a user's windows sort by time within the partition. One window
 * length per table: the length is an attribute, not part of the key.
 */
export const USER_ACTIVITY_KEY = { partition: 'user_id', sort: 'window_start' } as const;

/** alert-dedupe: one item per (user, window, rule) alert; `alert_id` is `user#window_start#rule`. */
export const ALERT_DEDUPE_KEY = { partition: 'alert_id' } as const;

export const DEFAULT_TTL_DAYS = 30;

export function DYNAMO_TABLES(
  names: Pick<ResourceNames, 'userActivityTable' | 'alertDedupeTable'>,
): DynamoTableSpec[] {
  return [
    {
      resource: 'userActivityTable',
      tableName: names.userActivityTable,
      keys: [
        { name: USER_ACTIVITY_KEY.partition, type: 'S' },
        { name: USER_ACTIVITY_KEY.sort, type: 'S' },
      ],
      ttlAttribute: TTL_ATTRIBUTE,
    },
    {
      resource: 'alertDedupeTable',
      tableName: names.alertDedupeTable,
      keys: [{ name: ALERT_DEDUPE_KEY.partition, type: 'S' }],
      ttlAttribute: TTL_ATTRIBUTE,
    },
  ];
}
