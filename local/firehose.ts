/**
 * Local stand-in for a Firehose delivery stream with a Kinesis source: reads every shard of a stream
 * from TRIM_HORIZON, buffers by size or time per partition, and writes the lake layout of core/lake.ts
 * (Parquet, dt = event date) to local S3, so the local engine queries what Athena would in AWS.
 * Records Firehose could not partition or convert go to the error prefix as JSON lines, counted.
 *
 * It reads as Firehose does: one GetRecords call a second per shard ("Firehose calls the Kinesis Data
 * Streams GetRecords operation once per second for each shard", and each call "counts against the
 * overall throttling limit for the shard"; https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html),
 * at once again only while calls come back full. A throttled call is waited out and made again from
 * the same iterator: Firehose falls behind (its ThrottledGetRecords metric climbs, data freshness
 * grows; https://docs.aws.amazon.com/firehose/latest/dev/troubleshooting.html) and loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { type _Record, GetRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { GET_RECORDS_MAX_RECORDS, listShards, shardIterator } from '../adapters/kinesis-shards.ts';
import { duckdbType, quoteIdentifier, quoteLiteral } from '../analytics/ddl.ts';
import { type UserRecord, userRecordsOf } from '../core/kpl.ts';
import {
  errorPrefix,
  type FirehoseErrorRecord,
  type FirehoseErrorType,
  LAKE_COMPRESSION,
  LAKE_DICTIONARY,
  LAKE_FILE_EXTENSION,
  LAKE_LAYOUTS,
  LOCAL_BUFFERING,
  objectKey,
  partitionOf,
  partitionPrefix,
} from '../core/lake.ts';
import {
  conformRow,
  type LakeTableName,
  type LakeValue,
  RowConformError,
  type TableDef,
} from '../core/tables.ts';
import { isThrottled, readBackoffMs } from './kinesis/read-throttling.ts';

export interface LocalFirehoseOptions {
  kinesis: KinesisClient;
  s3: S3Client;
  streamName: string;
  bucket: string;
  table: LakeTableName;
  /** Flush a partition's buffer at this size (default 1 MiB). */
  bufferBytes?: number;
  /** Flush a partition's buffer this long after its first record (default 5 s). */
  bufferMs?: number;
  /**
   * Least time between the starts of two GetRecords calls on a shard, unless the last one came back
   * full (default 1000 ms, as Firehose; a shard serves 5 calls/s to all its readers together).
   */
  pollMs?: number;
  /** Name in the object keys, as Firehose uses its delivery stream's name (default: the stream name). */
  deliveryStreamName?: string;
  /**
   * The delivery's S3 layout as its template gives it (default: the table's layout in core/lake.ts):
   * data and error prefixes, the field the `{key: .field[0:10]}` partition query reads, the extension.
   */
  prefix?: string;
  errorOutputPrefix?: string;
  partitionField?: string;
  fileExtension?: string;
  /** Where its temp files go (default the system's temp directory); the local stack's own, in a pipeline. */
  tempDirectory?: string;
}

export interface LocalFirehoseStats {
  /** Records read from the stream, each event of a KPL aggregated record counted (Firehose de-aggregates them). */
  received: number;
  /** Records written to the lake. */
  records: number;
  /** Objects written (lake and error prefix). */
  objects: number;
  /** Records written to the error prefix. */
  errors: number;
  /** Bytes of the objects written. */
  bytes: number;
  /** GetRecords calls Kinesis throttled (each waited out and made again; nothing lost). */
  readThrottles: number;
}

export interface LocalFirehose {
  stats(): LocalFirehoseStats;
  /** Reads every shard up to its current tip, then writes everything buffered. */
  flush(): Promise<void>;
  /** Stops reading, then flushes. */
  stop(): Promise<void>;
}

export class LocalFirehoseError extends Error {
  override name = 'LocalFirehoseError';
}

/**
 * One partition's buffer. Lake rows wait on disk, as JSON lines in `file` (the Parquet writer's input
 * as it is): a buffer holds up to the template's 64 MiB or 60 s of records per partition, and buffers
 * queued behind a slow write add up, so in memory they grew with the input. Only the lines of the
 * GetRecords page being taken apart are held (`pending`) before they are appended.
 */
interface PartitionBuffer {
  kind: 'lake' | FirehoseErrorType;
  prefix: string;
  file: string;
  pending: string[];
  rows: number;
  errors: FirehoseErrorRecord[];
  bytes: number;
  firstAt: number;
}

