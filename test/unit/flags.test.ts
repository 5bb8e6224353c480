/** The flag value parsers every command shares (core/flags.ts). */
import { describe, expect, it } from 'vitest';
import { ClickstreamError } from '../../core/errors.ts';
import { integerFlag, numberFlag } from '../../core/flags.ts';

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
