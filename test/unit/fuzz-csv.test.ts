/**
 * Bad CSV never stops the line: the streaming reader and parseRow, fed random bytes, truncated rows,
 * quotes left open or spanning lines, huge fields, invalid UTF-8, wrong types and repeated headers,
 * give each input line a counted rejection or a valid event, never throw past the header, never lose
 * a good row that follows a bad one, and account for every byte, however the bytes are split into
 * chunks.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CSV_HEADER_LINE,
  MAX_ROW_BYTES,
  parseRow,
  REJECT_REASONS,
  type RejectReason,
} from '../../core/event.ts';
import { ProducerError } from '../../producer/errors.ts';
import { MAX_KEPT_LINE_BYTES, type ReaderTally, readRowChunks } from '../../producer/rows.ts';

const RUNS = { numRuns: 300, seed: 20_240_601 };

interface Outcome {
  /** product_id of each accepted row, in order. */
  accepted: string[];
  rejected: Partial<Record<RejectReason, number>>;
  rows: number;
  /** Header, blank lines and every row's bytes: the whole input when nothing is lost. */
  bytes: number;
}

/** The producer's reading loop (replay.ts), minus the sending: every row accepted or rejected by reason. */
async function readAll(bytes: Buffer, cuts: readonly number[] = []): Promise<Outcome> {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  pieces.push(bytes.subarray(from));
  const outcome: Outcome = { accepted: [], rejected: {}, rows: 0, bytes: 0 };
  const reject = (reason: RejectReason) => {
    outcome.rejected[reason] = (outcome.rejected[reason] ?? 0) + 1;
  };
  const tally: ReaderTally = { input: 0, header: 0, blank: 0 };
  let previousEnd = 0;
  for await (const chunk of readRowChunks(Readable.from(pieces.filter((p) => p.length > 0)), { tally })) {
    for (let i = 0; i < chunk.rows.length; i++) {
      outcome.rows++;
      const start = chunk.starts[i] as number;
      const end = chunk.ends[i] as number;
      expect(start).toBeGreaterThanOrEqual(previousEnd);
      previousEnd = end;
      const bytesOfRow = end - start;
      outcome.bytes += bytesOfRow;
      const reader = chunk.rejected?.get(i);
      if (reader) {
        reject(reader.reason);
        continue;
      }
      const parsed = parseRow(chunk.rows[i] as string[], bytesOfRow);
      if (parsed.ok) outcome.accepted.push(parsed.event.product_id);
      else reject(parsed.reason);
    }
  }
  for (const reason of Object.keys(outcome.rejected)) expect(REJECT_REASONS).toContain(reason);
  expect(tally.input).toBe(bytes.length);
  outcome.bytes += tally.header + tally.blank;
  return outcome;
}

const HEADER = Buffer.from(`${CSV_HEADER_LINE}\n`);

/**
 * Rows in a CSV by the one-row-per-line rule, counted the plain way: lines that hold anything but
 * their line break (`\n`, or `\r\n`), the header included.
 */
function nonBlankLines(bytes: Buffer): number {
  let count = 0;
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    const content = nl !== -1 && end > start && bytes[end - 1] === 0x0d ? end - 1 - start : end - start;
    if (content > 0) count++;
    start = end + 1;
  }
  return count;
}

/** A valid row whose product id identifies it; brands with multi-byte characters test chunk splits. */
function validRow(id: number, brand: string): string {
  return `2019-10-01 00:00:${String(id % 60).padStart(2, '0')} UTC,view,${id},2053013555631882655,electronics.smartphone,${brand},12.50,5${id},s${id}`;
}

