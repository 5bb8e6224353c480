/**
 * What `clickstream redrive` reads, parsed and checked before anything is sent: the producer's
 * failed-records files, the window aggregator's dead letters, and the on-failure records of batches the
 * aggregator's event source mapping gave up on. Pure functions, so the rules are tested on their own;
 * producer/redrive.ts reads the files, objects and messages and sends.
 */
import type { MalformedRecord } from '../consumers/dead-letter.ts';
import type { EventRecord } from '../core/event.ts';
import { KplFormatError, userRecordsOf } from '../core/kpl.ts';
import { type MalformedReason, readEventRecord } from '../core/window.ts';
import { ProducerError } from './errors.ts';

export class RedriveError extends ProducerError {
  override name = 'RedriveError';
}

/** One event of a failed-records file, its body exactly as the producer built it (event_id included). */
export interface FailedRecordEntry {
  /** The event's line in its source CSV (0 when unknown). */
  line: number;
  partitionKey: string;
  /** The event body as JSON. */
  json: string;
  event: EventRecord;
}

/**
 * Parses a failed-records file (producer/rejects.ts `failedRecordsFile`): one JSON object per line with
 * `partitionKey` and `record`. A line that is not one is an error naming the line, thrown before
 * anything is sent: a wrong file (a CSV, a dead-letter file) must not be half re-driven.
 */
export function parseFailedRecords(text: string, file: string): FailedRecordEntry[] {
  const entries: FailedRecordEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]?.trim() ?? '';
    if (raw === '') continue;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new RedriveError(`${where} is not JSON`, FAILED_RECORDS_HINT);
    }
    const entry = value as { line?: unknown; partitionKey?: unknown; record?: unknown };
    if (typeof entry !== 'object' || entry === null || typeof entry.partitionKey !== 'string')
      throw new RedriveError(`${where} is not a failed-records entry (no partitionKey)`, FAILED_RECORDS_HINT);
    if (entry.partitionKey === '' || Buffer.byteLength(entry.partitionKey) > 256)
      throw new RedriveError(`${where}: partitionKey must be 1-256 bytes`, FAILED_RECORDS_HINT);
    if (typeof entry.record !== 'object' || entry.record === null)
      throw new RedriveError(`${where} is not a failed-records entry (no record)`, FAILED_RECORDS_HINT);
    const json = JSON.stringify(entry.record);
    const read = readEventRecord(json);
    if (!read.ok)
      throw new RedriveError(`${where}: the record is not an event (${read.detail})`, FAILED_RECORDS_HINT);
    entries.push({
      line: typeof entry.line === 'number' && Number.isInteger(entry.line) ? entry.line : 0,
      partitionKey: entry.partitionKey,
      json,
      event: read.event,
    });
  }
  return entries;
}

const FAILED_RECORDS_HINT =
  'pass the file replay wrote (its summary names it, e.g. .clickstream/<source>.failed.jsonl) and nothing else; the file was not changed and nothing was sent';

/** One dead letter as the aggregator wrote it, with where it was read from. */
export interface DeadLetter {
  record: MalformedRecord;
  /** `file:line` or `s3://bucket/key:line`. */
  where: string;
}

