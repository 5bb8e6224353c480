/**
 * What the incident keeper's parts (incidents.ts, outbox.ts, incident-closing.ts) share, in a module of
 * its own so that none of them imports another for its types, and none imports the processor that
 * creates the keeper.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertContext } from '../../core/alert-message.ts';
import type { IncidentSettings } from '../../core/incident.ts';
import type { Logger } from '../logger.ts';
import type { Deliver } from './delivery.ts';
import type { IncidentStore } from './incident-store.ts';

/** What incident keeping needs of the alerter's configuration (processor.ts's AlerterConfig has these fields). */
export interface IncidentKeeperConfig extends AlertContext {
  dynamo: DynamoDBDocumentClient;
  userActivityTable: string;
  /** Users evaluated in parallel. */
  concurrency?: number;
}

export interface IncidentCounters {
  opened: number;
  followUps: number;
  closed: number;
  /** Windows whose breaches fell to an already closed incident. */
  lateBreaches: number;
  sent: number;
  duplicatesSuppressed: number;
}

/** What the keeper's parts work with: the alerter's settings and store, how to send, and the counters. */
export interface KeeperContext {
  config: IncidentKeeperConfig;
  settings: IncidentSettings;
  store: IncidentStore;
  deliver: Deliver;
  logger: Logger;
  now: () => number;
  counters: IncidentCounters;
}
