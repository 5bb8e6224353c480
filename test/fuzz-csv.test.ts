/**
 * Bad CSV never stops the line: the streaming reader and parseRow, fed random bytes, truncated rows,
 * quotes with embedded newlines, huge fields, invalid UTF-8, wrong types and repeated headers, give
 * each input row a counted rejection or a valid event, never throw past the header, and never lose
 * a good row that follows a bad one, however the bytes are split into chunks.
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
} from '../core/event.ts';
import { ProducerError } from '../producer/errors.ts';
import { readRowChunks } from '../producer/rows.ts';

const RUNS = { numRuns: 300, seed: 20_240_601 };

interface Outcome {
  /** product_id of each accepted row, in order. */
  accepted: string[];
  rejected: Partial<Record<RejectReason, number>>;
  rows: number;
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
  const outcome: Outcome = { accepted: [], rejected: {}, rows: 0 };
  const reject = (reason: RejectReason) => {
    outcome.rejected[reason] = (outcome.rejected[reason] ?? 0) + 1;
  };
  let previousEnd = 0;
  for await (const chunk of readRowChunks(Readable.from(pieces.filter((p) => p.length > 0)))) {
    for (let i = 0; i < chunk.rows.length; i++) {
      outcome.rows++;
      const end = chunk.ends[i] as number;
      const bytesOfRow = end - previousEnd;
      previousEnd = end;
      if (chunk.malformed?.has(i)) {
        reject('malformed_csv');
        continue;
      }
      const parsed = parseRow(chunk.rows[i] as string[], bytesOfRow);
      if (parsed.ok) outcome.accepted.push(parsed.event.product_id);
      else reject(parsed.reason);
    }
  }
  for (const reason of Object.keys(outcome.rejected)) expect(REJECT_REASONS).toContain(reason);
  return outcome;
}

const HEADER = Buffer.from(`${CSV_HEADER_LINE}\n`);

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
  // Quoted fields with embedded newlines, commas and doubled quotes, in a wrong place (user_id).
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
          const outcome = await readAll(Buffer.concat([HEADER, Buffer.from(bytes)]), cuts);
          const rejected = Object.values(outcome.rejected).reduce((a, b) => a + b, 0);
          expect(outcome.accepted.length + rejected).toBe(outcome.rows);
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
          expect(rejected).toBe(entries.length - goodIds.length);
        },
      ),
      RUNS,
    );
  });

  it('rejects a huge row as oversize and keeps the good row after it', async () => {
    const huge = validRow(7, `b${'x'.repeat(MAX_ROW_BYTES)}`);
    const outcome = await readAll(
      Buffer.from(`${CSV_HEADER_LINE}\n${huge}\n${validRow(8, 'ok')}\n`),
      [100_000, 900_000],
    );
    expect(outcome).toEqual({ accepted: ['8'], rejected: { oversize: 1 }, rows: 2 });
  });

  // csv-parse drops the rest of its input after a record exceeds max_record_size, so the reader stops
  // with a typed error naming the line instead of losing every later row without a count.
  it('stops with a clear error, not silent loss, at a record longer than the reader buffers', async () => {
    const enormous = validRow(7, `b${'x'.repeat(2 * MAX_ROW_BYTES + 10)}`);
    const reading = readAll(Buffer.from(`${CSV_HEADER_LINE}\n${enormous}\n${validRow(8, 'ok')}\n`));
    await expect(reading).rejects.toBeInstanceOf(ProducerError);
    await expect(reading).rejects.toThrow(/near line 2 runs past/);
  });

  it('fails a file whose header repeats a column with a typed error, not a crash', async () => {
    const header = CSV_HEADER_LINE.replace('product_id', 'event_type');
    await expect(readAll(Buffer.from(`${header}\n${validRow(1, 'a')}\n`))).rejects.toBeInstanceOf(
      ProducerError,
    );
  });
});
