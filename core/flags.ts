/**
 * The values of command-line flags, one parser per kind of value, so every command rejects a bad value
 * with the same one line naming the flag. Options reach the commands as strings (from commander) or as
 * numbers (from code calling a command function directly); both are accepted.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { ClickstreamError } from './errors.ts';

/** A whole number ≥ `min` (default 1): a count, a size, a port. */
export function integerFlag(value: string | number, flag: string, min = 1): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) {
    const wanted = min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
    throw new ClickstreamError(`${flag} must be ${wanted}, got "${value}"`);
  }
  return number;
}

/** Any number (its range is for the caller to judge); undefined stays undefined. */
export function numberFlag(value: string | number | undefined, flag: string): number | undefined {
  if (value === undefined || typeof value === 'number') return value;
  const number = Number(value);
  if (value.trim() === '' || Number.isNaN(number))
    throw new ClickstreamError(`${flag} must be a number, got "${value}"`);
  return number;
}

/** One of a fixed set of words, e.g. --format table|csv|json. */
export function choiceFlag<T extends string>(value: string, choices: readonly T[], flag: string): T {
  if (!(choices as readonly string[]).includes(value))
    throw new ClickstreamError(`${flag} must be one of ${choices.join(', ')}, got "${value}"`);
  return value as T;
}

/**
 * An instant: ISO 8601, or a date and time without a zone, read as UTC (as the Kaggle rows' times are).
 */
export function isoTimeFlag(text: string, flag: string): number {
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) || !/T|\d:\d/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(ms))
    throw new ClickstreamError(`${flag} is not an ISO time: ${text}`, 'e.g. 2019-10-01T00:00:00Z');
  return ms;
}

/** A value of a kind with a parser of its own (e.g. --speed): its error, prefixed with the flag's name. */
export function parsedFlag<T>(parse: () => T, flag: string): T {
  try {
    return parse();
  } catch (error) {
    throw new ClickstreamError(`${flag}: ${(error as Error).message}`);
  }
}
