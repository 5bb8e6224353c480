/**
 * What the runner knows of one shard: where it reads, what it has buffered, the open tumbling window,
 * the checkpoint; and the Lambda-shaped records it buffers.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
 */
import type { _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from '../../consumers/kinesis-event.ts';

// Overhead of one record in the event JSON besides its data (ids, ARNs, field names).
const RECORD_ENVELOPE_BYTES = 400;

export interface BufferedRecord {
  record: KinesisStreamRecord;
  arrivalMs: number;
  bytes: number;
}

export interface OpenWindow {
  startMs: number;
  endMs: number;
  /** Serialized, as Lambda keeps it between invocations. */
  stateJson: string;
}

export interface ShardCursor {
  shardId: string;
  iterator: string | undefined;
  buffer: BufferedRecord[];
  /** Local time the first buffered record was read (batching window). */
  bufferSinceMs: number;
  window: OpenWindow | undefined;
  checkpoint: string | null;
  /** Start time of the last GetRecords that found the shard read to its end. */
  caughtUpPollStartedMs: number;
  caughtUp: boolean;
  busy: boolean;
  closed: boolean;
  /** The last failed invocation's error, until one succeeds: what a stalled drain reports. */
  lastError: string | undefined;
  /** Start of the invocation in flight: a long one is work, not a stall (a failed one is no progress). */
  invokingSinceMs: number | undefined;
  /** Start of the last GetRecords call. */
  lastPollStartedMs: number;
  /** The last call came back full: more is there, read again at once. */
  behind: boolean;
  /** GetRecords calls throttled in a row. */
  throttledPolls: number;
  /** The last record read from the shard (or the checkpoint resumed from): where a new iterator starts. */
  readTo: string | null;
}

/** A shard about to be read from `iterator`, resuming at `checkpoint` with the window saved then, if any. */
export function newShardCursor(
  shardId: string,
  iterator: string | undefined,
  resume: { checkpoint: string | null; window: OpenWindow | undefined },
): ShardCursor {
  return {
    shardId,
    iterator,
    buffer: [],
    bufferSinceMs: 0,
    window: resume.window,
    checkpoint: resume.checkpoint,
    caughtUpPollStartedMs: 0,
    caughtUp: false,
    busy: false,
    closed: false,
    lastError: undefined,
    invokingSinceMs: undefined,
    lastPollStartedMs: Number.NEGATIVE_INFINITY,
    behind: false,
    throttledPolls: 0,
    readTo: resume.checkpoint,
  };
}

/** Who reads the stream: what the records of a Lambda event name as their source and identity. */
export interface RecordSource {
  streamArn: string;
  region: string;
  accountId: string;
  functionName: string;
}

/** A Kinesis record as Lambda hands it to the function, with its arrival time and its size in the event. */
export function toLambdaRecord(source: RecordSource, shardId: string, record: KinesisRecord): BufferedRecord {
  const data = Buffer.from(record.Data ?? new Uint8Array()).toString('base64');
  const arrivalMs = record.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
  const sequenceNumber = record.SequenceNumber ?? '';
  return {
    arrivalMs,
    bytes: data.length + RECORD_ENVELOPE_BYTES,
    record: {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.PartitionKey ?? '',
        sequenceNumber,
        data,
        approximateArrivalTimestamp: arrivalMs / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: `arn:aws:iam::${source.accountId}:role/${source.functionName}-role`,
      awsRegion: source.region,
      eventSourceARN: source.streamArn,
    },
  };
}
