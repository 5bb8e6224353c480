/**
 * CSV bytes → chunks of rows with their line numbers and byte ranges.
 *
 * The rule: one row is one line. The Kaggle files never put a line break inside a field, so a quoted
 * field may not span a line end here, although RFC 4180 would allow it. Without this rule a single
 * stray quote (`"acme` in a brand) makes csv-parse read every later line into one field until the
 * next quote or the end of the file, and the rows in between vanish into one rejected "row". With it,
 * a line whose quoted field is still open at its end is rejected alone (`malformed_csv`), as is a line
 * too long to ever be a Kinesis record (`oversize`), and reading goes on with the next line.
 *
 * So lines are found first, by a scanner of our own (a byte search for line breaks and quotes, cheap
 * next to csv-parse), and csv-parse only ever sees whole lines that obey the rule; it still splits
 * the fields (array rows, no casting: typing is parseRow's job). Rows travel in chunks, one per input
 * buffer, rather than one stream object per row: the per-row cost of an object-mode stream is a
 * visible share of the replay CPU budget, and a chunk is also the unit the checkpoint advances by.
 */
import type { Readable } from 'node:stream';
import { Parser } from 'csv-parse';
import { CSV_COLUMNS, CSV_HEADER_LINE, MAX_ROW_BYTES } from '../core/event.ts';
import { ProducerError } from './errors.ts';

export interface LineReject {
  reason: 'malformed_csv' | 'oversize';
  detail: string;
}

export interface RowChunk {
  /** Fields of each row as csv-parse split them; `[]` for a row the reader rejected (see `rejected`). */
  rows: string[][];
  /** The line (1-based, in the whole file) each row is on. */
  lines: number[];
  /** Byte offset (in the decompressed file) where each row's line starts. */
  starts: number[];
  /** Byte offset just past each row's line break. */
  ends: number[];
  /** Rows rejected by the reader itself, by index. */
  rejected?: Map<number, LineReject>;
  /** A row's bytes as they are in the source, line break excluded: what a rejects file keeps. */
  raw(index: number): Buffer;
}

/** Bytes read that belong to no row, counted as the reader goes (for the replay's byte accounting). */
export interface ReaderTally {
  /** Bytes received from the input (decompressed), from `startByte` on. */
  input: number;
  /** The header line, its line break included. */
  header: number;
  /** Empty lines. */
  blank: number;
}

export interface RowReaderOptions {
  /** Where `input` starts in the file: after a resume, lines and bytes already done. */
  startLine?: number;
  startByte?: number;
  /** Filled in while reading. */
  tally?: ReaderTally;
}

/**
 * A rejected line is kept whole for the rejects file up to this size. Past it only its first bytes
 * are kept, with the byte range of the whole line in the reject's detail: memory stays bounded on a
 * file that is one endless line (a binary file with a valid header), and the range still finds it.
 */
export const MAX_KEPT_LINE_BYTES = 16 * 1024 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const PARSER_OPTIONS = {
  // The real files mix CRLF (2019-Oct) and LF (2019-Nov); csv-parse would otherwise fix the first it sees.
  record_delimiter: ['\r\n', '\n'] as string[],
  // A wrong column count is a rejected row, not the end of the run.
  relax_column_count: true,
  relax_quotes: true,
  skip_empty_lines: true,
  // A backstop only: no line longer than MAX_ROW_BYTES reaches csv-parse.
  max_record_size: 2 * MAX_ROW_BYTES,
};

/**
 * Whether a quoted field is still open at the end of the line `buf[start, end)` (`end` at its `\n`,
 * or the end of the data for a last line without one). The same quoting rules as csv-parse with the
 * options above: a quote opens a field only as its first character, `""` inside is a quote, and a
 * quote closes the field when a comma or the line break follows, else it is text (relax_quotes).
 */
export function quoteOpenAtLineEnd(buf: Uint8Array, start: number, end: number): boolean {
  let quoting = false;
  let fieldEmpty = true;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (quoting) {
      if (c !== QUOTE) continue;
      const next = i + 1 < end ? buf[i + 1] : NL;
      if (next === QUOTE) {
        i++;
        fieldEmpty = false;
        continue;
      }
      quoting = false;
      if (!(next === NL || next === COMMA || (next === CR && i + 2 === end))) fieldEmpty = false;
      continue;
    }
    if (c === QUOTE && fieldEmpty) quoting = true;
    else fieldEmpty = c === COMMA;
  }
  return quoting;
}

/** A line longer than any row may be, read across input buffers without holding more than the cap. */
interface LongLine {
  start: number;
  line: number;
  /** Bytes so far, its line break excluded. */
  bytes: number;
  last: number;
  kept: Buffer[];
  keptBytes: number;
}

