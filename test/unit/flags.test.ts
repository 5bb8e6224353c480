/** The flag value parsers every command shares (core/flags.ts). */
import { describe, expect, it } from 'vitest';
import { ClickstreamError } from '../../core/errors.ts';
import { choiceFlag, integerFlag, isoTimeFlag, numberFlag, parsedFlag } from '../../core/flags.ts';

describe('integerFlag', () => {
  it('takes whole numbers at or above the minimum, from text or from code', () => {
    expect(integerFlag('5', '--limit')).toBe(5);
    expect(integerFlag(7, '--limit')).toBe(7);
    expect(integerFlag('0', '--max-retries', 0)).toBe(0);
  });

  it('rejects fractions, words and values below the minimum, naming the flag and the value', () => {
    expect(() => integerFlag('1.5', '--limit')).toThrow('--limit must be a positive integer, got "1.5"');
    expect(() => integerFlag('many', '--concurrency')).toThrow(
      '--concurrency must be a positive integer, got "many"',
    );
    expect(() => integerFlag('0', '--ports s3')).toThrow('--ports s3 must be a positive integer, got "0"');
    expect(() => integerFlag('-1', '--rows', 0)).toThrow('--rows must be an integer ≥ 0, got "-1"');
    expect(() => integerFlag('x', '--rows', 0)).toThrow(ClickstreamError);
  });
});

describe('numberFlag', () => {
  it('takes any number and leaves an absent flag absent', () => {
    expect(numberFlag('2.5', '--rate')).toBe(2.5);
    expect(numberFlag(3, '--rate')).toBe(3);
    expect(numberFlag(undefined, '--rate')).toBeUndefined();
  });

  it('rejects text that is no number, and empty text', () => {
    expect(() => numberFlag('many', '--events')).toThrow('--events must be a number, got "many"');
    expect(() => numberFlag(' ', '--events')).toThrow(ClickstreamError);
  });
});

describe('choiceFlag', () => {
  it('takes one of the choices and names them all when given another', () => {
    expect(choiceFlag('csv', ['table', 'csv', 'json'], '--format')).toBe('csv');
    expect(() => choiceFlag('xml', ['table', 'csv', 'json'], '--format')).toThrow(
      '--format must be one of table, csv, json, got "xml"',
    );
  });
});

describe('isoTimeFlag', () => {
  it('reads a time without a zone as UTC, and a date alone as its midnight UTC', () => {
    expect(isoTimeFlag('2019-10-01T00:00:30', '--from')).toBe(Date.UTC(2019, 9, 1, 0, 0, 30));
    expect(isoTimeFlag('2019-10-01 01:00:00', '--from')).toBe(Date.UTC(2019, 9, 1, 1));
    expect(isoTimeFlag('2019-10-01', '--from')).toBe(Date.UTC(2019, 9, 1));
    expect(isoTimeFlag('2019-10-01T02:00:00+02:00', '--to')).toBe(Date.UTC(2019, 9, 1));
  });

  it('rejects what is no time, with an example', () => {
    expect(() => isoTimeFlag('yesterday', '--to')).toThrow('--to is not an ISO time: yesterday');
    try {
      isoTimeFlag('yesterday', '--to');
    } catch (error) {
      expect((error as ClickstreamError).hint).toBe('e.g. 2019-10-01T00:00:00Z');
    }
  });
});

describe('parsedFlag', () => {
  it("returns the parser's value, or its error prefixed with the flag", () => {
    expect(parsedFlag(() => 4, '--speed')).toBe(4);
    expect(() =>
      parsedFlag(() => {
        throw new RangeError('speed must be > 0, got -1');
      }, '--speed'),
    ).toThrow('--speed: speed must be > 0, got -1');
  });
});
