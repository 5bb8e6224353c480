/**
 * CSV bytes → chunks of rows with their line numbers and byte offsets.
 *
 * csv-parse does the splitting (array rows, no casting: typing is parseRow's job). Rows travel in
 * chunks, one per input buffer, rather than one stream object per row: the per-row cost of an
 * object-mode stream is a visible share of the replay CPU budget, and a chunk is also the unit the
 * checkpoint advances by.
 */
import type { Readable } from 'node:stream';
import { type CsvError, Parser } from 'csv-parse';
import { CSV_COLUMNS, CSV_HEADER_LINE, MAX_ROW_BYTES } from '../core/event.ts';
import { ProducerError } from './errors.ts';

export interface RowChunk {
  rows: string[][];
  /** Line (1-based, in the whole file) on which each row ends. */
  lines: number[];
  /** Byte offset (in the decompressed file) just past each row, its line break included. */
  ends: number[];
  /** Rows csv-parse could not split (e.g. a quote never closed), by index; their `rows` entry is empty. */
  malformed?: Map<number, string>;
}

export interface RowReaderOptions {
  /** Where `input` starts in the file: after a resume, lines and bytes already done. */
  startLine?: number;
  startByte?: number;
}

const MAX_RECORD_BYTES = 2 * MAX_ROW_BYTES;

const PARSER_OPTIONS = {
  // The real files mix CRLF (2019-Oct) and LF (2019-Nov); csv-parse would otherwise fix the first it sees.
  record_delimiter: ['\r\n', '\n'] as string[],
  // A wrong column count is a rejected row, not the end of the run.
  relax_column_count: true,
  relax_quotes: true,
  skip_empty_lines: true,
  bom: true,
  // Bounds memory when a quote is never closed: no acceptable row is anywhere near this long.
  max_record_size: MAX_RECORD_BYTES,
  skip_records_with_error: true,
};

/** csv-parse with rows collected into one RowChunk per input buffer. */
class ChunkingParser extends Parser {
  private chunk = emptyChunk();
  private readonly lineBase: number;
  private readonly byteBase: number;
  private lastEnd: number;

  constructor(options: RowReaderOptions) {
    const skips: Array<(error: CsvError) => void> = [];
    super({
      ...PARSER_OPTIONS,
      on_skip: (error: CsvError | undefined) => {
        if (error) skips[0]?.(error);
        return undefined;
      },
    });
    skips.push((error) => this.onMalformed(error));
    this.lineBase = options.startLine ?? 0;
    this.byteBase = options.startByte ?? 0;
    this.lastEnd = this.byteBase;
  }

  // csv-parse calls push synchronously for each row while it parses a buffer, so `info` is that row's.
  override push(record: unknown, encoding?: BufferEncoding): boolean {
    if (!Array.isArray(record)) return super.push(record, encoding);
    const chunk = this.chunk;
    chunk.rows.push(record as string[]);
    chunk.lines.push(this.lineBase + this.info.lines);
    this.lastEnd = this.byteBase + this.info.bytes;
    chunk.ends.push(this.lastEnd);
    return true;
  }

  override _transform(
    buffer: Buffer,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    super._transform(buffer, encoding, (error?: Error | null) => {
      this.emitChunk();
      callback(error);
    });
  }

  override _flush(callback: (error?: Error | null) => void): void {
    super._flush((error?: Error | null) => {
      this.emitChunk();
      callback(error);
    });
  }

  private onMalformed(error: CsvError): void {
    if (error.code === 'CSV_MAX_RECORD_SIZE') {
      // csv-parse abandons the rest of its input after this error (every later row would vanish
      // uncounted), so stop loudly instead: the checkpoint still resumes everything before this line.
      const line = this.lineBase + (typeof error.lines === 'number' ? error.lines : this.info.lines);
      this.destroy(
        new ProducerError(
          `a record starting near line ${line} runs past ${MAX_RECORD_BYTES} bytes (an unclosed quote?)`,
          'no valid Kaggle row is that long: fix the quoting around that line and replay again (with --checkpoint to resume)',
        ),
      );
      return;
    }
    const chunk = this.chunk;
    chunk.malformed ??= new Map();
    chunk.malformed.set(chunk.rows.length, error.message);
    chunk.rows.push([]);
    chunk.lines.push(this.lineBase + (typeof error.lines === 'number' ? error.lines : this.info.lines));
    this.lastEnd = Math.max(this.lastEnd, this.byteBase + this.info.bytes);
    chunk.ends.push(this.lastEnd);
  }

  private emitChunk(): void {
    if (this.chunk.rows.length === 0) return;
    super.push(this.chunk);
    this.chunk = emptyChunk();
  }
}

function emptyChunk(): RowChunk {
  return { rows: [], lines: [], ends: [] };
}

/**
 * Reads row chunks from CSV bytes. From the start of a file the header is checked and not returned;
 * from a resume offset there is no header to check.
 */
export async function* readRowChunks(
  input: Readable,
  options: RowReaderOptions = {},
): AsyncGenerator<RowChunk> {
  const parser = new ChunkingParser(options);
  input.on('error', (error) => parser.destroy(error));
  input.pipe(parser);
  let headerPending = (options.startByte ?? 0) === 0;
  try {
    for await (const chunk of parser as AsyncIterable<RowChunk>) {
      if (headerPending) {
        headerPending = false;
        if (chunk.malformed?.has(0))
          throw new ProducerError('the CSV header is malformed', `expected: ${CSV_HEADER_LINE}`);
        checkHeader(chunk.rows[0]);
        chunk.rows.shift();
        chunk.lines.shift();
        chunk.ends.shift();
        if (chunk.malformed)
          chunk.malformed = new Map([...chunk.malformed].map(([i, detail]) => [i - 1, detail]));
        if (chunk.rows.length === 0) continue;
      }
      yield chunk;
    }
  } finally {
    input.unpipe(parser);
    input.destroy();
    parser.destroy();
  }
  if (headerPending)
    throw new ProducerError('the source is empty: no CSV header', `expected: ${CSV_HEADER_LINE}`);
}

function checkHeader(fields: string[] | undefined): void {
  const ok =
    fields?.length === CSV_COLUMNS.length && CSV_COLUMNS.every((name, i) => fields[i]?.trim() === name);
  if (!ok) {
    const got = (fields ?? []).join(',');
    throw new ProducerError(
      `the source is not a Kaggle clickstream CSV: header is "${got.length > 120 ? `${got.slice(0, 120)}…` : got}"`,
      `expected: ${CSV_HEADER_LINE}`,
    );
  }
}

/** The line a rejected row starts on: its end line less the line breaks inside quoted fields. */
export function startLineOf(fields: readonly string[], endLine: number): number {
  let breaks = 0;
  for (const field of fields)
    for (let i = field.indexOf('\n'); i !== -1; i = field.indexOf('\n', i + 1)) breaks++;
  return endLine - breaks;
}