interface ShardReader {
  shardId: string;
  /** Value of the read counter when the latest empty GetRecords call started. */
  drainedAt: number;
  closed: boolean;
  done: Promise<void>;
}

export async function startLocalFirehose(options: LocalFirehoseOptions): Promise<LocalFirehose> {
  const layout = {
    ...LAKE_LAYOUTS[options.table],
    ...(options.prefix ? { prefixTemplate: options.prefix } : {}),
    ...(options.errorOutputPrefix ? { errorPrefixTemplate: options.errorOutputPrefix } : {}),
    ...(options.partitionField ? { partitionField: options.partitionField } : {}),
  };
  const fileExtension = options.fileExtension ?? LAKE_FILE_EXTENSION;
  const bufferBytes = options.bufferBytes ?? LOCAL_BUFFERING.bytes;
  const bufferMs = options.bufferMs ?? LOCAL_BUFFERING.ms;
  const pollMs = options.pollMs ?? 1_000;
  const deliveryStreamName = options.deliveryStreamName ?? options.streamName;
  const stats: LocalFirehoseStats = {
    received: 0,
    records: 0,
    objects: 0,
    errors: 0,
    bytes: 0,
    readThrottles: 0,
  };
  const buffers = new Map<string, PartitionBuffer>();
  const writer = await openParquetWriter(options.tempDirectory);
  let bufferFiles = 0;
  let stopped = false;
  // Ends the readers' waits between calls at once when the delivery stops.
  const stopping = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopping.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      }
      stopping.signal.addEventListener('abort', done);
    });
  let readCounter = 0;
  let failure: unknown;
  // Writes run one at a time: they share one DuckDB connection, and order keeps the stats exact.
  let writing: Promise<void> = Promise.resolve();

  const shardIds = (await listShards(options.kinesis, options.streamName)).map((s) => s.ShardId as string);
  const readers = shardIds.map((shardId) => startReader(shardId));

  const timer = setInterval(
    () => {
      const now = Date.now();
      for (const [key, buffer] of buffers) if (now - buffer.firstAt >= bufferMs) enqueueWrite(key);
    },
    Math.max(20, Math.min(bufferMs, 250)),
  );
  timer.unref();

  function startReader(shardId: string): ShardReader {
    const reader: ShardReader = { shardId, drainedAt: -1, closed: false, done: Promise.resolve() };
    reader.done = (async () => {
      let iterator = await readFrom(shardId, undefined);
      let lastSequence: string | undefined;
      let throttledInARow = 0;
      while (!stopped && iterator) {
        const startedAt = ++readCounter;
        const startedMs = Date.now();
        let behind = false;
        try {
          const page = await options.kinesis.send(
            new GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_MAX_RECORDS }),
          );
          throttledInARow = 0;
          const records = page.Records ?? [];
          for (const record of records) accept(record);
          appendPending();
          lastSequence = records.at(-1)?.SequenceNumber ?? lastSequence;
          iterator = page.NextShardIterator;
          if (records.length === 0) reader.drainedAt = startedAt;
          behind = records.length >= GET_RECORDS_MAX_RECORDS || (page.MillisBehindLatest ?? 0) > 0;
        } catch (error) {
          if (stopped) break;
          // Iterators expire after 5 minutes; resume after the last record we took.
          if (error instanceof Error && error.name === 'ExpiredIteratorException') {
            iterator = await readFrom(shardId, lastSequence);
          } else if (isThrottled(error)) {
            stats.readThrottles++;
            await pause(readBackoffMs(++throttledInARow));
          } else {
            await pause(pollMs * 5);
          }
          continue;
        }
        if (!behind) await pause(Math.max(0, startedMs + pollMs - Date.now()));
      }
      reader.closed = true;
    })().catch((error: unknown) => {
      failure ??= error;
      reader.closed = true;
    });
    return reader;
  }

  /** An iterator after the last record taken from the shard, or at its start before any. */
  function readFrom(shardId: string, afterSequence: string | undefined): Promise<string | undefined> {
    return shardIterator(
      options.kinesis,
      options.streamName,
      shardId,
      afterSequence
        ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: afterSequence }
        : { type: 'TRIM_HORIZON' },
    );
  }

  function accept(record: _Record): void {
    const data = Buffer.from(record.Data ?? new Uint8Array());
    const arrival = record.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
    // Firehose de-aggregates KPL records from a Kinesis source before anything else sees them.
    let events: UserRecord[];
    try {
      events = userRecordsOf(data, record.PartitionKey ?? '');
    } catch (error) {
      stats.received++;
      const message = error instanceof Error ? error.message : String(error);
      reject(data, arrival, 'partitioning-failed', 'Kinesis.DeaggregationFailed', message);
      return;
    }
    for (const event of events)
      acceptOne(Buffer.from(event.data.buffer, event.data.byteOffset, event.data.length), arrival);
  }

  function acceptOne(data: Buffer, arrival: number): void {
    stats.received++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      reject(
        data,
        arrival,
        'partitioning-failed',
        'DynamicPartitioning.MetadataExtractionFailed',
        'not JSON',
      );
      return;
    }
    const dt = partitionOf(layout, parsed);
    if (dt === undefined) {
      reject(
        data,
        arrival,
        'partitioning-failed',
        'DynamicPartitioning.MetadataExtractionFailed',
        `no date in ${layout.partitionField}`,
      );
      return;
    }
    let row: Record<string, LakeValue>;
    try {
      row = conformRow(layout.table, parsed);
    } catch (error) {
      if (!(error instanceof RowConformError)) throw error;
      reject(data, arrival, 'format-conversion-failed', 'DataFormatConversion.InvalidSchema', error.message);
      return;
    }
    const key = `lake/${dt}`;
    const buffer = bufferFor(key, 'lake', partitionPrefix(layout, dt));
    buffer.pending.push(`${JSON.stringify(row)}\n`);
    buffer.rows++;
    add(key, buffer, data.length);
  }

  function reject(
    data: Buffer,
    arrival: number,
    type: FirehoseErrorType,
    errorCode: string,
    message: string,
  ): void {
    const key = `error/${type}`;
    const buffer = bufferFor(key, type, '');
    buffer.errors.push({
      attemptsMade: 1,
      arrivalTimestamp: arrival,
      errorCode,
      errorMessage: message,
      rawData: data.toString('base64'),
    });
    add(key, buffer, data.length);
  }

  function bufferFor(key: string, kind: PartitionBuffer['kind'], prefix: string): PartitionBuffer {
    let buffer = buffers.get(key);
    if (!buffer) {
      const file = join(writer.directory, `buffer-${++bufferFiles}.jsonl`);
      buffer = { kind, prefix, file, pending: [], rows: 0, errors: [], bytes: 0, firstAt: Date.now() };
      buffers.set(key, buffer);
    }
    return buffer;
  }

  function add(key: string, buffer: PartitionBuffer, bytes: number): void {
    buffer.bytes += bytes;
    if (buffer.bytes >= bufferBytes) enqueueWrite(key);
  }

  /** Appends the lines taken from a page to their buffers' files: one write per buffer and page. */
  function appendPending(): void {
    for (const buffer of buffers.values()) appendLines(buffer);
  }

  function appendLines(buffer: PartitionBuffer): void {
    if (buffer.pending.length === 0) return;
    appendFileSync(buffer.file, buffer.pending.join(''));
    buffer.pending = [];
  }

  /** Takes the buffer out of the map now, so records arriving meanwhile start a new one. */
  function enqueueWrite(key: string): Promise<void> {
    const buffer = buffers.get(key);
    if (!buffer) return writing;
    buffers.delete(key);
    appendLines(buffer);
    writing = writing
      .then(() => write(buffer))
      .catch((error: unknown) => {
        failure ??= error;
      });
    return writing;
  }

  async function write(buffer: PartitionBuffer): Promise<void> {
    const now = Date.now();
    let key: string;
    let body: Uint8Array;
    if (buffer.kind === 'lake') {
      key = objectKey(buffer.prefix, deliveryStreamName, now, randomUUID(), fileExtension);
      body = await writer.writeLines(layout.table, buffer.file);
    } else {
      key = objectKey(errorPrefix(layout, buffer.kind, now), deliveryStreamName, now, randomUUID(), '.gz');
      body = gzipSync(buffer.errors.map((e) => `${JSON.stringify(e)}\n`).join(''));
    }
    await putWithRetry(key, body);
    stats.objects++;
    stats.bytes += body.length;
    if (buffer.kind === 'lake') stats.records += buffer.rows;
    else stats.errors += buffer.errors.length;
  }

  async function putWithRetry(key: string, body: Uint8Array): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await options.s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: key, Body: body }));
        return;
      } catch (error) {
        // Firehose retries S3 delivery; locally a few attempts cover a busy emulator.
        if (attempt >= 4)
          throw new LocalFirehoseError(`could not write s3://${options.bucket}/${key}`, { cause: error });
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  async function writeAll(): Promise<void> {
    for (const key of [...buffers.keys()]) void enqueueWrite(key);
    await writing;
    if (failure)
      throw new LocalFirehoseError(`local Firehose for ${options.streamName} failed`, { cause: failure });
  }

  async function drain(): Promise<void> {
    const mark = readCounter;
    while (readers.some((r) => !r.closed && r.drainedAt <= mark)) await sleep(10);
  }

  return {
    stats: () => ({ ...stats }),
    flush: async () => {
      await drain();
      await writeAll();
    },
    stop: async () => {
      stopped = true;
      stopping.abort();
      clearInterval(timer);
      await Promise.all(readers.map((r) => r.done));
      try {
        await writeAll();
      } finally {
        await writer.close();
      }
    },
  };
}

