/**
 * What Athena would scan for each named query on the lake layout, versus the raw CSV (docs/performance.md: the
 * lake must scan ≥ 10× fewer bytes). Athena on Parquet reads the footers plus the column chunks of
 * the referenced columns of the partitions the predicates keep; on CSV it reads every byte. None of
 * the named queries filters dt, so every partition counts. Column chunk sizes come from DuckDB's
 * parquet_metadata (total_compressed_size).
 *
 * `npx tsx test/bench/scan-bytes.ts [file.csv]` builds a lake from a CSV (default: the Kaggle sample)
 * with the local Firehose's Parquet writer and prints the table.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { quoteLiteral } from '../../analytics/ddl.ts';
import { referencedTables } from '../../analytics/local-engine.ts';
import { loadNamedQueries } from '../../analytics/named-queries.ts';
import { DEFAULT_WINDOW_SECONDS, type UserWindowPartial } from '../../core/aggregate.ts';
import type { ClickEvent } from '../../core/event.ts';
import { LAKE_LAYOUTS, partitionOf } from '../../core/lake.ts';
import { conformRow, type LakeTableName, type LakeValue, TABLES } from '../../core/tables.ts';
import { emptyWindowState, foldEvent, takePartials } from '../../core/window.ts';
import { openParquetWriter } from '../../local/firehose.ts';

export interface ScanBytesRow {
  query: string;
  /** Lake columns the query references, per table. */
  columns: Record<string, string[]>;
  /** Bytes Athena would scan on the Parquet lake. */
  lakeBytes: number;
  /** Bytes it would scan on the raw CSV (the whole file). */
  rawCsvBytes: number;
  /** rawCsvBytes / lakeBytes. */
  ratio: number;
}

