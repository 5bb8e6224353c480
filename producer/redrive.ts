/**
 * `clickstream redrive`: sends what the pipeline could not process back into the events stream, from
 * the three places it is kept (docs/operations.md, "Where unprocessed data is kept"):
 *
 * - **failed records**: events Kinesis kept refusing to the producer, in replay's failed-records file,
 *   each with its body and partition key: sent again as they are.
 * - **dead letters**: stream records the window aggregator could not parse, kept whole (S3 under
 *   `dead-letter/window-aggregator/` in AWS, files in the local stack's work dir). Each is read again
 *   with the current code; the events that read now are sent, keyed as replay keys them (by category);
 *   the ones that still do not are counted by reason and left where they are.
 * - **the failure queue**: the shard and sequence range of each batch the aggregator's event source
 *   mapping gave up on (SQS in AWS, a file locally). Each range is read again from the stream
 *   (GetShardIterator AT_SEQUENCE_NUMBER, GetRecords up to its end) and its records are put back
 *   unchanged; the message is deleted once all of them are back. A range older than the stream's
 *   retention is reported as lost to retention, and its message kept.
 *
 * Re-sending is idempotent: every event keeps the event_id it was first sent with, and the aggregator
 * merges per-type sets of ids, so an event that was counted already changes no total (and the alerter's
 * dedupe table sends no second mail). Running the command twice is therefore safe.
 *
 * `redriveToStream` is the library entry (tests call it in-process); `redrive` takes the command's
 * flags, checked here, and a RunContext; cli/commands/redrive.ts declares the flags.
 */