/** DuckDB's default row group size, stated because the dictionary entry cap below is sized by it. */
const ROW_GROUP_ROWS = 122_880;
/**
 * DuckDB caps a dictionary by entries (by default a small share of the row group) and by bytes;
 * parquet-mr, Firehose's writer, only by bytes. An entry cap of a whole row group (a dictionary cannot
 * hold more) and the same byte cap make DuckDB choose dictionaries as Firehose does.
 */
const PARQUET_OPTIONS = [
  `COMPRESSION ${LAKE_COMPRESSION}`,
  `ROW_GROUP_SIZE ${ROW_GROUP_ROWS}`,
  LAKE_DICTIONARY.enabled
    ? `DICTIONARY_SIZE_LIMIT ${ROW_GROUP_ROWS}, STRING_DICTIONARY_PAGE_SIZE_LIMIT ${LAKE_DICTIONARY.maxPageBytes}`
    : 'DICTIONARY_SIZE_LIMIT 0',
  // DuckDB adds a Bloom filter per dictionary-encoded column by default; parquet-mr (Firehose) writes none.
  'WRITE_BLOOM_FILTER false',
].join(', ');

export interface ParquetWriter {
  /** The Parquet file, as Firehose's conversion would write it, of rows conformed to `table`. */
  write(table: TableDef, rows: ReadonlyArray<Record<string, LakeValue>>): Promise<Uint8Array>;
  /** The same of a JSON-lines file of such rows (one `JSON.stringify(row)` a line), removed once read. */
  writeLines(table: TableDef, file: string): Promise<Uint8Array>;
  /** The writer's temp directory, removed at close: where callers keep the files they hand it. */
  readonly directory: string;
  close(): Promise<void>;
}

