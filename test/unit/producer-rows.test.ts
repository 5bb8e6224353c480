import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coloursFor } from '../../cli/colours.ts';
import { replayCommand } from '../../cli/commands/replay.ts';
import { CSV_HEADER_LINE, REJECT_REASONS } from '../../core/event.ts';
import { ProducerError } from '../../producer/errors.ts';
import { REJECTS_HEADER } from '../../producer/rejects.ts';
import { replayToStream } from '../../producer/replay.ts';
import { csv, row, T0, tempDir, validRows } from '../support/producer-support.ts';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.remove());

function dryRun(file: string, extra: Partial<Parameters<typeof replayToStream>[0]> = {}) {
  return replayToStream({
    streamName: 'clickstream-events',
    source: file,
    dryRun: true,
    rejects: join(dir.path, 'rejects.csv'),
    failedOut: join(dir.path, 'failed.jsonl'),
    ...extra,
  });
}

describe('bad rows', () => {
  it('rejects one row per reason with its line number and reason, and goes on', async () => {
    const rows = [
      row(0), // line 2
      row(1).split(',').slice(0, 8).join(','), // 3: column_count
      row(2).replace(/^[^,]*/, '2019-02-30 00:00:00 UTC'), // 4: bad_time
      row(3, { price: 'abc' }), // 5: bad_number
      row(4, { type: 'click' }), // 6: unknown_event_type
      row(5, { userId: '' }), // 7: empty_user_id
      row(6, { brand: 'a\uFFFDb' }), // 8: invalid_utf8 (written below as raw bytes)
      row(7, { brand: 'x'.repeat(1024 * 1024) }), // 9: oversize
      row(8), // 10
      row(9, { brand: '"never closed' }), // 11: malformed_csv (a quote that is never closed)
    ];
    const text = csv(rows);
    // A real invalid UTF-8 sequence (0xC3 0x28), not the replacement character.
    const bytes = Buffer.from(text.replace('a\uFFFDb', 'a__b'), 'utf8');
    const at = bytes.indexOf('a__b');
    bytes[at + 1] = 0xc3;
    bytes[at + 2] = 0x28;
    const file = join(dir.path, 'bad.csv');
    writeFileSync(file, bytes);

    const summary = await dryRun(file);
    expect(summary.read).toBe(10);
    expect(summary.sent).toBe(2);
    expect(summary.failed).toBe(0);
    expect(summary.rejected.total).toBe(8);
    expect(summary.rejected.byReason).toEqual(
      Object.fromEntries(REJECT_REASONS.map((reason) => [reason, 1])),
    );
    expect(summary.read).toBe(summary.sent + summary.rejected.total + summary.failed);

    const written = readFileSync(join(dir.path, 'rejects.csv'), 'utf8');
    expect(written.split('\n')[0]).toBe(REJECTS_HEADER);
    const records = parse(written, { columns: true }) as Array<{
      line: string;
      reason: string;
      detail: string;
      row: string;
    }>;
    expect(records.map((r) => [Number(r.line), r.reason])).toEqual([
      [3, 'column_count'],
      [4, 'bad_time'],
      [5, 'bad_number'],
      [6, 'unknown_event_type'],
      [7, 'empty_user_id'],
      [8, 'invalid_utf8'],
      [9, 'oversize'],
      [11, 'malformed_csv'],
    ]);
    expect(records[2]?.detail).toContain('price');
    // The row itself is kept, so it can be fixed and replayed.
    expect(records[3]?.row).toBe(rows[4]);
  });

  it('refuses a file whose header is not the Kaggle header, naming both', async () => {
    const file = join(dir.path, 'other.csv');
    writeFileSync(file, 'time,type,user\n1,2,3\n');
    const error = await dryRun(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProducerError);
    expect((error as ProducerError).message).toContain('header is "time,type,user"');
    expect((error as ProducerError).hint).toContain('event_time,event_type,product_id');
  });

  it('fails with a one-line cause when the source file is missing', async () => {
    await expect(dryRun(join(dir.path, 'nope.csv'))).rejects.toThrow(ProducerError);
  });
});

/** The replay summary's byte line, as a person sees it. */
const byteLine = (summary: Awaited<ReturnType<typeof replayToStream>>) =>
  replayCommand
    .render?.(summary, coloursFor({ isTTY: false }))
    .split('\n')
    .find((line) => line.startsWith('bytes:'));

type RejectRecord = { line: string; reason: string; detail: string; row: string };
const readRejects = () =>
  parse(readFileSync(join(dir.path, 'rejects.csv')), { columns: true }) as RejectRecord[];
const bytesOf = (lines: string[]) => lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);

