/**
 * Where rows that cannot be sent go: rejected rows (bad input) to a CSV with line and reason, and
 * records that Kinesis kept refusing to a JSON-lines file that can be replayed later. Files are created
 * on the first entry, so a clean run leaves nothing behind.
 */
import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { RejectReason } from '../core/event.ts';
import { userRecordsOf } from '../core/kpl.ts';
import { fatalAwsError } from './errors.ts';
import type { FailedRecord } from './sender.ts';

export const REJECTS_HEADER = 'line,reason,detail,row';
const NEWLINE = Buffer.from('\n');

/** One CSV field, quoted when it needs to be (RFC 4180). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

const QUOTE = 0x22;

/**
 * A row's bytes as one quoted CSV field, byte for byte: what does not parse as text (a stray quote,
 * invalid UTF-8) is kept exactly as it was read, quotes doubled (0x22 never occurs inside a UTF-8
 * multi-byte sequence, so doubling bytes is safe).
 */
export function rawCsvField(raw: Uint8Array): Buffer {
  let quotes = 0;
  for (let i = raw.indexOf(QUOTE); i !== -1; i = raw.indexOf(QUOTE, i + 1)) quotes++;
  const out = Buffer.allocUnsafe(raw.length + quotes + 2);
  out[0] = QUOTE;
  let at = 1;
  let from = 0;
  for (let i = raw.indexOf(QUOTE); i !== -1; i = raw.indexOf(QUOTE, i + 1)) {
    out.set(raw.subarray(from, i + 1), at);
    at += i + 1 - from;
    out[at++] = QUOTE;
    from = i + 1;
  }
  out.set(raw.subarray(from), at);
  out[out.length - 1] = QUOTE;
  return out;
}

/** An append-only file, opened lazily; `flushed()` resolves once everything written is on disk. */
class LazyFile {
  private stream: WriteStream | undefined;
  private lastWrite: Promise<void> = Promise.resolve();
  count = 0;

  constructor(
    readonly path: string,
    private readonly header?: string,
    private readonly append = false,
  ) {}

  write(text: string | Uint8Array): void {
    if (!this.stream) {
      mkdirSync(dirname(this.path), { recursive: true });
      const exists = this.append && fileSize(this.path) > 0;
      this.stream = createWriteStream(this.path, { flags: this.append ? 'a' : 'w' });
      if (this.header && !exists) this.stream.write(`${this.header}\n`);
    }
    const stream = this.stream;
    this.count++;
    this.lastWrite = new Promise((resolve, reject) =>
      stream.write(text, (error) => (error ? reject(error) : resolve())),
    );
  }

  flushed(): Promise<void> {
    return this.lastWrite;
  }

  async close(): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    await this.lastWrite;
    await new Promise<void>((resolve) => stream.end(resolve));
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export interface RejectSink {
  /** `line`: the row's line in the source; `raw`: its bytes there, line break excluded. */
  reject(line: number, reason: RejectReason, detail: string, raw: Uint8Array): void;
  flushed(): Promise<void>;
  /** Where the rejects went (undefined when there were none). */
  close(): Promise<string | undefined>;
}

/**
 * Rejects to a local CSV. `append` continues the file of a resumed run (its header is kept once).
 */
export function fileRejectSink(path: string, options: { append?: boolean } = {}): RejectSink {
  const file = new LazyFile(path, REJECTS_HEADER, options.append);
  return {
    reject: (line, reason, detail, raw) =>
      file.write(
        Buffer.concat([Buffer.from(`${line},${reason},${csvField(detail)},`), rawCsvField(raw), NEWLINE]),
      ),
    flushed: () => file.flushed(),
    close: async () => {
      await file.close();
      return file.count > 0 ? path : undefined;
    },
  };
}

/**
 * Rejects to S3 (AWS mode, S3 source): spooled to a local file and uploaded at the end, so a long run
 * makes one object rather than one per row.
 */
export function s3RejectSink(options: {
  s3: S3Client;
  bucket: string;
  key: string;
  spoolPath: string;
}): RejectSink {
  const local = fileRejectSink(options.spoolPath);
  return {
    reject: local.reject,
    flushed: local.flushed,
    close: async () => {
      const path = await local.close();
      if (!path) return undefined;
      try {
        await new Upload({
          client: options.s3,
          params: {
            Bucket: options.bucket,
            Key: options.key,
            Body: createReadStream(path),
            ContentType: 'text/csv',
          },
        }).done();
      } catch (error) {
        throw fatalAwsError(error, `s3://${options.bucket}/${options.key}`) ?? error;
      }
      rmSync(path, { force: true });
      return `s3://${options.bucket}/${options.key}`;
    },
  };
}

/**
 * Events Kinesis refused after every retry: one JSON object per event (an aggregate that failed lists
 * each of its events), the record body kept as is, so a later replay of the file's lines resends them.
 */
export function failedRecordsFile(path: string, options: { append?: boolean } = {}) {
  const file = new LazyFile(path, undefined, options.append);
  return {
    write(failures: readonly FailedRecord[]): void {
      let text = '';
      let events = 0;
      for (const { record, errorCode, errorMessage } of failures) {
        const error = `"errorCode":${JSON.stringify(errorCode)},"errorMessage":${JSON.stringify(errorMessage)}`;
        // The bodies are in the record: the aggregate's events in order, or the one event.
        const bodies = userRecordsOf(record.data, record.partitionKey);
        record.events.forEach((event, i) => {
          const data = bodies[i]?.data ?? new Uint8Array();
          const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
          text += `{"line":${event.line},"partitionKey":${JSON.stringify(event.partitionKey)},${error},"record":${body}}\n`;
          events++;
        });
      }
      if (events === 0) return;
      file.write(text);
      file.count += events - 1;
    },
    flushed: () => file.flushed(),
    close: async (): Promise<string | undefined> => {
      await file.close();
      return file.count > 0 ? path : undefined;
    },
  };
}