/**
 * Writes lake objects with DuckDB: rows go through a JSON-lines temp file read with the table's
 * columns as text and cast to the declared types, so the Parquet schema is exactly the Glue table's.
 */
export async function openParquetWriter(parent = tmpdir()): Promise<ParquetWriter> {
  const directory = await mkdtemp(join(parent, 'clickstream-firehose-'));
  // An in-memory DuckDB spills into ./.tmp by default, shared by every process started in the same
  // directory (two stacks, a demo and a query); one closing may remove it under another. Its own, here.
  const instance = await DuckDBInstance.create(':memory:', { temp_directory: join(directory, 'spill') });
  const connection: DuckDBConnection = await instance.connect();
  let sequence = 0;
  const writeLines = async (table: TableDef, input: string): Promise<Uint8Array> => {
    const output = join(directory, `${++sequence}.parquet`);
    try {
      const readAs = table.columns
        .map((c) => `${quoteLiteral(c.name)}: '${c.type === 'array<string>' ? 'VARCHAR[]' : 'VARCHAR'}'`)
        .join(', ');
      const select = table.columns
        .map((c) => `CAST(${quoteIdentifier(c.name)} AS ${duckdbType(c.type)}) AS ${quoteIdentifier(c.name)}`)
        .join(', ');
      await connection.run(
        `COPY (SELECT ${select} FROM read_json(${quoteLiteral(input)}, format = 'newline_delimited', columns = {${readAs}})) ` +
          `TO ${quoteLiteral(output)} (FORMAT PARQUET, ${PARQUET_OPTIONS})`,
      );
      return new Uint8Array(await readFile(output));
    } finally {
      await rm(input, { force: true });
      await rm(output, { force: true });
    }
  };
  return {
    directory,
    writeLines,
    async write(table, rows) {
      const input = join(directory, `rows-${++sequence}.jsonl`);
      await writeFile(input, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
      return writeLines(table, input);
    },
    async close() {
      connection.closeSync();
      instance.closeSync();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
