/**
 * The DuckDB macros against Trino's documented results (trino.io/docs/current/functions/datetime.html,
 * .../functions/array.html, .../functions/aggregate.html), so the sql/ files mean the same on both engines.
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trinoMacroStatements } from '../../analytics/trino-macros.ts';

let instance: DuckDBInstance;
let db: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
  for (const statement of trinoMacroStatements()) await db.run(statement);
});
afterAll(() => {
  db.closeSync();
  instance.closeSync();
});

async function value(sql: string): Promise<unknown> {
  const reader = await db.runAndReadAll(`SELECT ${sql} AS v`);
  return reader.getRowObjectsJson()[0]?.v;
}

describe('Trino date/time functions', () => {
  it("date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H') = '10-20-2022 05' (Trino docs example)", async () => {
    expect(await value("date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')")).toBe('10-20-2022 05');
  });

  it('date_format: the MySQL specifiers of the Trino table (%i minutes, %M month name, %W weekday, %r, %T, %%)', async () => {
    const ts = "TIMESTAMP '2019-10-06 15:04:05'";
    const cases: Array<[string, string]> = [
      ['%a', 'Sun'],
      ['%b', 'Oct'],
      ['%c', '10'],
      ['%d', '06'],
      ['%e', '6'],
      ['%f', '000000'],
      ['%H', '15'],
      ['%h', '03'],
      ['%I', '03'],
      ['%i', '04'],
      ['%j', '279'],
      ['%k', '15'],
      ['%l', '3'],
      ['%M', 'October'],
      ['%m', '10'],
      ['%p', 'PM'],
      ['%r', '03:04:05 PM'],
      ['%S', '05'],
      ['%s', '05'],
      ['%T', '15:04:05'],
      ['%v', '40'],
      ['%W', 'Sunday'],
      ['%Y', '2019'],
      ['%y', '19'],
      ['%%', '%'],
      ['%%M', '%M'],
    ];
    for (const [format, expected] of cases)
      expect(await value(`date_format(${ts}, '${format}')`), format).toBe(expected);
  });

  it('date_format rejects specifiers Trino does not support (%D, %U, %w ...)', async () => {
    await expect(value("date_format(TIMESTAMP '2019-10-06 15:04:05', '%D')")).rejects.toThrow();
    await expect(value("date_format(TIMESTAMP '2019-10-06 15:04:05', '%w')")).rejects.toThrow();
  });

  it("date_parse('2022/10/20/05', '%Y/%m/%d/%H') = 2022-10-20 05:00:00.000 (Trino docs example)", async () => {
    expect(await value("date_parse('2022/10/20/05', '%Y/%m/%d/%H')")).toBe('2022-10-20 05:00:00');
    expect(await value("date_parse('2019-10-01 00:01:02 UTC', '%Y-%m-%d %H:%i:%s UTC')")).toBe(
      '2019-10-01 00:01:02',
    );
  });

  it('day_of_week is ISO: 1 (Monday) to 7 (Sunday) (Trino docs: day_of_week)', async () => {
    expect(await value("day_of_week(TIMESTAMP '2019-10-07 12:00:00')")).toBe('1');
    expect(await value("day_of_week(DATE '2019-10-06')")).toBe('7');
  });

  it("from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00') = 2020-05-11 11:15:05.055 +01:00 (Trino docs example)", async () => {
    // Same instant; DuckDB shows timestamptz in UTC.
    expect(await value("from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00')")).toBe(
      '2020-05-11 10:15:05.055+00',
    );
    expect(
      await value("from_iso8601_timestamp('2019-10-01T00:00:00Z') = TIMESTAMP '2019-10-01 00:00:00'"),
    ).toBe(true);
  });
});

describe('Trino array functions', () => {
  it('element_at: 1-based, negative from the end, NULL out of range (Trino docs: element_at(array(E), index))', async () => {
    expect(await value("element_at(['a', 'b', 'c'], 1)")).toBe('a');
    expect(await value("element_at(['a', 'b', 'c'], -1)")).toBe('c');
    expect(await value("element_at(['a', 'b', 'c'], 4)")).toBeNull();
  });

  it('cardinality returns the size of the array (Trino docs: cardinality(x))', async () => {
    expect(await value("cardinality(['a', 'b', 'c'])")).toBe('3');
    expect(await value('cardinality(CAST([] AS VARCHAR[]))')).toBe('0');
  });

  it('array_distinct removes duplicates, keeping first occurrences in order and NULL (Trino docs: array_distinct(x))', async () => {
    expect(await value('array_distinct([3, 1, 3, NULL, 1, NULL])')).toEqual([3, 1, null]);
    expect(await value("array_distinct(['b', 'a', 'b'])")).toEqual(['b', 'a']);
  });

  it('flatten concatenates array(array(T)) into array(T) (Trino docs: flatten(x))', async () => {
    expect(await value("flatten([['a', 'b'], ['a'], []])")).toEqual(['a', 'b', 'a']);
  });
});

describe('Trino aggregate functions', () => {
  it('approx_distinct is within its documented 2.3% standard error (here: exact)', async () => {
    const reader = await db.runAndReadAll('SELECT approx_distinct(x % 1000) AS v FROM range(100000) t(x)');
    expect(reader.getRowObjectsJson()[0]?.v).toBe('1000');
  });
});