describe('one bad line costs one row', () => {
  // 2,000 rows, row 101 with a quote never closed: csv-parse alone reads the 1,900 rows after it into
  // that one field, and the run used to report read 101, sent 100, rejected 1, and exit 0.
  it('rejects only the row with an unclosed quote, keeps that line whole, and reads the 1,899 rows after it', async () => {
    const rows = validRows(2_000);
    rows[100] = row(100, { brand: '"acme' });
    const file = join(dir.path, 'quote.csv');
    writeFileSync(file, csv(rows));

    const summary = await dryRun(file);
    expect(summary).toMatchObject({ read: 2_000, sent: 1_999, failed: 0 });
    expect(summary.rejected).toEqual({ total: 1, byReason: { malformed_csv: 1 } });
    expect(readRejects()).toEqual([
      {
        line: '102',
        reason: 'malformed_csv',
        detail:
          'a quoted field is still open at the end of the line (a field never spans lines in this format)',
        row: rows[100],
      },
    ]);
    const header = bytesOf([CSV_HEADER_LINE]);
    const rejected = bytesOf([rows[100] as string]);
    const sent = bytesOf(rows) - rejected;
    expect(summary.bytes).toEqual({
      source: header + sent + rejected,
      header,
      sent,
      rejected,
      failed: 0,
      skipped: 0,
      blank: 0,
      earlier: 0,
      unread: 0,
      addsUp: true,
    });
    expect(byteLine(summary)).toBe(
      `bytes: ${(header + sent + rejected).toLocaleString('en-US')} source = ${header} header + ${sent.toLocaleString('en-US')} sent + ${rejected} rejected`,
    );
  });

  // csv-parse stops for good at a record over its max_record_size: the run used to abort here with
  // "an unclosed quote?", although there was none.
  it('rejects a row with a 2 MB field as oversize, keeps it whole, and reads on', async () => {
    const rows = validRows(2_000);
    rows[100] = row(100, { brand: 'x'.repeat(2 * 1024 * 1024) });
    const file = join(dir.path, 'big.csv');
    writeFileSync(file, csv(rows, '\r\n'));

    const summary = await dryRun(file);
    expect(summary).toMatchObject({ read: 2_000, sent: 1_999, failed: 0 });
    expect(summary.rejected).toEqual({ total: 1, byReason: { oversize: 1 } });
    const rejects = readRejects();
    expect(rejects.map((r) => [r.line, r.reason, r.detail])).toEqual([
      [
        '102',
        'oversize',
        `line is ${Buffer.byteLength(rows[100] as string)} bytes, over the 1048320-byte row limit`,
      ],
    ]);
    expect(rejects[0]?.row).toBe(rows[100]);
    const header = bytesOf([CSV_HEADER_LINE]) + 1;
    const rejected = bytesOf([rows[100] as string]) + 1;
    expect(summary.bytes).toMatchObject({
      header,
      rejected,
      sent: bytesOf(rows) + 2_000 - rejected,
      addsUp: true,
    });
  });

  it('keeps the raw bytes of a rejected row, invalid UTF-8 and quotes included', async () => {
    const line = Buffer.concat([
      Buffer.from(row(1, { price: 'a"b' }).replace('apple', 'ap')),
      Buffer.from([0xff]),
    ]);
    const file = join(dir.path, 'raw.csv');
    writeFileSync(file, Buffer.concat([Buffer.from(csv([row(0)])), line, Buffer.from('\n')]));
    const summary = await dryRun(file);
    expect(summary.rejected).toEqual({ total: 1, byReason: { invalid_utf8: 1 } });
    const written = readFileSync(join(dir.path, 'rejects.csv'));
    const quoted = Buffer.from(line.toString('latin1').replaceAll('"', '""'), 'latin1');
    expect(written.includes(Buffer.concat([Buffer.from('"'), quoted, Buffer.from('"\n')]))).toBe(true);
  });
});