type KeptReject = LineReject & { raw: Buffer };

/** Input bytes with their offset in the file, so a row's bytes can be cut out of them later. */
interface Segment {
  base: number;
  data: Buffer;
}

class Chunk implements RowChunk {
  rows: string[][] = [];
  lines: number[] = [];
  starts: number[] = [];
  ends: number[] = [];
  rejected?: Map<number, LineReject>;
  /** Where each row's bytes are; for rejected rows, their kept bytes. */
  readonly sources: Array<Segment | Buffer> = [];

  raw(index: number): Buffer {
    const source = this.sources[index];
    if (source === undefined || Buffer.isBuffer(source)) return source ?? Buffer.alloc(0);
    const { base, data } = source;
    const start = (this.starts[index] as number) - base;
    let stop = (this.ends[index] as number) - base;
    if (data[stop - 1] === NL) {
      stop--;
      if (stop > start && data[stop - 1] === CR) stop--;
    }
    return data.subarray(start, stop);
  }
}

const isReject = (source: Segment | KeptReject): source is KeptReject => 'reason' in source;

/**
 * Lines given to csv-parse or rejected, whose rows are not out yet, in file order. csv-parse emits a
 * line's row only once it has seen a byte past its line break, so the last line of each buffer waits.
 */
class LineQueue {
  starts: number[] = [];
  ends: number[] = [];
  lines: number[] = [];
  /** The line's segment, or for a line the reader rejected (csv-parse never sees it), why. */
  sources: Array<Segment | KeptReject> = [];
  head = 0;
  /** Rejected lines not taken yet: while there are none, a row needs no look for them. */
  rejects = 0;

  add(start: number, end: number, line: number, source: Segment | KeptReject): void {
    this.starts.push(start);
    this.ends.push(end);
    this.lines.push(line);
    this.sources.push(source);
    if (isReject(source)) this.rejects++;
  }

  get pending(): number {
    return this.starts.length - this.head;
  }

  /** Drops the lines already taken. */
  compact(): void {
    if (this.head === 0) return;
    this.starts.splice(0, this.head);
    this.ends.splice(0, this.head);
    this.lines.splice(0, this.head);
    this.sources.splice(0, this.head);
    this.head = 0;
  }
}

/** The line scanner in front of csv-parse, with rows collected into one RowChunk per input buffer. */
class RowReader extends Parser {
  /** File offset of the next byte to scan (the carried partial line's first byte). */
  private offset: number;
  private line: number;
  private carry: Buffer | undefined;
  private long: LongLine | undefined;
  private readonly queue = new LineQueue();
  private chunk = new Chunk();
  private headerPending: boolean;
  private failure: Error | undefined;
  private fed = false;
  private readonly tally: ReaderTally;

  constructor(options: RowReaderOptions) {
    const startByte = options.startByte ?? 0;
    super({ ...PARSER_OPTIONS, bom: startByte === 0 });
    this.offset = startByte;
    this.line = options.startLine ?? 0;
    this.headerPending = startByte === 0;
    this.tally = options.tally ?? { input: 0, header: 0, blank: 0 };
  }

  // csv-parse calls push synchronously for each row while it parses what _transform gives it, in order.
  override push(record: unknown, encoding?: BufferEncoding): boolean {
    if (!Array.isArray(record)) return super.push(record, encoding);
    if (this.failure) return true;
    this.takeRejectsAtHead();
    const queue = this.queue;
    if (queue.pending === 0) {
      this.failure = lostCount(this.line);
      return true;
    }
    const h = queue.head++;
    if (this.headerPending) {
      this.headerPending = false;
      this.tally.header = (queue.ends[h] as number) - (queue.starts[h] as number);
      this.failure = headerError(record as string[]);
      return true;
    }
    const chunk = this.chunk;
    chunk.rows.push(record as string[]);
    chunk.lines.push(queue.lines[h] as number);
    chunk.starts.push(queue.starts[h] as number);
    chunk.ends.push(queue.ends[h] as number);
    chunk.sources.push(queue.sources[h] as Segment);
    return true;
  }

  override _transform(
    buffer: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.tally.input += buffer.length;
    const rest = this.long ? this.continueLongLine(buffer) : buffer;
    const lines = rest.length > 0 ? this.scan(rest, false) : undefined;
    if (!lines || lines.length === 0) this.finishChunk(callback, false);
    else this.parse(lines, (error) => this.finishChunk(callback, false, error));
  }