/** Parses one dead-letter file (consumers/dead-letter.ts: one MalformedRecord per line). */
export function parseDeadLetters(text: string, location: string): DeadLetter[] {
  const letters: DeadLetter[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]?.trim() ?? '';
    if (raw === '') continue;
    const where = `${location}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new RedriveError(`${where} is not JSON`, DEAD_LETTER_HINT);
    }
    const record = value as Partial<MalformedRecord>;
    if (
      typeof record !== 'object' ||
      record === null ||
      typeof record.data !== 'string' ||
      typeof record.partitionKey !== 'string' ||
      typeof record.sequenceNumber !== 'string' ||
      typeof record.shardId !== 'string'
    ) {
      throw new RedriveError(
        `${where} is not a dead letter (data, partitionKey, shard, sequence)`,
        DEAD_LETTER_HINT,
      );
    }
    letters.push({ record: record as MalformedRecord, where });
  }
  return letters;
}

const DEAD_LETTER_HINT =
  'only the files the aggregator wrote belong under the dead-letter location; nothing was sent';

/** A dead letter read again with the current code: the events it now holds, or why it still fails. */
export type Reparsed =
  | { ok: true; events: Array<{ json: string; event: EventRecord }> }
  | {
      ok: false;
      reason: MalformedReason;
      detail: string;
      events: Array<{ json: string; event: EventRecord }>;
    };

/**
 * Reads a dead letter's bytes as the aggregator would today: a KPL aggregate is taken apart, and each
 * event is read with `readEventRecord`. The events that read are returned either way (re-sending them
 * is harmless: their ids count once); the letter is `ok` only when all of it reads.
 */
export function reparseDeadLetter(record: MalformedRecord): Reparsed {
  const bytes = Buffer.from(record.data, 'base64');
  let bodies: Uint8Array[];
  try {
    bodies = userRecordsOf(bytes, record.partitionKey).map((user) => user.data);
  } catch (error) {
    const detail = error instanceof KplFormatError ? error.message : String(error);
    return { ok: false, reason: 'bad_aggregate', detail, events: [] };
  }
  const events: Array<{ json: string; event: EventRecord }> = [];
  let failure: { reason: MalformedReason; detail: string } | undefined;
  for (const body of bodies) {
    const json = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    const read = readEventRecord(json);
    if (read.ok) events.push({ json, event: read.event });
    else failure ??= { reason: read.reason, detail: read.detail };
  }
  return failure ? { ok: false, ...failure, events } : { ok: true, events };
}

/**
 * The shard and sequence range of a batch Lambda gave up on, as its on-failure destination receives it
 * (SQS message body in AWS, a line of the local runner's file): metadata only, the records stay in the
 * stream until its retention ends.
 * https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 */
export interface FailureRange {
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  /** Kinesis records in the batch (an aggregate counts once). */
  batchSize: number;
  streamArn: string;
  /** Epoch ms. */
  firstArrivalMs: number;
  lastArrivalMs: number;
}

const SEQUENCE = /^\d{1,129}$/;

/** The range in an on-failure record, or why it is not one (the caller keeps such a message). */
export function parseFailureRecord(body: unknown): FailureRange | { invalid: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { invalid: 'not JSON' };
    }
  }
  const info = (value as { KinesisBatchInfo?: Record<string, unknown> } | null)?.KinesisBatchInfo;
  if (typeof info !== 'object' || info === null) return { invalid: 'no KinesisBatchInfo' };
  const { shardId, startSequenceNumber, endSequenceNumber, batchSize, streamArn } = info;
  if (typeof shardId !== 'string' || shardId === '') return { invalid: 'no shardId' };
  if (typeof startSequenceNumber !== 'string' || !SEQUENCE.test(startSequenceNumber))
    return { invalid: 'no startSequenceNumber' };
  if (typeof endSequenceNumber !== 'string' || !SEQUENCE.test(endSequenceNumber))
    return { invalid: 'no endSequenceNumber' };
  if (BigInt(endSequenceNumber) < BigInt(startSequenceNumber))
    return { invalid: 'endSequenceNumber is before startSequenceNumber' };
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1)
    return { invalid: 'no batchSize' };
  if (typeof streamArn !== 'string' || streamNameOfArn(streamArn) === undefined)
    return { invalid: 'no streamArn' };
  const first = Date.parse(String(info.approximateArrivalOfFirstRecord));
  const last = Date.parse(String(info.approximateArrivalOfLastRecord));
  if (Number.isNaN(first) || Number.isNaN(last)) return { invalid: 'no arrival times' };
  return {
    shardId,
    startSequenceNumber,
    endSequenceNumber,
    batchSize,
    streamArn,
    firstArrivalMs: first,
    lastArrivalMs: last,
  };
}

/** `arn:aws:kinesis:us-east-1:123456789012:stream/name` → `name`. */
export function streamNameOfArn(arn: string): string | undefined {
  return /^arn:[\w-]+:kinesis:[\w-]*:\d*:stream\/([A-Za-z0-9_.-]{1,128})$/.exec(arn)?.[1];
}

/** Where a sequence number lies relative to a range. Sequence numbers are decimal strings over 2^64. */
export function positionInRange(sequenceNumber: string, range: FailureRange): 'before' | 'in' | 'after' {
  const at = BigInt(sequenceNumber);
  if (at < BigInt(range.startSequenceNumber)) return 'before';
  return at > BigInt(range.endSequenceNumber) ? 'after' : 'in';
}

/**
 * Whether a range's records can still be in the stream: records expire by arrival time once the
 * stream's retention has passed. `partly`: the first ones may be gone, the last ones not yet.
 */
export function retentionOf(
  range: FailureRange,
  retentionHours: number,
  nowMs: number,
): 'within' | 'partly' | 'expired' {
  const horizon = nowMs - retentionHours * 3_600_000;
  if (range.lastArrivalMs < horizon) return 'expired';
  return range.firstArrivalMs < horizon ? 'partly' : 'within';
}

/**
 * What a re-read of a range found: `complete` when the first record read is the range's start, the last
 * is its end, and there are as many as the batch held. Records missing at the front were trimmed.
 */
export function rangeCompleteness(
  range: FailureRange,
  sequenceNumbers: readonly string[],
): { complete: boolean; missing: number; trimmedFront: boolean } {
  const first = sequenceNumbers[0];
  const last = sequenceNumbers[sequenceNumbers.length - 1];
  const trimmedFront = first === undefined || BigInt(first) > BigInt(range.startSequenceNumber);
  const missing = Math.max(0, range.batchSize - sequenceNumbers.length);
  const complete =
    !trimmedFront &&
    missing === 0 &&
    last !== undefined &&
    BigInt(last) === BigInt(range.endSequenceNumber) &&
    first !== undefined &&
    BigInt(first) === BigInt(range.startSequenceNumber);
  return { complete, missing, trimmedFront };
}
