/**
 * Where the alerter keeps incidents between invocations: in the alert-dedupe table, beside the email
 * claims, under keys no claim can have (claims are `<incident>#<step>`):
 *   - `incident#<user>`: the user's current incident (core/incident.ts) as JSON, a version for optimistic
 *     concurrency (a timed-out invocation's late work may still write), and an outbox of the emails its
 *     transitions called for and that are not delivered yet, each with its claim id;
 *   - `open-incidents`: a string set of `<user>|<version>` entries, one added before each write that
 *     opens an incident (with the version that write gives the item), so closing needs no scan. An
 *     entry goes once the item has at least that version and its incident is closed: an entry whose
 *     write has not landed yet (another invocation is opening it) is left alone.
 *   - `watermark`: the latest window end seen on the user-activity stream (event time);
 *   - `incident-archive#<incident>`: each closed incident as it was closed, for reports (the user's item
 *     moves on to the next incident).
 * Every write is idempotent or conditional, so retries and redelivered records change nothing twice.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertMessage } from '../../core/alert-message.ts';
import { ALERT_DEDUPE_KEY, TTL_ATTRIBUTE } from '../../core/dynamo-tables.ts';
import type { Incident } from '../../core/incident.ts';
import { isAwsError } from '../errors.ts';

/** Conditional writes lost to a concurrent writer before giving up (the record is then retried). */
export const WRITE_ATTEMPTS = 5;

export const INCIDENT_KEY_PREFIX = 'incident#';
const ARCHIVE_KEY_PREFIX = 'incident-archive#';
const OPEN_INCIDENTS_KEY = 'open-incidents';
const WATERMARK_KEY = 'watermark';

/** An email an incident transition called for, waiting for delivery. */
export interface OutboxEntry extends AlertMessage {
  /** Delivery order within the incident. */
  seq: number;
  /** The alert-dedupe claim that makes its delivery exactly once: `<incident id>#<step>`. */
  claimId: string;
}

export interface StoredIncident {
  incident: Incident;
  version: number;
  outbox: Record<string, OutboxEntry>;
  /** Wall-clock ms of the last write that changed the incident's breaches (the close grace counts from it). */
  changedAt: number;
}

/** An incident opened by the write that gave the user's item this version. */
export interface OpenEntry {
  userId: string;
  version: number;
}

const entryText = (entry: OpenEntry) => `${entry.userId}|${entry.version}`;

export interface IncidentStore {
  read(userId: string): Promise<StoredIncident | undefined>;
  /** Writes `next` if the stored version is still `expectedVersion` (undefined: no item yet). */
  write(next: StoredIncident, expectedVersion: number | undefined): Promise<boolean>;
  removeFromOutbox(userId: string, step: string): Promise<void>;
  markOpen(entry: OpenEntry): Promise<void>;
  markClosed(entry: OpenEntry): Promise<void>;
  openEntries(): Promise<OpenEntry[]>;
  /** Raises the stored watermark to `windowEndMs` if it is later; returns the stored one. */
  advanceWatermark(windowEndMs: number): Promise<number>;
  /** Keeps a closed incident for reports (idempotent). */
  archive(incident: Incident): Promise<void>;
}