import { existsSync } from 'node:fs';
import { appendFile, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { createKinesisClient, createS3Client, createSqsClient } from '../adapters/clients.ts';
import { GET_RECORDS_MAX_RECORDS, readToTip, shardIterator } from '../adapters/kinesis-shards.ts';
import type { RunContext } from '../adapters/run-context.ts';
import { clientOptions } from '../adapters/target.ts';
import { DEAD_LETTER_PREFIX } from '../consumers/dead-letter.ts';
import type { EventRecord } from '../core/event.ts';
import { integerFlag } from '../core/flags.ts';
import type { ResourceNames } from '../core/resources.ts';
import {
  type Batch,
  KINESIS_LIMITS,
  maxEventBytes,
  type OutgoingRecord,
  PARTITION_KEY_FIELDS,
  type PartitionKeyField,
  type Settlement,
  ShardBatcher,
} from './batcher.ts';
import { fatalAwsError } from './errors.ts';
import {
  type DeadLetter,
  type FailureRange,
  parseDeadLetters,
  parseFailedRecords,
  parseFailureRecord,
  positionInRange,
  RedriveError,
  rangeCompleteness,
  reparseDeadLetter,
  retentionOf,
  streamNameOfArn,
} from './redrive-sources.ts';
import { failedRecordsFile } from './rejects.ts';
import { KinesisSender } from './sender.ts';
import { loadShardMap, type ShardMap, ShardRateLimiter } from './shards.ts';

export { RedriveError } from './redrive-sources.ts';

/** Which consumer's dead letters and failure queue are re-driven (its input is the events stream). */
export const REDRIVEN_CONSUMER = 'window-aggregator';
/** The aggregator's dead letters: under this prefix in the raw bucket, or this folder of a local work dir. */
export const AGGREGATOR_DEAD_LETTERS = `${DEAD_LETTER_PREFIX}${REDRIVEN_CONSUMER}/`;
/** While a run re-drives the local on-failure file, its lines are here; a crashed run's are taken up next time. */
const CLAIM_SUFFIX = '.redriving';
/** How long a received message stays invisible to others while this run works on it. */
const VISIBILITY_TIMEOUT_SECONDS = 900;

export type DeadLetterLocation =
  | { kind: 'directory'; path: string }
  | { kind: 's3'; s3: S3Client; bucket: string; prefix: string };

export type FailureQueueLocation =
  | { kind: 'file'; path: string }
  | {
      kind: 'sqs';
      sqs: SQSClient;
      queueUrl: string;
      visibilityTimeoutSeconds?: number;
      waitSeconds?: number;
    };

export interface RedriveToStreamOptions {
  /** Puts (give it `maxAttempts: 1`: the sender runs its own retries). */
  kinesis: KinesisClient;
  /** Reads of parked ranges (SDK retries welcome); default `kinesis`. */
  reader?: KinesisClient;
  streamName: string;
  failedRecords?: readonly string[];
  deadLetters?: DeadLetterLocation;
  failureQueue?: FailureQueueLocation;
  /** Whose queue `failureQueue` is, for progress (default the aggregator's: 'failure queue'). */
  failureQueueSource?: Extract<SourceName, 'failure queue' | 'alerter failure queue'>;
  /** How dead letters that read now are keyed (default category_id, as replay). */
  partitionKey?: PartitionKeyField;
  /** Read and parse everything, re-read the ranges, send and delete nothing. */
  dryRun?: boolean;
  /** Where events Kinesis refuses again go (failed-records format). */
  failedOut: string;
  aggregate?: boolean;
  concurrency?: number;
  maxRetries?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  random?: () => number;
  now?: () => number;
  signal?: AbortSignal;
  onProgress?: (progress: RedriveProgress) => void;
  progressIntervalMs?: number;
  /** One line about something kept back (a range lost to retention, a message that is no range). */
  onNote?: (line: string) => void;
}

export interface RedriveProgress {
  source: SourceName;
  /** Events, dead letters or ranges read, by source. */
  read: number;
  /** Events (or, for the failure queue, stream records) acknowledged by Kinesis so far. */
  resent: number;
  stillFailing: number;
  lostToRetention: number;
}

export type SourceName = 'failed records' | 'dead letters' | 'failure queue' | 'alerter failure queue';

/** Per source; in a dry run, `resent` counts what would be sent. */
export interface SourceCounts {
  read: number;
  resent: number;
  /** Not re-driven, and kept: still unparseable, refused again by Kinesis, unreadable. */
  stillFailing: number;
  lostToRetention: number;
}

export interface FailedRecordsSummary extends SourceCounts {
  /** Counts are events. */
  files: string[];
  /** Of stillFailing: refused by Kinesis again, written to failedOut. */
  refused: number;
}

export interface DeadLettersSummary extends SourceCounts {
  /** Counts are dead letters (a bad aggregate is one, whatever it held). */
  location: string;
  objects: number;
  /** Events sent from the dead letters that read now. */
  events: number;
  /** Why the ones still failing fail, as the aggregator would say. */
  byReason: Record<string, number>;
  refused: number;
}

export interface FailureQueueSummary extends SourceCounts {
  /** Counts are ranges (one per message). */
  location: string;
  /** Kinesis records read back from the stream, and put again. */
  records: number;
  recordsResent: number;
  /** Records of the ranges lost to retention that were no longer in the stream. */
  recordsLost: number;
  /** Messages deleted (their range is back on the stream) and kept. */
  deleted: number;
  kept: number;
  /** Why ranges were kept, by reason. */
  byReason: Record<string, number>;
  retentionHours?: number;
}

export interface RedriveSummary {
  stream: string;
  dryRun: boolean;
  failedRecords?: FailedRecordsSummary;
  deadLetters?: DeadLettersSummary;
  failureQueue?: FailureQueueSummary;
  /** The bot alerter's parked ranges, put back on the stream it reads (not `stream`). */
  alerterFailureQueue?: FailureQueueSummary & { stream: string };
  /** Events Kinesis refused again, in the failed-records format (redrive it later). */
  failedOut?: string;
  /** Everything read was re-driven (or, in a dry run, would be sent). */
  complete: boolean;
  interrupted: boolean;
  durationMs: number;
}

/** An event's or a raw record's fate, told by the sender. */
class Outcome implements Settlement {
  sent = 0;
  refused = 0;
  settle(): void {}
}

interface RawOwner extends Settlement {
  raw: true;
  outcome: Outcome;
}

export async function redriveToStream(options: RedriveToStreamOptions): Promise<RedriveSummary> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const partitionKey = options.partitionKey ?? 'category_id';
  if (!PARTITION_KEY_FIELDS.includes(partitionKey)) {
    throw new RedriveError(
      `cannot partition by ${partitionKey}`,
      `use one of: ${PARTITION_KEY_FIELDS.join(', ')}`,
    );
  }
  if (!options.failedRecords?.length && !options.deadLetters && !options.failureQueue)
    throw new RedriveError('nothing to re-drive', SOURCES_HINT);

  // Everything read and checked first: a file that is not what it should be stops the run before a
  // single record is sent (and leaves every file as it was).
  const failedInputs = await readFailedRecords(options.failedRecords ?? [], options.failedOut);
  const letters = options.deadLetters ? await readDeadLetters(options.deadLetters) : undefined;

  // Listing the shards is also the preflight: a missing stream or no credentials fail here, cleanly.
  const shardMap = await loadShardMap(options.kinesis, options.streamName);
  const failedFile = failedRecordsFile(options.failedOut);
  const run = startRun(options, { shardMap, failedFile, dryRun, partitionKey });
  const timer = options.onProgress
    ? setInterval(() => options.onProgress?.({ ...run.progress }), options.progressIntervalMs ?? 250)
    : undefined;
  timer?.unref();

  const summary: RedriveSummary = {
    stream: options.streamName,
    dryRun,
    complete: true,
    interrupted: false,
    durationMs: 0,
  };
  try {
    if (failedInputs.files.length > 0) summary.failedRecords = await redriveFailedRecords(run, failedInputs);
    if (letters && !run.interrupted) summary.deadLetters = await redriveDeadLetters(run, letters);
    if (options.failureQueue && !run.interrupted) {
      summary.failureQueue = await redriveFailureQueue(run, options.failureQueue);
    }
  } finally {
    if (timer) clearInterval(timer);
    const failedOut = await failedFile.close();
    if (failedOut) summary.failedOut = failedOut;
  }
  summary.interrupted = run.interrupted;
  const parts: SourceCounts[] = [];
  for (const part of [summary.failedRecords, summary.deadLetters, summary.failureQueue])
    if (part) parts.push(part);
  summary.complete =
    !run.interrupted && parts.every((part) => part.stillFailing === 0 && part.lostToRetention === 0);
  summary.durationMs = Math.round(performance.now() - started);
  return summary;
}

/** What the three sources of one run share: the sender and its batcher, the live progress, the notes. */
interface RedriveRun {
  options: RedriveToStreamOptions;
  dryRun: boolean;
  partitionKey: PartitionKeyField;
  signal: AbortSignal | undefined;
  note: (line: string) => void;
  now: () => number;
  /** Live counts of the source being re-driven, for onProgress. */
  progress: RedriveProgress;
  /** Set when the signal stopped a source: the sources after it are not started. */
  interrupted: boolean;
  startSource(source: SourceName): void;
  /** Queues one event for sending; false when it is too large for a record (still failing). */
  addEvent(key: string, line: number, json: string, owner: Outcome): Promise<boolean>;
  /** Sends what is queued and waits for every answer. */
  flushEvents(): Promise<void>;
  /** Puts stream records back unchanged (data and partition key); an aggregate lands on the shard of its first key, as before. */
  putRaw(records: readonly KinesisRecord[]): Promise<{ sent: number; refused: number }>;
}

