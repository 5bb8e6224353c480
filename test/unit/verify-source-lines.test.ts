/**
 * Verify's own line reader and the producer's reader are two implementations of one format: fed the
 * same bytes, however garbled, they must find the same rows on the same lines, split them into the
 * same fields, and give up on the same lines. Each is the other's test oracle.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSourceLines, SourceFormatError, splitLine } from '../../analytics/source-lines.ts';
import { CSV_HEADER_LINE } from '../../core/event.ts';
import { readRowChunks } from '../../producer/rows.ts';

type Seen = Array<[line: number, fields: string[] | 'unsplit']>;

async function bySourceLines(bytes: Buffer, cut: number): Promise<Seen> {
  const seen: Seen = [];
  for await (const batch of readSourceLines(Readable.from(pieces(bytes, cut))))
    for (const row of batch) seen.push([row.line, row.fields ?? 'unsplit']);
  return seen;
}

async function byProducer(bytes: Buffer, cut: number): Promise<Seen> {
  const seen: Seen = [];
  for await (const chunk of readRowChunks(Readable.from(pieces(bytes, cut))))
    chunk.rows.forEach((fields, i) => {
      seen.push([chunk.lines[i] as number, chunk.rejected?.has(i) ? 'unsplit' : fields]);
    });
  return seen;
}

function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

const HEADER = `${CSV_HEADER_LINE}\n`;

describe("verify's line reader agrees with the producer's reader", () => {
  it('on rows of quotes, commas, line breaks and text, in any chunking', async () => {
    const text = fc
      .array(fc.constantFrom('a', 'é', ',', '"', '""', '\r', '\n', '\r\n', '"x"', ' '), { maxLength: 40 })
      .map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(text, fc.integer({ min: 1, max: 64 }), async (body, cut) => {
        const bytes = Buffer.from(HEADER + body);
        expect(await bySourceLines(bytes, cut)).toEqual(await byProducer(bytes, cut));
      }),
      { numRuns: 400, seed: 20_250_101 },
    );
  });

  it('on the 2,000-row file with a quote left open in row 101: 2,000 rows, that one unsplit', async () => {
    const rows = Array.from(
      { length: 2_000 },
      (_, i) => `2019-10-01 00:00:00 UTC,view,${i},1,,${i === 100 ? '"acme' : 'acme'},1.00,5,s`,
    );
    const bytes = Buffer.from(`${HEADER}${rows.join('\n')}\n`);
    const seen = await bySourceLines(bytes, 65_536);
    expect(seen).toHaveLength(2_000);
    expect(seen.filter(([, fields]) => fields === 'unsplit')).toEqual([[102, 'unsplit']]);
    expect(seen).toEqual(await byProducer(bytes, 65_536));
  });

  it('splits quoted fields as csv-parse does with relaxed quotes', () => {
    expect(splitLine('a,"b,c",d')).toEqual(['a', 'b,c', 'd']);
    expect(splitLine('"say ""hi""",x')).toEqual(['say "hi"', 'x']);
    expect(splitLine('"abc"def,x')).toEqual(['"abc"def', 'x']);
    expect(splitLine('ab"c,"",')).toEqual(['ab"c', '', '']);
    expect(splitLine('a,"open')).toBeUndefined();
  });

  it('refuses a file that is not a Kaggle CSV', async () => {
    await expect(bySourceLines(Buffer.from('time,type\n1,2\n'), 100)).rejects.toBeInstanceOf(
      SourceFormatError,
    );
    await expect(bySourceLines(Buffer.alloc(0), 100)).rejects.toThrow('no CSV header');
  });
});