export function createIncidentStore(options: {
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  ttlSeconds: number;
  now: () => number;
}): IncidentStore {
  const { dynamo, tableName } = options;
  const key = (id: string) => ({ [ALERT_DEDUPE_KEY.partition]: id });
  const get = async (id: string) =>
    (await dynamo.send(new GetCommand({ TableName: tableName, Key: key(id), ConsistentRead: true }))).Item;

  return {
    async read(userId) {
      const item = await get(`${INCIDENT_KEY_PREFIX}${userId}`);
      if (!item) return undefined;
      return {
        incident: JSON.parse(String(item.incident)) as Incident,
        version: Number(item.version),
        outbox: (item.outbox ?? {}) as Record<string, OutboxEntry>,
        changedAt: Number(item.changed_at ?? 0),
      };
    },

    async write(next, expectedVersion) {
      const { incident } = next;
      try {
        await dynamo.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              ...key(`${INCIDENT_KEY_PREFIX}${incident.userId}`),
              kind: 'incident',
              // `open`/`closed`: never `sent`, so counting sent emails never counts an incident.
              status: incident.status,
              user_id: incident.userId,
              incident_id: incident.id,
              version: next.version,
              incident: JSON.stringify(incident),
              outbox: next.outbox,
              changed_at: next.changedAt,
              [TTL_ATTRIBUTE]: Math.floor(options.now() / 1000) + options.ttlSeconds,
            },
            ConditionExpression:
              expectedVersion === undefined ? 'attribute_not_exists(#id)' : '#version = :expected',
            ExpressionAttributeNames:
              expectedVersion === undefined
                ? { '#id': ALERT_DEDUPE_KEY.partition }
                : { '#version': 'version' },
            ...(expectedVersion === undefined
              ? {}
              : { ExpressionAttributeValues: { ':expected': expectedVersion } }),
          }),
        );
        return true;
      } catch (error) {
        if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
        throw error;
      }
    },

    async removeFromOutbox(userId, step) {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(`${INCIDENT_KEY_PREFIX}${userId}`),
          UpdateExpression: 'REMOVE #outbox.#step',
          ExpressionAttributeNames: { '#outbox': 'outbox', '#step': step },
        }),
      );
    },

    async markOpen(entry) {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(OPEN_INCIDENTS_KEY),
          UpdateExpression: 'ADD #entries :entry',
          ExpressionAttributeNames: { '#entries': 'entries' },
          ExpressionAttributeValues: { ':entry': new Set([entryText(entry)]) },
        }),
      );
    },

    async markClosed(entry) {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(OPEN_INCIDENTS_KEY),
          UpdateExpression: 'DELETE #entries :entry',
          ExpressionAttributeNames: { '#entries': 'entries' },
          ExpressionAttributeValues: { ':entry': new Set([entryText(entry)]) },
        }),
      );
    },

    async openEntries() {
      const entries = (await get(OPEN_INCIDENTS_KEY))?.entries;
      if (!(entries instanceof Set)) return [];
      return [...(entries as Set<string>)].sort().map((text) => {
        const at = text.lastIndexOf('|');
        return { userId: text.slice(0, at), version: Number(text.slice(at + 1)) };
      });
    },

    async archive(incident) {
      await dynamo.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...key(`${ARCHIVE_KEY_PREFIX}${incident.id}`),
            kind: 'incident-archive',
            status: incident.status,
            user_id: incident.userId,
            incident_id: incident.id,
            incident: JSON.stringify(incident),
            [TTL_ATTRIBUTE]: Math.floor(options.now() / 1000) + options.ttlSeconds,
          },
        }),
      );
    },

    async advanceWatermark(windowEndMs) {
      try {
        const result = await dynamo.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key(WATERMARK_KEY),
            UpdateExpression: 'SET #wm = :wm',
            ConditionExpression: 'attribute_not_exists(#wm) OR #wm < :wm',
            ExpressionAttributeNames: { '#wm': 'watermark_ms' },
            ExpressionAttributeValues: { ':wm': windowEndMs },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return Number(result.Attributes?.watermark_ms ?? windowEndMs);
      } catch (error) {
        if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
        return Number((await get(WATERMARK_KEY))?.watermark_ms ?? windowEndMs);
      }
    },
  };
}

/** An incident as a report shows it, with the emails sent for it. */
export interface IncidentRecord {
  incident: Incident;
  emails: number;
}

/**
 * Every incident in scanned alert-dedupe items: the archived (closed) ones and each user's current one,
 * once each, with the emails marked sent for it; ordered by first breach.
 */
export function incidentsFromItems(items: Iterable<Record<string, unknown>>): IncidentRecord[] {
  const incidents = new Map<string, Incident>();
  const emails = new Map<string, number>();
  for (const item of items) {
    if ((item.kind === 'incident' || item.kind === 'incident-archive') && typeof item.incident === 'string') {
      const incident = JSON.parse(item.incident) as Incident;
      // The archive is final; a user's item may still show the incident open.
      if (item.kind === 'incident-archive' || !incidents.has(incident.id))
        incidents.set(incident.id, incident);
    } else if (item.status === 'sent' && typeof item.incident_id === 'string') {
      emails.set(item.incident_id, (emails.get(item.incident_id) ?? 0) + 1);
    }
  }
  return [...incidents.values()]
    .sort((a, b) => a.firstBreachWindow.localeCompare(b.firstBreachWindow) || a.id.localeCompare(b.id))
    .map((incident) => ({ incident, emails: emails.get(incident.id) ?? 0 }));
}