function startRun(
  options: RedriveToStreamOptions,
  given: {
    shardMap: ShardMap;
    failedFile: ReturnType<typeof failedRecordsFile>;
    dryRun: boolean;
    partitionKey: PartitionKeyField;
  },
): RedriveRun {
  const { shardMap, failedFile, dryRun } = given;
  const aggregate = options.aggregate ?? true;
  const batcher = new ShardBatcher(
    shardMap.count,
    { maxRecords: KINESIS_LIMITS.maxRecordsPerCall, maxBytes: KINESIS_LIMITS.defaultBytesPerCall },
    aggregate
      ? { shardHashKeys: shardMap.shards.map((shard) => shard.startingHashKey.toString()) }
      : undefined,
  );
  const progress: RedriveProgress = {
    source: 'failed records',
    read: 0,
    resent: 0,
    stillFailing: 0,
    lostToRetention: 0,
  };
  const sender = new KinesisSender({
    kinesis: options.kinesis,
    streamName: options.streamName,
    limiter: new ShardRateLimiter(),
    concurrency: options.concurrency ?? 8,
    maxRetries: options.maxRetries ?? 10,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.random ? { random: options.random } : {}),
    onSent: (records) => {
      for (const record of records) {
        for (const event of record.events) outcomeOf(event.owner).sent++;
        // Live count for the progress bar (events, or records of a range); the summary counts per item.
        progress.resent += record.events.length;
        batcher.recycle(record);
      }
    },
    onFailed: (failures) => {
      // Written before their memory is recycled; a raw record's range keeps its message instead.
      const events = failures.filter((failure) => !isRaw(failure.record.events[0]?.owner));
      if (events.length > 0) failedFile.write(events);
      for (const { record } of failures) {
        for (const event of record.events) outcomeOf(event.owner).refused++;
        batcher.recycle(record);
      }
    },
  });

  return {
    options,
    dryRun,
    partitionKey: given.partitionKey,
    signal: options.signal,
    note: options.onNote ?? (() => undefined),
    now: options.now ?? Date.now,
    progress,
    interrupted: false,
    startSource: (source) => {
      Object.assign(progress, { source, read: 0, resent: 0, stillFailing: 0, lostToRetention: 0 });
    },
    addEvent: async (key, line, json, owner) => {
      const bytes = Buffer.byteLength(json, 'utf8');
      if (bytes > maxEventBytes(key, aggregate)) return false;
      if (dryRun) {
        owner.sent++;
        progress.resent++;
        return true;
      }
      const full = batcher.add(shardMap.shardOf(key), { partitionKey: key, line, owner }, { json, bytes });
      if (full) await sender.submit(full);
      return true;
    },
    flushEvents: async () => {
      if (dryRun) return;
      for (const batch of batcher.flushAll()) await sender.submit(batch);
      await sender.drain();
    },
    putRaw: async (records) => {
      const outcome = new Outcome();
      if (dryRun) {
        progress.resent += records.length;
        return { sent: records.length, refused: 0 };
      }
      const open = new Map<number, Batch>();
      for (const record of records) {
        const key = record.PartitionKey ?? '';
        const data = record.Data ?? new Uint8Array();
        const shard = shardMap.shardOf(key);
        const owner: RawOwner = { raw: true, outcome, settle: () => undefined };
        const outgoing: OutgoingRecord = {
          data,
          partitionKey: key,
          events: [{ partitionKey: key, line: 0, owner }],
        };
        const size = data.length + Buffer.byteLength(key);
        let batch = open.get(shard);
        if (
          batch &&
          (batch.records.length >= KINESIS_LIMITS.maxRecordsPerCall ||
            batch.bytes + size > KINESIS_LIMITS.defaultBytesPerCall)
        ) {
          await sender.submit(batch);
          batch = undefined;
        }
        batch ??= { shard, records: [], bytes: 0, events: 0 };
        batch.records.push(outgoing);
        batch.bytes += size;
        batch.events++;
        open.set(shard, batch);
      }
      for (const batch of open.values()) await sender.submit(batch);
      await sender.drain();
      return { sent: outcome.sent, refused: outcome.refused };
    },
  };
}

/** Failed records: events with their partition keys, sent as they are. */
async function redriveFailedRecords(
  run: RedriveRun,
  failedInputs: Awaited<ReturnType<typeof readFailedRecords>>,
): Promise<FailedRecordsSummary> {
  const { progress } = run;
  run.startSource('failed records');
  const outcomes: Outcome[] = [];
  for (const entry of failedInputs.entries) {
    if (run.signal?.aborted) {
      run.interrupted = true;
      break;
    }
    const outcome = new Outcome();
    outcomes.push(outcome);
    progress.read++;
    // Too large can only happen to an edited file: the producer never sent it either.
    if (!(await run.addEvent(entry.partitionKey, entry.line, entry.json, outcome))) outcome.refused++;
  }
  await run.flushEvents();
  const resent = outcomes.filter((o) => o.sent > 0 && o.refused === 0).length;
  const part: FailedRecordsSummary = {
    files: failedInputs.files,
    read: failedInputs.entries.length,
    resent,
    stillFailing: failedInputs.entries.length - resent,
    refused: outcomes.filter((o) => o.refused > 0).length,
    lostToRetention: 0,
  };
  Object.assign(progress, { resent, stillFailing: part.stillFailing });
  return part;
}