  override _flush(callback: (error?: Error | null) => void): void {
    if (this.long) this.endLongLine(false);
    const lines = this.carry ? this.scan(Buffer.alloc(0), true) : undefined;
    // csv-parse given nothing at all would end the stream itself, before the last chunk or error.
    const flush = () =>
      this.fed
        ? super._flush((error) => this.finishChunk(callback, true, error))
        : this.finishChunk(callback, true);
    if (!lines || lines.length === 0) flush();
    else this.parse(lines, (error) => (error ? this.finishChunk(callback, true, error) : flush()));
  }

  /** Whole lines to csv-parse, which pushes their rows (through `push`) before it calls back. */
  private parse(lines: Buffer, callback: (error?: Error | null) => void): void {
    this.fed = true;
    // 'buffer' is what a stream passes for Buffer chunks; csv-parse ignores it.
    super._transform(lines, 'buffer' as BufferEncoding, callback);
  }

  /**
   * Finds the lines in `carry + buffer`: whole ones are classified (blank, rejected, or a row for
   * csv-parse), an incomplete last one is carried to the next buffer (at the end of the input it is a
   * line too). Returns the bytes for csv-parse: every whole line but the rejected ones.
   */
  private scan(buffer: Buffer, atEnd: boolean): Buffer {
    const data = this.carry ? Buffer.concat([this.carry, buffer]) : buffer;
    this.carry = undefined;
    const segment: Segment = { base: this.offset, data };
    const base = this.offset;
    let stretches: Buffer[] | undefined; // once a line is cut out: the runs of lines around it
    let stretchFrom = 0;
    let start = 0;
    let nextQuote = data.indexOf(QUOTE);
    if (nextQuote === -1) nextQuote = Number.POSITIVE_INFINITY;
    while (start < data.length) {
      let nl = data.indexOf(NL, start);
      if (nl === -1) {
        if (!atEnd) break;
        nl = data.length;
      }
      const end = Math.min(nl + 1, data.length);
      this.line++;
      const bom = base + start === 0 && UTF8_BOM.compare(data, 0, 3) === 0 ? 3 : 0;
      // A \r ends the content only as part of \r\n (csv-parse's record delimiters).
      const contentEnd = nl > start && nl < data.length && data[nl - 1] === CR ? nl - 1 : nl;
      let quoted = false;
      if (nextQuote < nl) {
        quoted = true;
        nextQuote = data.indexOf(QUOTE, end);
        if (nextQuote === -1) nextQuote = Number.POSITIVE_INFINITY;
      }
      if (contentEnd === start + bom) {
        this.tally.blank += end - start;
      } else {
        const reject =
          contentEnd - start > MAX_ROW_BYTES
            ? oversize(data.subarray(start, contentEnd), contentEnd - start, base + start, base + end)
            : quoted && quoteOpenAtLineEnd(data, start + bom, nl)
              ? malformed(data.subarray(start, contentEnd))
              : undefined;
        this.queue.add(base + start, base + end, this.line, reject ?? segment);
        if (reject) {
          stretches ??= [];
          if (start > stretchFrom) stretches.push(data.subarray(stretchFrom, start));
          stretchFrom = end;
        }
      }
      start = end;
    }
    this.offset = base + start;
    if (start < data.length) {
      const rest = data.subarray(start);
      if (rest.length > MAX_ROW_BYTES && this.headerPending && this.queue.pending === 0) {
        // No header is that long: a binary file, say. Say so now rather than after reading all of it.
        this.failure ??= headerError(undefined, rest);
      } else if (rest.length > MAX_ROW_BYTES) {
        this.long = { start: base + start, line: this.line + 1, bytes: 0, last: -1, kept: [], keptBytes: 0 };
        this.extendLongLine(rest);
      } else {
        this.carry = rest;
      }
    }
    if (!stretches) return data.subarray(0, start);
    if (start > stretchFrom) stretches.push(data.subarray(stretchFrom, start));
    return Buffer.concat(stretches);
  }

  /** Counts (and keeps up to the cap) the bytes of the long line; returns what follows its line break. */
  private continueLongLine(buffer: Buffer): Buffer {
    const nl = buffer.indexOf(NL);
    if (nl === -1) {
      this.extendLongLine(buffer);
      return buffer.subarray(buffer.length);
    }
    this.extendLongLine(buffer.subarray(0, nl));
    this.endLongLine(true);
    return buffer.subarray(nl + 1);
  }

  private extendLongLine(bytes: Buffer): void {
    const long = this.long as LongLine;
    if (bytes.length === 0) return;
    long.bytes += bytes.length;
    long.last = bytes[bytes.length - 1] as number;
    this.offset += bytes.length;
    const room = MAX_KEPT_LINE_BYTES - long.keptBytes;
    if (room <= 0) return;
    // A copy: a slice would pin each whole input buffer for as long as the line goes on.
    const piece = Buffer.from(bytes.subarray(0, room));
    long.kept.push(piece);
    long.keptBytes += piece.length;
  }

