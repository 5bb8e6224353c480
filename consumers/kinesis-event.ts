/**
 * The Kinesis event Lambda delivers, with the tumbling-window fields @types/aws-lambda leaves out
 * (`shardId`, `eventSourceARN`), as documented in
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html. The local runner builds
 * exactly this shape.
 */
import type { KinesisStreamBatchItemFailure, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export type { KinesisStreamBatchItemFailure, KinesisStreamEvent, KinesisStreamRecord };

export interface KinesisWindowEvent<State = Record<string, unknown>> extends KinesisStreamEvent {
  window?: { start: string; end: string };
  state?: State;
  shardId?: string;
  eventSourceARN?: string;
  isFinalInvokeForWindow?: boolean;
  isWindowTerminatedEarly?: boolean;
}

/**
 * Written here, not with Powertools' batch utility: its processPartialResponse runs a handler per record
 * and answers `{ batchItemFailures }` alone, while the aggregator must answer `{ state, batchItemFailures }`
 * and retries whole batches from its checkpointed state, and the alerter fails all records of a
 * (user, window) group together after one evaluation of the group.
 */
export interface KinesisHandlerResponse<State = Record<string, unknown>> {
  /** Required with tumbling windows: AWS treats a response without `state` as a failed invocation. */
  state?: State;
  batchItemFailures?: KinesisStreamBatchItemFailure[];
}

export type KinesisHandler<State = Record<string, unknown>> = (
  event: KinesisWindowEvent<State>,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is valid Lambda code (AWS treats it as success).
) => Promise<KinesisHandlerResponse<State> | undefined | void>;

/** `shardId-000000000001:4959…` → `shardId-000000000001`. */
export function shardIdOf(event: KinesisWindowEvent<unknown>): string {
  if (event.shardId) return event.shardId;
  const eventId = event.Records[0]?.eventID ?? '';
  const colon = eventId.indexOf(':');
  return colon > 0 ? eventId.slice(0, colon) : 'unknown-shard';
}

// Decoding into one reused buffer saves a Buffer allocation per record on the aggregator's hot path.
// Grown on demand: Kinesis records are at most 1 MiB.
let scratch = Buffer.allocUnsafe(64 * 1024);

/** The record's bytes, as a view valid until the next call (decoded into a shared buffer). */
export function recordBytes(record: KinesisStreamRecord): Buffer {
  const data = record.kinesis.data;
  // base64 decodes to at most 3 bytes per 4 characters.
  const maxBytes = Math.ceil(data.length / 4) * 3;
  if (maxBytes > scratch.length) scratch = Buffer.allocUnsafe(maxBytes);
  const length = scratch.write(data, 'base64');
  return scratch.subarray(0, length);
}

export function recordText(record: KinesisStreamRecord): string {
  return recordBytes(record).toString('utf8');
}
