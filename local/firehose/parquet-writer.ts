/**
 * The Parquet files of the lake, written as Firehose's record format conversion writes them (parquet-mr):
 * the Glue table's schema, the same compression and dictionary choices.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckdbType, quoteIdentifier, quoteLiteral } from '../../analytics/ddl.ts';
import { LAKE_COMPRESSION, LAKE_DICTIONARY } from '../../core/lake.ts';
import type { LakeValue, TableDef } from '../../core/tables.ts';

/** DuckDB's default row group size, stated because the dictionary entry cap below is sized by it. */
const ROW_GROUP_ROWS = 122_880;
/**
 * DuckDB caps a dictionary by entries (by default a small share of the row group) and by bytes;
 * parquet-mr, Firehose's writer, only by bytes. An entry cap of a whole row group (a dictionary cannot
 * hold more) and the same byte cap make DuckDB choose dictionaries as Firehose does.
 */
const PARQUET_OPTIONS = [
  `COMPRESSION ${LAKE_COMPRESSION}`,
  `ROW_GROUP_SIZE ${ROW_GROUP_ROWS}`,
  LAKE_DICTIONARY.enabled
    ? `DICTIONARY_SIZE_LIMIT ${ROW_GROUP_ROWS}, STRING_DICTIONARY_PAGE_SIZE_LIMIT ${LAKE_DICTIONARY.maxPageBytes}`
    : 'DICTIONARY_SIZE_LIMIT 0',
  // DuckDB adds a Bloom filter per dictionary-encoded column by default; parquet-mr (Firehose) writes none.
  'WRITE_BLOOM_FILTER false',
].join(', ');

export interface ParquetWriter {
  /** The Parquet file, as Firehose's conversion would write it, of rows conformed to `table`. */
  write(table: TableDef, rows: ReadonlyArray<Record<string, LakeValue>>): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Writes lake objects with DuckDB: rows go through a JSON-lines temp file read with the table's
 * columns as text and cast to the declared types, so the Parquet schema is exactly the Glue table's.
 */
export async function openParquetWriter(parent = tmpdir()): Promise<ParquetWriter> {
  const directory = await mkdtemp(join(parent, 'clickstream-firehose-'));
  // An in-memory DuckDB spills into ./.tmp by default, shared by every process started in the same
  // directory (two stacks, a demo and a query); one closing may remove it under another. Its own, here.
  const instance = await DuckDBInstance.create(':memory:', { temp_directory: join(directory, 'spill') });
  const connection: DuckDBConnection = await instance.connect();
  let sequence = 0;
  return {
    async write(table, rows) {
      const id = ++sequence;
      const input = join(directory, `${id}.jsonl`);
      const output = join(directory, `${id}.parquet`);
      await writeFile(input, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
      try {
        const readAs = table.columns
          .map((c) => `${quoteLiteral(c.name)}: '${c.type === 'array<string>' ? 'VARCHAR[]' : 'VARCHAR'}'`)
          .join(', ');
        const select = table.columns
          .map(
            (c) => `CAST(${quoteIdentifier(c.name)} AS ${duckdbType(c.type)}) AS ${quoteIdentifier(c.name)}`,
          )
          .join(', ');
        await connection.run(
          `COPY (SELECT ${select} FROM read_json(${quoteLiteral(input)}, format = 'newline_delimited', columns = {${readAs}})) ` +
            `TO ${quoteLiteral(output)} (FORMAT PARQUET, ${PARQUET_OPTIONS})`,
        );
        return new Uint8Array(await readFile(output));
      } finally {
        await rm(input, { force: true });
        await rm(output, { force: true });
      }
    },
    async close() {
      connection.closeSync();
      instance.closeSync();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