  /** The long line ended, at a line break or at the end of the input: it is a rejected row. */
  private endLongLine(atBreak: boolean): void {
    const long = this.long as LongLine;
    this.long = undefined;
    const contentBytes = atBreak && long.last === CR ? long.bytes - 1 : long.bytes;
    const end = long.start + long.bytes + (atBreak ? 1 : 0);
    this.offset = end;
    this.line = long.line;
    const raw = Buffer.concat(long.kept).subarray(0, contentBytes);
    this.queue.add(long.start, end, long.line, oversize(raw, contentBytes, long.start, end));
  }

  /** Moves the rejected lines at the head of the queue into the chunk: no csv-parse row comes before them. */
  private takeRejectsAtHead(): void {
    const queue = this.queue;
    for (; queue.rejects > 0 && queue.pending > 0; queue.head++) {
      const h = queue.head;
      const source = queue.sources[h] as Segment | KeptReject;
      if (!isReject(source)) return;
      queue.rejects--;
      if (this.headerPending) {
        this.headerPending = false;
        this.tally.header = (queue.ends[h] as number) - (queue.starts[h] as number);
        this.failure ??= headerError(undefined, source.raw);
        continue;
      }
      const chunk = this.chunk;
      chunk.rejected ??= new Map();
      chunk.rejected.set(chunk.rows.length, { reason: source.reason, detail: source.detail });
      chunk.rows.push([]);
      chunk.lines.push(queue.lines[h] as number);
      chunk.starts.push(queue.starts[h] as number);
      chunk.ends.push(queue.ends[h] as number);
      chunk.sources.push(source.raw);
    }
  }

  private finishChunk(callback: (error?: Error | null) => void, atEnd: boolean, error?: Error | null): void {
    if (!error && !this.failure) {
      this.takeRejectsAtHead();
      if (atEnd && this.queue.pending > 0) this.failure = lostCount(this.line);
      if (atEnd && this.headerPending)
        this.failure ??= new ProducerError(
          'the source is empty: no CSV header',
          `expected: ${CSV_HEADER_LINE}`,
        );
    }
    const failure = error ? readerError(error, this.line) : this.failure;
    if (failure) {
      callback(failure);
      return;
    }
    this.queue.compact();
    if (this.chunk.rows.length > 0) {
      super.push(this.chunk);
      this.chunk = new Chunk();
    }
    callback();
  }
}

function malformed(raw: Buffer): KeptReject {
  return {
    reason: 'malformed_csv',
    detail: 'a quoted field is still open at the end of the line (a field never spans lines in this format)',
    raw,
  };
}

function oversize(raw: Buffer, bytes: number, start: number, end: number): KeptReject {
  const cut =
    raw.length < bytes
      ? `; only its first ${raw.length} bytes are kept here: the line is bytes ${start}-${end - 1} of the source`
      : '';
  return {
    reason: 'oversize',
    detail: `line is ${bytes} bytes, over the ${MAX_ROW_BYTES}-byte row limit${cut}`,
    raw,
  };
}

function lostCount(line: number): ProducerError {
  return new ProducerError(
    `the CSV reader lost count of rows near line ${line}`,
    'a bug in the reader: please report it with the lines around there',
  );
}

function readerError(error: Error, line: number): Error {
  if (error instanceof ProducerError) return error;
  return new ProducerError(
    `the CSV reader failed near line ${line}: ${error.message}`,
    'a bug in the reader: please report it with the lines around there',
    { cause: error },
  );
}

/**
 * Reads row chunks from CSV bytes. From the start of a file the header is checked and not returned;
 * from a resume offset there is no header to check.
 */
export async function* readRowChunks(
  input: Readable,
  options: RowReaderOptions = {},
): AsyncGenerator<RowChunk> {
  const reader = new RowReader(options);
  input.on('error', (error) => reader.destroy(error));
  input.pipe(reader);
  try {
    for await (const chunk of reader as AsyncIterable<RowChunk>) yield chunk;
  } finally {
    input.unpipe(reader);
    input.destroy();
    reader.destroy();
  }
}

function headerError(fields: string[] | undefined, raw?: Buffer): ProducerError | undefined {
  const ok =
    fields?.length === CSV_COLUMNS.length && CSV_COLUMNS.every((name, i) => fields[i]?.trim() === name);
  if (ok) return undefined;
  const got = fields ? fields.join(',') : (raw ?? Buffer.alloc(0)).subarray(0, 200).toString('utf8');
  return new ProducerError(
    `the source is not a Kaggle clickstream CSV: header is "${got.length > 120 ? `${got.slice(0, 120)}…` : got}"`,
    `expected: ${CSV_HEADER_LINE}`,
  );
}
