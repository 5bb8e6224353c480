/**
 * One schema, three readers: the DDL files shipped in sql/ddl equal the generator's output, and the
 * local DuckDB views have exactly the columns and types core/tables.ts declares (the CDK test adds
 * the Glue tables as the third leg).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { athenaDdl, DDL_DIRECTORY, ddlFiles, duckdbType, duckdbViewSql } from '../../analytics/ddl.ts';
import { countPlaceholders, loadNamedQueries, parseNamedQuery } from '../../analytics/named-queries.ts';
import { LAKE_LAYOUTS, objectKey, partitionOf } from '../../core/lake.ts';
import { conformRow, RowConformError, TABLE_NAMES, TABLES } from '../../core/tables.ts';
import { openParquetWriter } from '../../local/firehose.ts';

describe('sql/ddl', () => {
  it('every file equals the generator output (run `npx tsx analytics/ddl.ts` after changing core/tables.ts)', () => {
    const files = ddlFiles();
    expect(files.map((f) => f.file).sort()).toEqual(['events.sql', 'raw_events.sql', 'user_activity.sql']);
    for (const { file, text } of files)
      expect(readFileSync(join(DDL_DIRECTORY, file), 'utf8'), file).toBe(text);
  });

  it('the lake tables use partition projection on dt with the layout Firehose writes', () => {
    const ddl = athenaDdl(TABLES.events, 'my-lake');
    expect(ddl).toContain("LOCATION 's3://my-lake/events/'");
    expect(ddl).toContain("'projection.dt.type' = 'date'");
    expect(ddl).toContain("'storage.location.template' = 's3://my-lake/events/dt=${dt}/'");
    expect(LAKE_LAYOUTS.events.prefixTemplate).toBe('events/dt=!{partitionKeyFromQuery:dt}/');
    expect(LAKE_LAYOUTS.user_activity.partitionQuery).toBe('{dt: .window_start[0:10]}');
  });
});

describe('DuckDB views agree with core/tables.ts', () => {
  it('with files and without, each view has the declared columns and types, dt last', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    const writer = await openParquetWriter();
    const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'ddl-test-'));
    try {
      for (const name of TABLE_NAMES) {
        const table = TABLES[name];
        const expected = [...table.columns, ...table.partitionKeys].map((c) => ({
          name: c.name,
          type: duckdbType(c.type),
        }));
        await db.run(duckdbViewSql(table, []));
        const empty = await db.runAndReadAll(`DESCRIBE ${name}`);
        expect(empty.getRowObjectsJson().map((r) => ({ name: r.column_name, type: r.column_type }))).toEqual(
          expected,
        );
      }
      const event = {
        event_time: '2019-10-01T00:00:00Z',
        event_type: 'view',
        product_id: '1',
        category_id: '2103807459595387724',
        category_code: null,
        brand: 'x',
        price: 1.5,
        user_id: '2',
        user_session: 's',
        replayed_at: '2024-01-01T00:00:00.123Z',
      };
      const file = join(dir, 'events', 'dt=2019-10-01', 'a.parquet');
      await mkdir(join(dir, 'events', 'dt=2019-10-01'), { recursive: true });
      await writeFile(file, await writer.write(TABLES.events, [conformRow(TABLES.events, event)]));
      await db.run(duckdbViewSql(TABLES.events, [file]));
      const described = await db.runAndReadAll('DESCRIBE events');
      expect(described.getRowObjectsJson().map((r) => r.column_type)).toEqual(
        [...TABLES.events.columns, ...TABLES.events.partitionKeys].map((c) => duckdbType(c.type)),
      );
      const row = await db.runAndReadAll(
        'SELECT category_id, dt, CAST(replayed_at AS VARCHAR) AS r FROM events',
      );
      // The 19-digit id survives exactly; dt comes from the hive path.
      expect(row.getRowObjectsJson()).toEqual([
        { category_id: '2103807459595387724', dt: '2019-10-01', r: '2024-01-01 00:00:00.123' },
      ]);
    } finally {
      await writer.close();
      db.closeSync();
      instance.closeSync();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('records against the tables', () => {
  it('conformRow types a record like the Hive JSON SerDe and rejects what format conversion would', () => {
    expect(conformRow(TABLES.events, { event_time: '2019-10-01T00:00:00Z', price: 2 })).toMatchObject({
      event_time: '2019-10-01T00:00:00Z',
      brand: null,
      price: 2,
    });
    expect(() => conformRow(TABLES.events, { event_time: '2019-10-01 00:00:00 UTC' })).toThrow(
      RowConformError,
    );
    expect(() => conformRow(TABLES.events, { price: 'abc' })).toThrow(RowConformError);
    expect(() => conformRow(TABLES.user_activity, { sessions: 'a' })).toThrow(RowConformError);
  });

  it('partitions by the event date and names objects like Firehose', () => {
    expect(partitionOf(LAKE_LAYOUTS.events, { event_time: '2019-11-30T23:59:59Z' })).toBe('2019-11-30');
    expect(partitionOf(LAKE_LAYOUTS.events, { event_time: 'soon' })).toBeUndefined();
    expect(partitionOf(LAKE_LAYOUTS.user_activity, { window_start: '2019-10-01T00:01:00Z' })).toBe(
      '2019-10-01',
    );
    expect(
      objectKey(
        'events/dt=2019-10-01/',
        'clickstream-events',
        Date.UTC(2024, 0, 2, 3, 4, 5),
        'u-u',
        '.parquet',
      ),
    ).toBe('events/dt=2019-10-01/clickstream-events-1-2024-01-02-03-04-05-u-u.parquet');
  });
});

describe('named queries', () => {
  it('each has a description and declares exactly the ? placeholders it uses', () => {
    const queries = loadNamedQueries();
    expect(queries.map((q) => q.name)).toEqual([
      'bot_suspects',
      'brands_needing_marketing',
      'cart_abandonment',
      'top_categories_by_hour',
      'top_categories_by_weekday',
      'traffic_per_hour',
      'unique_visitors_per_day',
      'user_activity_for_user',
    ]);
    for (const q of queries) {
      expect(q.description.length, q.name).toBeGreaterThan(20);
      expect(countPlaceholders(q.sql), q.name).toBe(q.parameters.length);
    }
    expect(queries.find((q) => q.name === 'user_activity_for_user')?.parameters.map((p) => p.name)).toEqual([
      'user_id',
    ]);
  });

  it('a query whose placeholders and @param lines disagree is refused', () => {
    expect(() => parseNamedQuery('bad', '-- Says what it answers here.\nSELECT ? , ?')).toThrow(
      /2 \? placeholder/,
    );
    expect(countPlaceholders('-- why?\nSELECT \'?\' AS q, "a?" FROM t WHERE x = ?')).toBe(1);
  });
});
