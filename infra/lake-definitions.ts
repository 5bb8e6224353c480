/**
 * Maps the shared definitions (core/tables.ts, core/lake.ts, sql/queries via analytics/named-queries.ts)
 * onto the constructs' props. No definitions here: only the translation.
 */
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { loadNamedQueries } from '../analytics/named-queries.ts';
import {
  AWS_BUFFERING,
  FIREHOSE_TIMESTAMP_FORMATS,
  LAKE_COMPRESSION,
  LAKE_DICTIONARY,
  LAKE_FILE_EXTENSION,
  LAKE_LAYOUTS,
} from '../core/lake.ts';
import { type LakeTableName, TABLE_NAMES, TABLES, tableParameters } from '../core/tables.ts';
import type { NamedQueryDefinition } from './constructs/athena-queries.ts';
import type { CatalogTable } from './constructs/lake-catalog.ts';

export function catalogTables(buckets: { rawBucket: s3.IBucket; lakeBucket: s3.IBucket }): CatalogTable[] {
  return TABLE_NAMES.map((name) => {
    const def = TABLES[name];
    const bucket = buckets[def.bucket];
    return {
      name: def.name,
      description: def.description,
      bucket,
      s3Prefix: def.prefix,
      columns: def.columns,
      partitionKeys: def.partitionKeys,
      storage: def.storage,
      parameters: tableParameters(def, bucket.bucketName),
    };
  });
}

export function lakeDelivery(name: LakeTableName) {
  const layout = LAKE_LAYOUTS[name];
  return {
    table: layout.table.name,
    dataOutputPrefix: layout.prefixTemplate,
    errorOutputPrefix: layout.errorPrefixTemplate,
    partitionQuery: layout.partitionQuery,
    partitionKeys: layout.table.partitionKeys.map((k) => k.name),
    fileExtension: LAKE_FILE_EXTENSION,
    timestampFormats: FIREHOSE_TIMESTAMP_FORMATS,
    compression: LAKE_COMPRESSION,
    enableDictionaryCompression: LAKE_DICTIONARY.enabled,
  };
}

/** Firehose's buffering floor with format conversion and dynamic partitioning. */
export const LAKE_BUFFERING = AWS_BUFFERING;

export function namedQueries(): NamedQueryDefinition[] {
  return loadNamedQueries().map((q) => ({ name: q.name, description: q.description, sql: q.sql }));
}