/** Dead letters: read again with today's code; what reads is sent, keyed like replay. */
async function redriveDeadLetters(
  run: RedriveRun,
  letters: Awaited<ReturnType<typeof readDeadLetters>>,
): Promise<DeadLettersSummary> {
  const { progress } = run;
  run.startSource('dead letters');
  const byReason: Record<string, number> = {};
  const tracked: Array<{ outcomes: Outcome[]; parsed: boolean }> = [];
  let events = 0;
  for (const letter of letters.letters) {
    if (run.signal?.aborted) {
      run.interrupted = true;
      break;
    }
    progress.read++;
    const reparsed = reparseDeadLetter(letter.record);
    const outcomes: Outcome[] = [];
    let fits = true;
    for (const { json, event } of reparsed.events) {
      const outcome = new Outcome();
      outcomes.push(outcome);
      if (!(await run.addEvent(keyOf(event, run.partitionKey), 0, json, outcome))) fits = false;
    }
    events += reparsed.events.length;
    if (!reparsed.ok) {
      byReason[reparsed.reason] = (byReason[reparsed.reason] ?? 0) + 1;
      progress.stillFailing++;
    } else if (!fits) byReason.oversize = (byReason.oversize ?? 0) + 1;
    tracked.push({ outcomes, parsed: reparsed.ok && fits });
  }
  await run.flushEvents();
  let resent = 0;
  let refused = 0;
  for (const { outcomes, parsed } of tracked) {
    if (outcomes.some((o) => o.refused > 0)) refused++;
    if (parsed && outcomes.every((o) => o.sent > 0 && o.refused === 0)) resent++;
  }
  if (refused > 0) byReason.refused_by_kinesis = refused;
  const part: DeadLettersSummary = {
    location: letters.location,
    objects: letters.objects,
    read: tracked.length,
    resent,
    stillFailing: tracked.length - resent,
    lostToRetention: 0,
    events,
    byReason,
    refused,
  };
  Object.assign(progress, { resent, stillFailing: part.stillFailing });
  return part;
}

/** The failure queue: each parked range read back from the stream and put again, unchanged. */
async function redriveFailureQueue(
  run: RedriveRun,
  failureQueue: FailureQueueLocation,
): Promise<FailureQueueSummary> {
  const { options, progress, note } = run;
  run.startSource(options.failureQueueSource ?? 'failure queue');
  const reader = options.reader ?? options.kinesis;
  const retentionHours = await streamRetentionHours(reader, options.streamName);
  const queue: FailureQueueSummary = {
    location: describeQueue(failureQueue),
    read: 0,
    resent: 0,
    stillFailing: 0,
    lostToRetention: 0,
    records: 0,
    recordsResent: 0,
    recordsLost: 0,
    deleted: 0,
    kept: 0,
    byReason: {},
    retentionHours,
  };
  const keep = (reason: string) => {
    queue.byReason[reason] = (queue.byReason[reason] ?? 0) + 1;
  };
  const handle = async (body: string, label: string): Promise<boolean> => {
    queue.read++;
    progress.read++;
    const range = parseFailureRecord(body);
    if ('invalid' in range) {
      queue.stillFailing++;
      progress.stillFailing++;
      keep('not_a_range');
      note(`${label}: not an on-failure record (${range.invalid}); kept`);
      return false;
    }
    const outcome = await redriveRange(run, { reader, retentionHours, queue }, range, label);
    if (outcome === 'resent') {
      queue.resent++;
      return true;
    }
    if (outcome === 'lost_to_retention') {
      queue.lostToRetention++;
      progress.lostToRetention++;
    } else {
      queue.stillFailing++;
      progress.stillFailing++;
    }
    keep(outcome);
    return false;
  };

  const drained =
    failureQueue.kind === 'file'
      ? await drainFailureFile(failureQueue.path, run.dryRun, run.signal, handle)
      : await drainFailureQueue(failureQueue, run.dryRun, run.signal, handle);
  queue.deleted = drained.deleted;
  queue.kept = drained.kept;
  if (drained.interrupted) run.interrupted = true;
  return queue;
}