describe('byte accounting', () => {
  it('counts blank lines, skipped rows and rows left by --limit, and adds up', async () => {
    const rows = validRows(100);
    const text = `${CSV_HEADER_LINE}\n\n${rows.slice(0, 50).join('\n')}\r\n\r\n${rows.slice(50).join('\n')}\n\n`;
    const file = join(dir.path, 'blank.csv');
    writeFileSync(file, text);
    const size = Buffer.byteLength(text);
    const header = bytesOf([CSV_HEADER_LINE]);
    const rowBytes = bytesOf(rows) + 1; // the 50th row ends in \r\n

    const full = await dryRun(file);
    expect(full.bytes).toEqual({
      source: size,
      header,
      sent: rowBytes,
      rejected: 0,
      failed: 0,
      skipped: 0,
      blank: 1 + 2 + 1,
      earlier: 0,
      unread: 0,
      addsUp: true,
    });
    expect(byteLine(full)).toBe(
      `bytes: ${size.toLocaleString('en-US')} source = ${header} header + ${rowBytes.toLocaleString('en-US')} sent + 0 rejected + 4 blank lines`,
    );

    const ranged = await dryRun(file, { fromMs: T0 + 10_000, toMs: T0 + 40_000 });
    expect(ranged.bytes).toMatchObject({
      sent: bytesOf(rows.slice(10, 40)),
      skipped: rowBytes - bytesOf(rows.slice(10, 40)),
      addsUp: true,
    });

    const limited = await dryRun(file, { limit: 20 });
    expect(limited.bytes).toMatchObject({ sent: bytesOf(rows.slice(0, 20)), blank: 1, addsUp: true });
    expect(limited.bytes.unread).toBe(size - header - 1 - bytesOf(rows.slice(0, 20)));
    expect(byteLine(limited)).toContain(`+ ${limited.bytes.unread.toLocaleString('en-US')} not read`);

    // Resumed from where the limited run stopped: the bytes before the checkpoint are the earlier run's.
    const checkpoint = join(dir.path, 'checkpoint.json');
    await dryRun(file, { limit: 20, checkpoint });
    const resumed = await dryRun(file, { checkpoint });
    expect(resumed.bytes).toEqual({
      source: size,
      header: 0,
      sent: rowBytes - bytesOf(rows.slice(0, 20)),
      rejected: 0,
      failed: 0,
      skipped: 0,
      blank: 3,
      earlier: header + 1 + bytesOf(rows.slice(0, 20)),
      unread: 0,
      addsUp: true,
    });
  });

  it('measures a gzip source by what it inflates to', async () => {
    const text = csv(validRows(300));
    const file = join(dir.path, 'z.csv.gz');
    writeFileSync(file, gzipSync(text));
    const summary = await dryRun(file);
    expect(summary.bytes).toMatchObject({
      source: text.length,
      sent: text.length - bytesOf([CSV_HEADER_LINE]),
      addsUp: true,
    });
  });
});

describe('sources and counting', () => {
  it('reads gzip on the fly, and CRLF and LF mixed in one file (as in the real Kaggle heads)', async () => {
    const rows = validRows(1_000);
    const text = `${csv(rows.slice(0, 600), '\r\n') + rows.slice(600).join('\n')}\n`;
    const file = join(dir.path, '2019-Oct.csv.gz');
    writeFileSync(file, gzipSync(text));
    const summary = await dryRun(file, { rejects: undefined });
    expect(summary).toMatchObject({
      read: 1_000,
      sent: 1_000,
      rejected: { total: 0 },
      failed: 0,
      dryRun: true,
    });
    expect(summary.lastEventTime).toBe('2019-10-01T00:16:39Z');
  });

  it('counts rows outside --from/--to as skipped, stops at --limit, and keeps read = sent + rejected + failed', async () => {
    const rows = validRows(100); // one event per second from T0
    rows.splice(50, 0, row(0, { type: 'bogus' }));
    const file = join(dir.path, 'range.csv');
    writeFileSync(file, csv(rows));
    const ranged = await dryRun(file, { fromMs: T0 + 10_000, toMs: T0 + 40_000 });
    expect(ranged).toMatchObject({ read: 31, sent: 30, skipped: 70, rejected: { total: 1 } });
    expect(ranged.firstEventTime).toBe('2019-10-01T00:00:10Z');
    expect(ranged.lastEventTime).toBe('2019-10-01T00:00:39Z');

    const limited = await dryRun(file, { limit: 60 });
    expect(limited).toMatchObject({ read: 60, sent: 59, rejected: { total: 1 }, skipped: 0 });
    expect(limited.read).toBe(limited.sent + limited.rejected.total + limited.failed);
  });

  it('batches in dry run without sending: 500 records a call, one event each without aggregation', async () => {
    const file = join(dir.path, 'many.csv');
    writeFileSync(file, csv(validRows(1_250)));
    const plain = await dryRun(file, { aggregate: false });
    expect(plain).toMatchObject({ read: 1_250, sent: 1_250, calls: 3, records: 1_250, shards: 1 });
    // Aggregated: ~310-byte events (with their event ids), at most 51,200 bytes a record, so 1,250 events
    // need 8 records, one call.
    const aggregated = await dryRun(file);
    expect(aggregated).toMatchObject({ read: 1_250, sent: 1_250, calls: 1, records: 8, aggregated: true });
  });
});