export async function scanBytesByQuery(options: {
  files: Readonly<Record<LakeTableName, readonly string[]>>;
  rawCsvBytes: number;
}): Promise<ScanBytesRow[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    // Per table: compressed bytes per top-level column, and footer/header bytes of all its files.
    const perTable = new Map<LakeTableName, { columns: Map<string, number>; overhead: number }>();
    for (const table of Object.keys(LAKE_LAYOUTS) as LakeTableName[]) {
      const files = options.files[table];
      const columns = new Map<string, number>();
      let overhead = 0;
      if (files.length > 0) {
        const list = `[${files.map(quoteLiteral).join(', ')}]`;
        const reader = await db.runAndReadAll(
          `SELECT file_name, path_in_schema, sum(total_compressed_size) AS bytes FROM parquet_metadata(${list}) GROUP BY ALL`,
        );
        const chunkBytesPerFile = new Map<string, number>();
        for (const row of reader.getRowObjectsJson()) {
          const column = String(row.path_in_schema).split(/[.,]\s*/)[0] ?? '';
          const bytes = Number(row.bytes);
          columns.set(column, (columns.get(column) ?? 0) + bytes);
          chunkBytesPerFile.set(
            String(row.file_name),
            (chunkBytesPerFile.get(String(row.file_name)) ?? 0) + bytes,
          );
        }
        for (const file of files) overhead += (await stat(file)).size - (chunkBytesPerFile.get(file) ?? 0);
      }
      perTable.set(table, { columns, overhead });
    }
    return loadNamedQueries().map((query) => {
      const code = query.sql.replace(/--[^\n]*/g, ' ');
      const used: Record<string, string[]> = {};
      let lakeBytes = 0;
      for (const table of referencedTables(query.sql)) {
        if (table === 'raw_events') continue;
        const stats = perTable.get(table);
        const names = TABLES[table].columns
          .map((c) => c.name)
          .filter((name) => new RegExp(`\\b${name}\\b`).test(code));
        used[table] = names;
        lakeBytes +=
          (stats?.overhead ?? 0) + names.reduce((sum, name) => sum + (stats?.columns.get(name) ?? 0), 0);
      }
      return {
        query: query.name,
        columns: used,
        lakeBytes,
        rawCsvBytes: options.rawCsvBytes,
        ratio: lakeBytes === 0 ? Number.POSITIVE_INFINITY : options.rawCsvBytes / lakeBytes,
      };
    });
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/**
 * user_activity as the aggregator writes it: events spread over two shards (by category, as the
 * producer partitions), each shard folded with the aggregator's own fold and flushed once a minute of
 * event time (a replay at --speed 1 under a 60 s tumbling window), so partials and contribution ids
 * have the real shapes.
 */
export function aggregatorPartials(
  events: ReadonlyArray<ClickEvent & { event_id: string }>,
): UserWindowPartial[] {
  const shards = [0, 1].map((shard) => ({
    source: `shardId-00000000000${shard}`,
    state: emptyWindowState(DEFAULT_WINDOW_SECONDS),
    flushedAtMinute: Number.NaN,
  }));
  const partials: UserWindowPartial[] = [];
  events.forEach((event, i) => {
    const shard = shards[Number(BigInt(event.category_id) % 2n)] as (typeof shards)[number];
    const eventMs = Date.parse(event.event_time);
    const minute = Math.floor(eventMs / 60_000);
    if (minute !== shard.flushedAtMinute) {
      partials.push(...takePartials(shard.state, shard.source));
      shard.flushedAtMinute = minute;
    }
    if (foldEvent(shard.state, event, eventMs, String(i + 1), undefined, event.event_id))
      partials.push(...takePartials(shard.state, shard.source));
  });
  for (const shard of shards) partials.push(...takePartials(shard.state, shard.source));
  return partials;
}

/**
 * Builds a lake from a Kaggle-shaped CSV the way the pipeline would (one Parquet object per table and
 * event date; user_activity from the aggregator's fold) and measures every named query on it.
 */
export async function scanBytesForCsv(csvPath: string): Promise<ScanBytesRow[]> {
  const { parseEvents } = await import('../support/analytics-fixtures.ts');
  const csv = await readFile(csvPath, 'utf8');
  const rows = csv
    .split('\n')
    .slice(1)
    .filter((l) => l !== '')
    .map((l) => l.split(','));
  const events = parseEvents({ label: csvPath, csv, rows }).map((e) => ({
    ...e,
    replayed_at: '2024-01-01T00:00:00.000Z',
  }));
  const directory = await mkdtemp(join(tmpdir(), 'scan-bytes-'));
  const writer = await openParquetWriter();
  try {
    const files: Record<LakeTableName, string[]> = { events: [], user_activity: [] };
    const sources: Record<LakeTableName, readonly object[]> = {
      events,
      user_activity: aggregatorPartials(events),
    };
    for (const table of Object.keys(sources) as LakeTableName[]) {
      const byDate = new Map<string, Array<Record<string, LakeValue>>>();
      for (const record of sources[table]) {
        const dt = partitionOf(LAKE_LAYOUTS[table], record) as string;
        byDate.set(dt, [...(byDate.get(dt) ?? []), conformRow(TABLES[table], record)]);
      }
      for (const [dt, list] of byDate) {
        const path = join(directory, table, `dt=${dt}`, 'part.parquet');
        await mkdir(join(directory, table, `dt=${dt}`), { recursive: true });
        await writeFile(path, await writer.write(TABLES[table], list));
        files[table].push(path);
      }
    }
    return await scanBytesByQuery({ files, rawCsvBytes: Buffer.byteLength(csv) });
  } finally {
    await writer.close();
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { KAGGLE_SAMPLE } = await import('../support/analytics-fixtures.ts');
  const csvPath = process.argv[2] ?? KAGGLE_SAMPLE;
  const rows = await scanBytesForCsv(csvPath);
  console.log(`raw CSV ${csvPath}: ${rows[0]?.rawCsvBytes ?? 0} bytes`);
  for (const row of rows) {
    console.log(
      `${row.query.padEnd(28)} ${String(row.lakeBytes).padStart(10)} B  ${row.ratio.toFixed(1).padStart(6)}×  ${JSON.stringify(row.columns)}`,
    );
  }
}