/** One parked range: read back from the stream and put again, or why it is kept. */
async function redriveRange(
  run: RedriveRun,
  stream: { reader: KinesisClient; retentionHours: number; queue: FailureQueueSummary },
  range: FailureRange,
  label: string,
): Promise<'resent' | 'lost_to_retention' | 'other_stream' | 'incomplete' | 'refused_by_kinesis'> {
  const { options, note } = run;
  const { reader, retentionHours, queue } = stream;
  const rangeText = `${range.shardId} ${range.startSequenceNumber}..${range.endSequenceNumber} (${range.batchSize} records)`;
  if (streamNameOfArn(range.streamArn) !== options.streamName) {
    note(`${label}: ${rangeText} is from ${range.streamArn}, not ${options.streamName}; kept`);
    return 'other_stream';
  }
  const retention = retentionOf(range, retentionHours, run.now());
  if (retention === 'expired') {
    queue.recordsLost += range.batchSize;
    note(
      `${label}: ${rangeText} arrived ${new Date(range.lastArrivalMs).toISOString()}, beyond the stream's ${retentionHours} h retention: lost to retention; message kept`,
    );
    return 'lost_to_retention';
  }
  const read = await readRange(reader, options.streamName, range, run.signal);
  queue.records += read.records.length;
  const found = rangeCompleteness(
    range,
    read.records.map((record) => record.SequenceNumber ?? '0'),
  );
  const outcome = await run.putRaw(read.records);
  queue.recordsResent += outcome.sent;
  if (!found.complete) {
    const gone = read.shardGone || found.trimmedFront || retention === 'partly';
    if (gone) {
      queue.recordsLost += found.missing || range.batchSize - read.records.length;
      note(
        `${label}: ${rangeText}: ${read.records.length} of ${range.batchSize} records still in the stream (the rest passed its ${retentionHours} h retention)${read.records.length ? ', those re-sent' : ''}; lost to retention, message kept`,
      );
      return 'lost_to_retention';
    }
    note(
      `${label}: ${rangeText}: read ${read.records.length} of ${range.batchSize} records${read.error ? ` (${read.error})` : ''}; message kept`,
    );
    return 'incomplete';
  }
  if (outcome.refused > 0) {
    note(`${label}: ${rangeText}: Kinesis refused ${outcome.refused} records after retries; message kept`);
    return 'refused_by_kinesis';
  }
  return 'resent';
}

const SOURCES_HINT =
  'name what to re-drive: --failed-records FILE (replay failures), --dead-letters (records the aggregator could not parse), --failure-queue (batches it gave up on), --alerter-failure-queue (batches the bot alerter gave up on); --dry-run shows what would be sent';

function outcomeOf(owner: Settlement): Outcome {
  return isRaw(owner) ? owner.outcome : (owner as Outcome);
}

function isRaw(owner: Settlement | undefined): owner is RawOwner {
  return (owner as RawOwner | undefined)?.raw === true;
}

function keyOf(event: EventRecord, field: PartitionKeyField): string {
  return String(event[field]);
}

async function readFailedRecords(
  files: readonly string[],
  failedOut: string,
): Promise<{ files: string[]; entries: ReturnType<typeof parseFailedRecords> }> {
  const entries: ReturnType<typeof parseFailedRecords> = [];
  for (const file of files) {
    if (resolve(file) === resolve(failedOut)) {
      throw new RedriveError(
        `--failed-out ${failedOut} is also an input`,
        'write the records refused again to another file (or leave --failed-out at its default)',
      );
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RedriveError(
        `cannot read the failed-records file ${file}${code === 'ENOENT' ? ': no such file' : `: ${code}`}`,
        'replay prints the path of its failed-records file when it writes one (default .clickstream/<source>.failed.jsonl)',
        { cause: error },
      );
    }
    for (const entry of parseFailedRecords(text, file)) entries.push(entry);
  }
  return { files: [...files], entries };
}