// Text that cannot open a quoted field, end a line or add a column: garbage confined to one field.
const fieldText = fc.string({ maxLength: 30 }).map((text) => text.replace(/["\r\n,\uFFFD]/g, '_'));
const BASE = validRow(1, 'x').split(',');

/** One bad CSV record (exactly one: no blank lines, quotes closed), as bytes. */
const badRecord: fc.Arbitrary<Buffer> = fc.oneof(
  // Wrong column count, arbitrary text.
  fc
    .array(fieldText, { minLength: 1, maxLength: 14 })
    .filter((f) => f.length !== 9 && f.join(',').trim() !== '')
    .map((f) => Buffer.from(f.join(','))),
  // Truncated valid row, cut before its 9th column (an empty user_session is valid).
  fc
    .integer({ min: 1, max: BASE.join(',').lastIndexOf(',') })
    .map((n) => Buffer.from(BASE.join(',').slice(0, n))),
  // Wrong types: one field replaced by text that is never valid there.
  fc.record({ index: fc.constantFrom(0, 1, 2, 3, 6, 7), text: fieldText }).map(({ index, text }) => {
    const fields = [...BASE];
    fields[index] = `x${text}`;
    return Buffer.from(fields.join(','));
  }),
  // Quoted fields with embedded newlines, commas and doubled quotes: as a field may not span lines
  // here, the line that opens the quote and each line after it are rejected one by one.
  fc.string({ maxLength: 20 }).map((text) => {
    const fields = [...BASE];
    fields[7] = `"a\n${text.replace(/"/g, '""')},b"`;
    return Buffer.from(fields.join(','));
  }),
  // Invalid UTF-8 inside a field.
  fc.uint8Array({ minLength: 1, maxLength: 4 }).map((bytes) => {
    const [head, tail] = [BASE.slice(0, 5).join(','), BASE.slice(6).join(',')];
    return Buffer.concat([
      Buffer.from(`${head},br`),
      Buffer.from([0xff, ...bytes.map((b) => 0x80 | (b & 0x3f))]),
      Buffer.from(`,${tail}`),
    ]);
  }),
  // The header again, mid-file.
  fc.constant(Buffer.from(CSV_HEADER_LINE)),
);

describe('CSV reader + parseRow under fuzzing', () => {
  it('never throws on random bytes after a valid header, and counts every row', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3_000 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        async (bytes, cuts) => {
          const input = Buffer.concat([HEADER, Buffer.from(bytes)]);
          const outcome = await readAll(input, cuts);
          const rejected = Object.values(outcome.rejected).reduce((a, b) => a + b, 0);
          expect(outcome.accepted.length + rejected).toBe(outcome.rows);
          expect(outcome.rows).toBe(nonBlankLines(input) - 1);
          expect(outcome.bytes).toBe(input.length);
        },
      ),
      RUNS,
    );
  });

  it('reads the same rows from small inputs fed one byte at a time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...'ab,"\r\n\uFEFF'.split('')), { maxLength: 60 }),
        async (characters) => {
          const input = Buffer.concat([HEADER, Buffer.from(characters.join(''))]);
          const whole = await readAll(input);
          const bytewise = await readAll(
            input,
            Array.from({ length: input.length }, (_, i) => i),
          );
          expect(bytewise).toEqual(whole);
          expect(whole.rows).toBe(nonBlankLines(input) - 1);
        },
      ),
      RUNS,
    );
  });

  it('keeps every good row, exactly once and in order, between bad ones, however the bytes are chunked', async () => {
    const entry = fc.oneof(
      {
        arbitrary: fc
          .constantFrom('samsung', 'café', '小米', '😀phone')
          .map((brand) => ({ good: true as const, brand })),
        weight: 2,
      },
      { arbitrary: badRecord.map((bytes) => ({ good: false as const, bytes })), weight: 3 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        async (entries, cuts, newline) => {
          const goodIds: string[] = [];
          const lines = entries.map((e, i) => {
            if (!e.good) return e.bytes;
            goodIds.push(String(1000 + i));
            return Buffer.from(validRow(1000 + i, e.brand));
          });
          const body = Buffer.concat([HEADER, ...lines.flatMap((line) => [line, Buffer.from(newline)])]);
          const outcome = await readAll(body, cuts);
          expect(outcome.accepted).toEqual(goodIds);
          const rejected = Object.values(outcome.rejected).reduce((a, b) => a + b, 0);
          expect(rejected).toBe(nonBlankLines(body) - 1 - goodIds.length);
          expect(outcome.bytes).toBe(body.length);
        },
      ),
      RUNS,
    );
  });

  it('rejects a huge row as oversize and keeps the good row after it', async () => {
    const huge = validRow(7, `b${'x'.repeat(MAX_ROW_BYTES)}`);
    const input = Buffer.from(`${CSV_HEADER_LINE}\n${huge}\n${validRow(8, 'ok')}\n`);
    const outcome = await readAll(input, [100_000, 900_000]);
    expect(outcome).toEqual({ accepted: ['8'], rejected: { oversize: 1 }, rows: 2, bytes: input.length });
  });

  // csv-parse gives up on the rest of its input past max_record_size: the reader must never let it
  // get there, whatever the line, and reject that one line instead.
  it('rejects a 2 MB field alone and reads on, however the bytes are chunked', async () => {
    const enormous = validRow(7, `b${'x'.repeat(2 * 1024 * 1024)}`);
    const input = Buffer.from(
      `${CSV_HEADER_LINE}\n${validRow(6, 'a')}\n${enormous}\r\n${validRow(8, 'ok')}\n`,
    );
    for (const cuts of [[], [65_536, 1_000_000, 2_097_300], [input.length - 3]]) {
      const outcome = await readAll(input, cuts);
      expect(outcome).toEqual({
        accepted: ['6', '8'],
        rejected: { oversize: 1 },
        rows: 3,
        bytes: input.length,
      });
    }
  });

  it('loses exactly one row to a quote left open in row 101 of 2,000, and keeps that line whole', async () => {
    const rows = Array.from({ length: 2_000 }, (_, i) => validRow(i, i === 100 ? '"acme' : 'acme'));
    const input = Buffer.from(`${CSV_HEADER_LINE}\n${rows.join('\n')}\n`);
    const outcome = await readAll(input, [4_096, 13_000]);
    expect(outcome.rows).toBe(2_000);
    expect(outcome.rejected).toEqual({ malformed_csv: 1 });
    expect(outcome.accepted).toHaveLength(1_999);
    expect(outcome.accepted).not.toContain('100');
    expect(outcome.bytes).toBe(input.length);
    const kept: string[] = [];
    for await (const chunk of readRowChunks(Readable.from([input]))) {
      for (const i of chunk.rejected?.keys() ?? [])
        kept.push(`${chunk.lines[i]}: ${chunk.raw(i).toString()}`);
    }
    expect(kept).toEqual([`102: ${rows[100]}`]);
  });

  it('keeps the first MAX_KEPT_LINE_BYTES of a longer line and names where the whole line is', async () => {
    const endless = Buffer.alloc(MAX_KEPT_LINE_BYTES + 10, 'y');
    const input = Buffer.concat([HEADER, endless, Buffer.from(`\n${validRow(8, 'ok')}\n`)]);
    const chunks = [];
    for await (const chunk of readRowChunks(
      Readable.from([input.subarray(0, 5_000_000), input.subarray(5_000_000)]),
    ))
      chunks.push(chunk);
    const rejected = chunks.flatMap((chunk) =>
      [...(chunk.rejected ?? [])].map(([i, why]) => ({ why, raw: chunk.raw(i) })),
    );
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.raw.length).toBe(MAX_KEPT_LINE_BYTES);
    expect(rejected[0]?.why).toEqual({
      reason: 'oversize',
      detail: `line is ${endless.length} bytes, over the ${MAX_ROW_BYTES}-byte row limit; only its first ${MAX_KEPT_LINE_BYTES} bytes are kept here: the line is bytes ${HEADER.length}-${HEADER.length + endless.length} of the source`,
    });
    expect(
      chunks.flatMap((chunk) => chunk.rows.filter((row) => row.length > 0).map((row) => row[2])),
    ).toEqual(['8']);
  });

  it('refuses a source whose first line runs past any header, without reading the rest', async () => {
    let served = 0;
    const binary = Readable.from(
      (function* () {
        for (; served < 1_000; served++) yield Buffer.alloc(65_536, 0x01);
      })(),
    );
    await expect(readRowChunks(binary).next()).rejects.toThrow(/not a Kaggle clickstream CSV/);
    expect(served).toBeLessThan(50);
  });

  it('fails a file whose header repeats a column with a typed error, not a crash', async () => {
    const header = CSV_HEADER_LINE.replace('product_id', 'event_type');
    await expect(readAll(Buffer.from(`${header}\n${validRow(1, 'a')}\n`))).rejects.toBeInstanceOf(
      ProducerError,
    );
  });
});
