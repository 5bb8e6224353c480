import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderTable } from '../../analytics/format.ts';
import { coloursFor } from '../../cli/colours.ts';
import { createContext, renderSummary } from '../../cli/context.ts';
import { escapeControl, jsonLine, printable } from '../../core/terminal-text.ts';
import { runBin, tempDirs } from '../support/cli-support.ts';

const tempDir = tempDirs('clickstream-terminal-');

// Anything a terminal acts on: C0 but tab and newline, DEL, C1.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the test
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

// Clear screen, set the window title, write the clipboard (OSC 52), ring the bell, a C1 CSI, DEL,
// a carriage return that would overwrite the line, and a NUL.
const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007\u001b]52;c;ZWNobyBwd25lZA==\u0007\u009b31m\u007f\rX\u0000';

describe('escaping', () => {
  it('shows every control character but tab and newline as \\xNN', () => {
    expect(escapeControl(HOSTILE)).toBe(
      '\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x9b31m\\x7f\\x0dX\\x00',
    );
    expect(escapeControl('tab\tand\nnewline, café ✓')).toBe('tab\tand\nnewline, café ✓');
  });

  it('lets only colour sequences through, and only while colours are on', () => {
    const styled = '\u001b[33mwarning:\u001b[39m bad \u001b[2Jbyte';
    expect(printable(styled, true)).toBe('\u001b[33mwarning:\u001b[39m bad \\x1b[2Jbyte');
    expect(printable(styled, false)).toBe('\\x1b[33mwarning:\\x1b[39m bad \\x1b[2Jbyte');
  });

  it('keeps JSON the same value while escaping DEL and C1 too', () => {
    const value = { row: HOSTILE };
    const line = jsonLine(value);
    expect(line).not.toMatch(CONTROL);
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual(value);
  });

  it('escapes data values in the default summary rendering', () => {
    const text = renderSummary(
      { file: `a${HOSTILE}.csv`, [`key${HOSTILE}`]: 1 },
      coloursFor({ isTTY: false }),
    );
    for (const raw of ['\u001b[2J', '\u001b]', '\u0007', '\u009b', '\u007f', '\r', '\u0000'])
      expect(text).not.toContain(raw);
    expect(text).toContain('a\\x1b[2J');
  });
});

describe('colours', () => {
  const red = (stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv) => coloursFor(stream, env).red('x');

  it('follow the stream: a terminal gets them, a pipe does not, even on a CI runner', () => {
    expect(red({ isTTY: true }, {})).toBe('\u001b[31mx\u001b[39m');
    expect(red({ isTTY: false }, {})).toBe('x');
    // picocolors' own default colours every stream when CI is set; that broke text read by scripts.
    expect(red({ isTTY: false }, { CI: 'true' })).toBe('x');
    expect(red({ isTTY: true }, { TERM: 'dumb' })).toBe('x');
  });

  it('obey NO_COLOR over everything, and FORCE_COLOR over the stream', () => {
    expect(red({ isTTY: true }, { NO_COLOR: '1' })).toBe('x');
    expect(red({ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe('x');
    expect(red({ isTTY: false }, { FORCE_COLOR: '1' })).toBe('\u001b[31mx\u001b[39m');
    expect(red({ isTTY: true }, { FORCE_COLOR: '0' })).toBe('x');
  });
});

describe('query results', () => {
  it('show control characters of a value escaped in the table for people', () => {
    const table = renderTable({
      columns: [{ name: 'brand', type: 'varchar' }],
      rows: [{ brand: `acme${HOSTILE}` }],
    });
    expect(table).not.toMatch(CONTROL);
    expect(table).toContain('acme\\x1b[2J');
  });
});

describe('a binary source', () => {
  it('reaches the terminal with its control bytes escaped', async () => {
    const dir = tempDir();
    const source = join(dir, 'binary.csv');
    const bytes = Buffer.concat([
      Buffer.from(HOSTILE, 'utf8'),
      Buffer.from([0x00, 0x01, 0x1b, 0x5b, 0x48, 0x7f, 0x80, 0x9b, 0xff, 0xfe, 0x0a]),
      Buffer.from('event_time,event_type\n'),
    ]);
    writeFileSync(source, bytes);
    const { code, stdout, stderr } = await runBin([
      'replay',
      '--dry-run',
      '--source',
      source,
      '--rejects',
      join(dir, 'rejects.csv'),
      '--failed-out',
      join(dir, 'failed.jsonl'),
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(CONTROL);
    expect(stderr).toContain('\\x1b[2J\\x1b]0;pwned\\x07');
    // One error line and its hint end the output (a line saying where the replay starts may precede them).
    const lines = stderr.trimEnd().split('\n');
    expect(lines.filter((line) => line.startsWith('error:'))).toHaveLength(1);
    expect(lines.at(-2)).toMatch(/^error: the source is not a Kaggle clickstream CSV/);
    expect(lines.at(-1)).toMatch(/^hint: /);
  });

  it('and so does a file name', async () => {
    // An argument cannot hold NUL; everything else can.
    const name = join(tempDir(), `missing${HOSTILE.replace('\u0000', '')}.csv`);
    const { code, stderr } = await runBin(['replay', '--dry-run', '--source', name]);
    expect(code).toBe(2);
    expect(stderr).not.toMatch(CONTROL);
    expect(stderr).toContain('missing\\x1b[2J');
  });
});

describe('progress as JSON lines', () => {
  it('writes one line at the start, at most one a second while it moves, and one when done', () => {
    const lines: string[] = [];
    const stderr = {
      write: (text: string) => lines.push(text),
      isTTY: false,
    } as unknown as NodeJS.WriteStream;
    const context = createContext({
      json: true,
      verbose: false,
      progress: 'json',
      stderr,
      signal: new AbortController().signal,
      settings: () => {
        throw new Error('unused');
      },
    });
    const progress = context.progress('draining', { total: 10, unit: 'records', fields: ['mail'] });
    for (let value = 1; value <= 10; value++) progress.update(value, { mail: `${value} sent` });
    progress.stop();
    progress.stop();
    const parsed = lines.map((line) => JSON.parse(line));
    expect(lines.every((line) => line.endsWith('\n'))).toBe(true);
    expect(parsed.map(({ at, ...rest }) => rest)).toEqual([
      { progress: 'draining', unit: 'records', value: 0, total: 10 },
      { progress: 'draining', unit: 'records', value: 10, total: 10, mail: '10 sent', done: true },
    ]);
  });

  it('stay off stderr with --progress none, and without a terminal', () => {
    const lines: string[] = [];
    const stderr = {
      write: (text: string) => lines.push(text),
      isTTY: true,
    } as unknown as NodeJS.WriteStream;
    for (const progress of ['none', 'auto'] as const) {
      const context = createContext({
        json: progress === 'auto',
        verbose: false,
        progress,
        stderr,
        signal: new AbortController().signal,
        settings: () => {
          throw new Error('unused');
        },
      });
      context.progress('replay').update(5);
    }
    expect(lines).toEqual([]);
  });
});