/** Every dead letter under the location, each once (a retried batch may have written one twice). */
async function readDeadLetters(
  location: DeadLetterLocation,
): Promise<{ location: string; objects: number; letters: DeadLetter[] }> {
  const texts: Array<{ text: string; where: string }> = [];
  let where: string;
  if (location.kind === 'directory') {
    where = location.path;
    for (const file of await jsonlFiles(location.path))
      texts.push({ text: await readFile(file, 'utf8'), where: file });
  } else {
    where = `s3://${location.bucket}/${location.prefix}`;
    let token: string | undefined;
    try {
      do {
        const page = await location.s3.send(
          new ListObjectsV2Command({
            Bucket: location.bucket,
            Prefix: location.prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const object of page.Contents ?? []) {
          if (!object.Key?.endsWith('.jsonl')) continue;
          const got = await location.s3.send(
            new GetObjectCommand({ Bucket: location.bucket, Key: object.Key }),
          );
          texts.push({
            text: (await got.Body?.transformToString('utf8')) ?? '',
            where: `s3://${location.bucket}/${object.Key}`,
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw fatalAwsError(error, where) ?? error;
    }
  }
  const seen = new Set<string>();
  const letters: DeadLetter[] = [];
  for (const { text, where: file } of texts) {
    for (const letter of parseDeadLetters(text, file)) {
      const { shardId, sequenceNumber, subSequenceNumber } = letter.record;
      const id = `${shardId}/${sequenceNumber}/${subSequenceNumber ?? ''}`;
      if (seen.has(id)) continue;
      seen.add(id);
      letters.push(letter);
    }
  }
  return { location: where, objects: texts.length, letters };
}

async function jsonlFiles(directory: string): Promise<string[]> {
  if (!existsSync(directory)) return [];
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.jsonl'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/**
 * Takes the local on-failure file for this run, as receiving takes SQS messages: it is renamed aside, so
 * the runner's new lines start a new file, and `release` appends the lines kept back to it. A run that
 * died holding lines left them in the `.redriving` file, which the next run takes up first. A dry run
 * only reads. A line that is not an on-failure record stops the run before anything is sent.
 */
async function claimFailureFile(
  path: string,
  dryRun: boolean,
): Promise<{ lines: string[]; release(kept: readonly string[]): Promise<void> }> {
  const claim = `${path}${CLAIM_SUFFIX}`;
  const read = async (file: string) => (existsSync(file) ? await readFile(file, 'utf8') : '');
  let text: string;
  if (dryRun) text = (await read(claim)) + (await read(path));
  else {
    if (existsSync(path)) {
      if (existsSync(claim)) {
        await appendFile(claim, await read(path));
        await rm(path);
      } else await rename(path, claim);
    }
    text = await read(claim);
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const release = async (kept: readonly string[]) => {
    if (dryRun || !existsSync(claim)) return;
    if (kept.length > 0) await appendFile(path, `${kept.join('\n')}\n`);
    await rm(claim);
  };
  for (const [i, line] of lines.entries()) {
    const parsed = parseFailureRecord(line);
    if ('invalid' in parsed) {
      await release(lines);
      throw new RedriveError(
        `${path}:${i + 1} is not an on-failure record (${parsed.invalid})`,
        'the file holds the local runner’s on-failure records only; it was left as it was and nothing was sent',
      );
    }
  }
  return { lines, release };
}

type HandleMessage = (body: string, label: string) => Promise<boolean>;
interface Drained {
  /** Messages (lines) removed because their range is back on the stream, and kept. */
  deleted: number;
  kept: number;
  interrupted: boolean;
}

/**
 * The local on-failure file as a queue: each line is handed to `handle`; the lines it re-drove in full
 * are removed (none in a dry run), every other one stays, whatever happens (an error, Ctrl-C).
 */
async function drainFailureFile(
  path: string,
  dryRun: boolean,
  signal: AbortSignal | undefined,
  handle: HandleMessage,
): Promise<Drained> {
  const claimed = await claimFailureFile(path, dryRun);
  const done = new Set<number>();
  let interrupted = false;
  try {
    for (const [i, line] of claimed.lines.entries()) {
      if (signal?.aborted) {
        interrupted = true;
        break;
      }
      if ((await handle(line, `${path}:${i + 1}`)) && !dryRun) done.add(i);
    }
  } finally {
    await claimed.release(claimed.lines.filter((_, i) => !done.has(i)));
  }
  return { deleted: done.size, kept: claimed.lines.length - done.size, interrupted };
}

/**
 * The SQS failure queue: messages are received (invisible to others meanwhile) until the queue is empty,
 * each handed to `handle`; one re-driven in full is deleted (none in a dry run), every other one is made
 * visible again at the end, so the next run or a person sees it at once.
 */
async function drainFailureQueue(
  queue: Extract<FailureQueueLocation, { kind: 'sqs' }>,
  dryRun: boolean,
  signal: AbortSignal | undefined,
  handle: HandleMessage,
): Promise<Drained> {
  const held = new Map<string, string>();
  let deleted = 0;
  let interrupted = false;
  try {
    for (;;) {
      if (signal?.aborted) {
        interrupted = true;
        break;
      }
      const received = await sqsCall(queue, () =>
        queue.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queue.queueUrl,
            MaxNumberOfMessages: 10,
            // Long polling asks every SQS server, so an empty answer means an empty queue.
            WaitTimeSeconds: queue.waitSeconds ?? 2,
            VisibilityTimeout: queue.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_SECONDS,
          }),
        ),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) break;
      let fresh = 0;
      for (const message of messages) {
        const receipt = message.ReceiptHandle;
        if (!receipt) continue;
        const id = message.MessageId ?? receipt;
        if (held.has(id)) {
          // Seen in this run already (its visibility ran out): keep the newest handle.
          held.set(id, receipt);
          continue;
        }
        fresh++;
        if ((await handle(message.Body ?? '', `message ${id}`)) && !dryRun) {
          await sqsCall(queue, () =>
            queue.sqs.send(new DeleteMessageCommand({ QueueUrl: queue.queueUrl, ReceiptHandle: receipt })),
          );
          deleted++;
        } else held.set(id, receipt);
      }
      if (fresh === 0) break;
    }
  } finally {
    for (const receipt of held.values()) {
      try {
        await queue.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queue.queueUrl,
            ReceiptHandle: receipt,
            VisibilityTimeout: 0,
          }),
        );
      } catch {
        // Best effort: the message comes back anyway when its visibility timeout ends.
      }
    }
  }
  return { deleted, kept: held.size, interrupted };
}

async function streamRetentionHours(kinesis: KinesisClient, streamName: string): Promise<number> {
  try {
    const described = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    return described.StreamDescriptionSummary?.RetentionPeriodHours ?? 24;
  } catch (error) {
    throw fatalAwsError(error, `Kinesis stream ${streamName}`) ?? error;
  }
}

/**
 * The records of a range still in the stream: from its start sequence number up to its end, in order.
 * `shardGone`: the shard itself is no longer there (it expired after a reshard).
 */
export async function readRange(
  kinesis: KinesisClient,
  streamName: string,
  range: FailureRange,
  signal?: AbortSignal,
): Promise<{ records: KinesisRecord[]; shardGone: boolean; error?: string }> {
  const records: KinesisRecord[] = [];
  let iterator: string | undefined;
  try {
    iterator = await shardIterator(kinesis, streamName, range.shardId, {
      type: 'AT_SEQUENCE_NUMBER',
      sequenceNumber: range.startSequenceNumber,
    });
  } catch (error) {
    const name = (error as Error).name;
    // The stream was listed a moment ago: a missing resource now is the shard, gone after a reshard.
    if (name === 'ResourceNotFoundException')
      return { records, shardGone: true, error: (error as Error).message };
    if (name === 'InvalidArgumentException')
      return { records, shardGone: false, error: (error as Error).message };
    throw fatalAwsError(error, `Kinesis stream ${streamName}`) ?? error;
  }
  const limit = Math.min(GET_RECORDS_MAX_RECORDS, Math.max(100, range.batchSize));
  // Read to the tip of the shard at most: with the end not read by then, it is not there.
  try {
    reading: for await (const page of readToTip(kinesis, iterator, { limit, signal })) {
      for (const record of page) {
        const at = positionInRange(record.SequenceNumber ?? '0', range);
        if (at === 'after') break reading;
        if (at === 'in') records.push(record);
        if (at === 'in' && record.SequenceNumber === range.endSequenceNumber) break reading;
      }
    }
  } catch (error) {
    throw fatalAwsError(error, `Kinesis stream ${streamName}`) ?? error;
  }
  return { records, shardGone: false };
}

function knownWorkDir(workDir: string | undefined): string {
  if (workDir === undefined)
    throw new RedriveError("the local stack's work dir is not known", 'pass --work-dir <dir>');
  return workDir;
}

async function sqsCall<T>(queue: { queueUrl: string }, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
      throw new RedriveError(
        `the failure queue ${queue.queueUrl} does not exist`,
        "pass the queue URL from the stack's ClickstreamConfig output (names.aggregatorFailureQueue)",
        { cause: error },
      );
    }
    throw fatalAwsError(error, `SQS queue ${queue.queueUrl}`) ?? error;
  }
}

