/**
 * Verify's own reader of a Kaggle CSV, for its ground truth. It shares no splitting code with the
 * producer's reader (producer/rows.ts, csv-parse behind a line scanner) on purpose: when both read a
 * file with the same code, a reader bug loses the same rows on both sides and verify passes over the
 * loss. This one is as plain as the format allows: one row per line (the Kaggle files never have a line
 * break inside a field), fields split on commas, a field that opens with a quote runs to its closing
 * quote (`""` is a quote inside), a quote anywhere else is text, and a line whose quoted field is still
 * open at its end cannot be split. What a row's fields must look like (times, numbers, event types) is
 * the shared definition of a valid event in core/event.ts, which both sides apply.
 */
import type { Readable } from 'node:stream';
import { CSV_COLUMNS, MAX_ROW_BYTES } from '../core/event.ts';

export interface SourceLine {
  /** 1-based line number in the file. */
  line: number;
  /** The row's fields; undefined when the line cannot be split (see `unsplit`). */
  fields: string[] | undefined;
  unsplit?: 'malformed_csv' | 'oversize';
  /** Bytes of the line, its line break included. */
  bytes: number;
}

export class SourceFormatError extends Error {
  override name = 'SourceFormatError';
}

/**
 * The rows of a Kaggle CSV, a batch per input buffer; checks the header, skips empty lines. Lines
 * longer than any row may be are counted, never held, so memory stays flat whatever the file.
 */
export async function* readSourceLines(input: Readable): AsyncGenerator<SourceLine[]> {
  let line = 0;
  let sawHeader = false;
  let partial: Buffer[] = [];
  let partialBytes = 0;
  const take = (bytes: Buffer, lineBytes: number, batch: SourceLine[]) => {
    line++;
    let text = bytes.toString('utf8');
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.endsWith('\r') && lineBytes > bytes.length) text = text.slice(0, -1);
    if (text === '') return;
    if (!sawHeader) {
      sawHeader = true;
      const names = text.split(',').map((name) => name.trim());
      if (names.length !== CSV_COLUMNS.length || CSV_COLUMNS.some((name, i) => names[i] !== name))
        throw new SourceFormatError(
          `not a Kaggle clickstream CSV: header is ${JSON.stringify(text.slice(0, 120))}`,
        );
      return;
    }
    const fields = splitLine(text);
    batch.push({ line, fields, bytes: lineBytes, ...(fields ? {} : { unsplit: 'malformed_csv' as const }) });
  };
  for await (const buffer of input as AsyncIterable<Buffer>) {
    const batch: SourceLine[] = [];
    let start = 0;
    for (let nl = buffer.indexOf(0x0a); nl !== -1; nl = buffer.indexOf(0x0a, start)) {
      const lineBytes = partialBytes + nl + 1 - start;
      if (lineBytes - 1 > MAX_ROW_BYTES) {
        line++;
        batch.push({ line, fields: undefined, unsplit: 'oversize', bytes: lineBytes });
      } else {
        const piece = buffer.subarray(start, nl);
        take(partial.length ? Buffer.concat([...partial, piece]) : piece, lineBytes, batch);
      }
      partial = [];
      partialBytes = 0;
      start = nl + 1;
    }
    if (start < buffer.length) {
      partialBytes += buffer.length - start;
      // Past the limit the line's bytes are only counted.
      if (partialBytes <= MAX_ROW_BYTES + 1) partial.push(Buffer.from(buffer.subarray(start)));
      else partial = [];
    }
    if (batch.length) yield batch;
  }
  if (partialBytes > 0) {
    const batch: SourceLine[] = [];
    if (partialBytes > MAX_ROW_BYTES) {
      line++;
      batch.push({ line, fields: undefined, unsplit: 'oversize', bytes: partialBytes });
    } else {
      take(Buffer.concat(partial), partialBytes, batch);
    }
    if (batch.length) yield batch;
  }
  if (!sawHeader) throw new SourceFormatError('the source is empty: no CSV header');
}

/** A line's fields, or undefined when a quoted field is still open at its end. */
export function splitLine(text: string): string[] | undefined {
  if (!text.includes('"')) return text.split(',');
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    let field: string;
    if (text[at] === '"') {
      let value = '';
      let from = at + 1;
      for (;;) {
        const quote = text.indexOf('"', from);
        if (quote === -1) return undefined;
        if (text[quote + 1] === '"') {
          value += text.slice(from, quote + 1);
          from = quote + 2;
          continue;
        }
        value += text.slice(from, quote);
        at = quote + 1;
        break;
      }
      // A closing quote not followed by a comma was text after all, and so is the rest of the field.
      const comma = text.indexOf(',', at);
      const rest = text.slice(at, comma === -1 ? text.length : comma);
      field = rest === '' ? value : `"${value}"${rest}`;
      at = comma === -1 ? text.length + 1 : comma + 1;
    } else {
      const comma = text.indexOf(',', at);
      field = text.slice(at, comma === -1 ? text.length : comma);
      at = comma === -1 ? text.length + 1 : comma + 1;
    }
    fields.push(field);
    if (at > text.length) return fields;
  }
}