function describeQueue(queue: FailureQueueLocation): string {
  return queue.kind === 'file' ? queue.path : queue.queueUrl;
}

// ---------------------------------------------------------------------------------------------------
// The CLI command

export interface RedriveOptions {
  failedRecords?: string[];
  /** true: the default location; a string: a directory or s3:// prefix. */
  deadLetters?: boolean | string;
  /** true: the default queue (AWS) or file (--local); a string: a queue URL or a file. */
  failureQueue?: boolean | string;
  /** The bot alerter's failure queue, as `failureQueue`: its ranges go back to the user-activity stream. */
  alerterFailureQueue?: boolean | string;
  workDir?: string;
  /**
   * The local stack's work dir when `workDir` is not given, asked for only then (the CLI's is beside
   * the local stack's state file).
   */
  defaultWorkDir?: () => string;
  stream?: string;
  partitionKey?: string;
  failedOut?: string;
  dryRun?: boolean;
  aggregate?: boolean;
  maxRetries?: string;
}

export async function redrive(options: RedriveOptions, context: RunContext): Promise<RedriveSummary> {
  const failedRecords = options.failedRecords ?? [];
  const eventsSources =
    failedRecords.length > 0 || options.deadLetters !== undefined || options.failureQueue !== undefined;
  if (!eventsSources && options.alerterFailureQueue === undefined)
    throw new RedriveError('nothing to re-drive', SOURCES_HINT);
  const partitionKey = (options.partitionKey ?? 'category_id') as PartitionKeyField;
  if (!PARTITION_KEY_FIELDS.includes(partitionKey)) {
    throw new RedriveError(
      `--partition-key ${partitionKey} is not supported`,
      `use one of: ${PARTITION_KEY_FIELDS.join(', ')}`,
    );
  }
  const maxRetries =
    options.maxRetries === undefined ? undefined : integerFlag(options.maxRetries, '--max-retries', 0);
  const target = await context.target();
  const local = target.mode === 'local';
  const workDir = options.workDir ?? options.defaultWorkDir?.();
  if (options.workDir && !local)
    context.warn('--work-dir applies to the local stack only (add --local); AWS reads S3 and SQS');
  const streamName = options.stream ?? target.names.eventsStream;
  const failedOut =
    options.failedOut ??
    join('.clickstream', `redrive-${new Date().toISOString().replace(/[:.]/g, '-')}.failed.jsonl`);

  // Every flag checked before a client is made: a wrong one costs no connection.
  let deadLetters: DeadLetterLocation | undefined;
  let deadLetterBucket: { bucket: string; prefix: string } | undefined;
  if (options.deadLetters !== undefined) {
    const given = typeof options.deadLetters === 'string' ? options.deadLetters : undefined;
    if (given === undefined || given.startsWith('s3://')) {
      // The aggregator writes them to the raw bucket, in AWS and on the local stack alike.
      const url = given ?? `s3://${target.names.rawBucket}/${AGGREGATOR_DEAD_LETTERS}`;
      const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
      if (!match) {
        throw new RedriveError(
          `--dead-letters ${url} is not s3://bucket/prefix/`,
          `e.g. s3://<raw bucket>/${AGGREGATOR_DEAD_LETTERS} (the default), or a directory of dead-letter files`,
        );
      }
      deadLetterBucket = { bucket: match[1] as string, prefix: match[2] as string };
    } else {
      // A directory of dead-letter files: e.g. a copy of the S3 prefix whose records you corrected.
      if (!existsSync(given)) {
        throw new RedriveError(
          `--dead-letters ${given}: no such directory`,
          `pass s3://bucket/prefix/ or a directory of dead-letter .jsonl files (e.g. a copy of s3://<raw bucket>/${AGGREGATOR_DEAD_LETTERS})`,
        );
      }
      deadLetters = { kind: 'directory', path: given };
    }
  }
  const queueOf = (given: boolean | string | undefined, role: FailureQueueRole) =>
    given === undefined ? undefined : failureQueueFlag(given, role, { local, names: target.names, workDir });
  const aggregatorQueue = queueOf(options.failureQueue, 'aggregatorFailureQueue');
  const alerterQueue = queueOf(options.alerterFailureQueue, 'alerterFailureQueue');

  const kinesis = createKinesisClient(clientOptions(target, 'kinesis', { maxAttempts: 1 }));
  const reader = createKinesisClient(clientOptions(target, 'kinesis', { maxAttempts: 8 }));
  const s3 = deadLetterBucket ? createS3Client(clientOptions(target, 's3')) : undefined;
  const sqs =
    aggregatorQueue?.kind === 'sqs' || alerterQueue?.kind === 'sqs'
      ? createSqsClient(target.region ? { region: target.region } : {})
      : undefined;
  if (s3 && deadLetterBucket) deadLetters = { kind: 's3', s3, ...deadLetterBucket };
  const located = (queue: FailureQueueFlag | undefined): FailureQueueLocation | undefined =>
    queue?.kind === 'sqs' && sqs
      ? { kind: 'sqs', sqs, queueUrl: queue.queueUrl }
      : queue?.kind === 'file'
        ? queue
        : undefined;
  const failureQueue = located(aggregatorQueue);
  const alerterFailureQueue = located(alerterQueue);

  const bar = context.progress('redrive', { fields: ['source', 'read', 'resent', 'failing', 'lost'] });
  const shared = {
    kinesis,
    reader,
    dryRun: options.dryRun ?? false,
    failedOut,
    aggregate: options.aggregate ?? true,
    ...(maxRetries !== undefined ? { maxRetries } : {}),
    signal: context.signal,
    onNote: (line: string) => context.warn(line),
    onProgress: (progress: RedriveProgress) =>
      bar.update(progress.read, {
        source: progress.source,
        read: progress.read,
        resent: progress.resent,
        failing: progress.stillFailing,
        lost: progress.lostToRetention,
      }),
  };
  try {
    const events = eventsSources
      ? await redriveToStream({
          ...shared,
          streamName,
          failedRecords,
          ...(deadLetters ? { deadLetters } : {}),
          ...(failureQueue ? { failureQueue } : {}),
          partitionKey,
        })
      : undefined;
    // The alerter's ranges come from, and go back to, the stream it reads: a run of their own.
    const alerter =
      alerterFailureQueue && !events?.interrupted
        ? await redriveToStream({
            ...shared,
            streamName: target.names.userActivityStream,
            failureQueue: alerterFailureQueue,
            failureQueueSource: 'alerter failure queue',
          })
        : undefined;
    bar.stop();
    const summary = combineSummaries(events, alerter);
    if (summary.failedOut)
      context.warn(`events Kinesis refused again: ${summary.failedOut} (re-drive it with --failed-records)`);
    return summary;
  } finally {
    bar.stop();
    kinesis.destroy();
    reader.destroy();
    s3?.destroy();
    sqs?.destroy();
  }
}

/** The ResourceNames role of each consumer's on-failure queue. */
type FailureQueueRole = 'aggregatorFailureQueue' | 'alerterFailureQueue';

/** A failure-queue flag, resolved: the local runner's file, or an SQS queue URL. */
type FailureQueueFlag = { kind: 'file'; path: string } | { kind: 'sqs'; queueUrl: string };

const QUEUE_FLAGS: Record<FailureQueueRole, string> = {
  aggregatorFailureQueue: '--failure-queue',
  alerterFailureQueue: '--alerter-failure-queue',
};

/** Where a failure-queue flag points, checked before any client is made: a wrong one costs no connection. */
function failureQueueFlag(
  value: boolean | string,
  role: FailureQueueRole,
  where: { local: boolean; names: ResourceNames; workDir: string | undefined },
): FailureQueueFlag {
  const flag = QUEUE_FLAGS[role];
  const given = typeof value === 'string' ? value : undefined;
  if (where.local) {
    if (given?.startsWith('https://'))
      throw new RedriveError('an SQS queue needs AWS (drop --local)', 'locally the failure queue is a file');
    // The local runner writes each on-failure destination to `<work dir>/<queue name>.jsonl`.
    return { kind: 'file', path: given ?? join(knownWorkDir(where.workDir), `${where.names[role]}.jsonl`) };
  }
  if (given && !given.startsWith('https://')) {
    throw new RedriveError(
      `${flag} ${given} is not a queue URL`,
      `pass https://sqs.<region>.amazonaws.com/<account>/<queue>, or nothing for the stack's (names.${role} in clickstream.config.json)`,
    );
  }
  const url = given ?? where.names[role];
  if (!url.startsWith('https://')) {
    throw new RedriveError(
      `${role === 'alerterFailureQueue' ? "the bot alerter's" : 'the'} failure queue is not known (names.${role} is "${url}", not a queue URL)`,
      `save the stack's ClickstreamConfig output as clickstream.config.json, or pass ${flag} URL`,
    );
  }
  return { kind: 'sqs', queueUrl: url };
}

/** One summary of the run on the events stream and the alerter's run on the user-activity stream. */
function combineSummaries(
  events: RedriveSummary | undefined,
  alerter: RedriveSummary | undefined,
): RedriveSummary {
  const queue = alerter?.failureQueue;
  const base: RedriveSummary = events ?? {
    stream: alerter?.stream ?? '',
    dryRun: alerter?.dryRun ?? false,
    complete: true,
    interrupted: false,
    durationMs: 0,
  };
  return {
    ...base,
    ...(queue && alerter ? { alerterFailureQueue: { ...queue, stream: alerter.stream } } : {}),
    complete: base.complete && (alerter?.complete ?? true),
    interrupted: base.interrupted || (alerter?.interrupted ?? false),
    durationMs: (events?.durationMs ?? 0) + (alerter?.durationMs ?? 0),
  };
}
