/**
 * The lake side of the pipeline: the Glue catalog of the lake tables and one Firehose delivery per
 * stream, converting to Parquet against the catalog's table.
 */
import { Duration, Size } from 'aws-cdk-lib';
import type * as glue from 'aws-cdk-lib/aws-glue';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { LakeTableName } from '../core/tables.ts';
import type { PipelineConfig } from './config.ts';
import type { DataBuckets } from './constructs/data-buckets.ts';
import type { EventStreams } from './constructs/event-streams.ts';
import { LakeCatalog } from './constructs/lake-catalog.ts';
import { StreamToLake } from './constructs/stream-to-lake.ts';
import { catalogTables, LAKE_BUFFERING, lakeDelivery } from './lake-definitions.ts';

export interface PipelineLake {
  lakeCatalog: LakeCatalog;
  eventsToLake: StreamToLake;
  userActivityToLake: StreamToLake;
}

/** Adds the catalog and both deliveries to `scope` (the stack: the logical IDs stay its own). */
export function addLake(
  scope: Construct,
  props: {
    config: PipelineConfig;
    streams: EventStreams;
    buckets: DataBuckets;
    catalogName: string;
    logRetention: logs.RetentionDays;
  },
): PipelineLake {
  const { config, streams, buckets, logRetention } = props;
  const lakeCatalog = new LakeCatalog(scope, 'LakeCatalog', {
    databaseName: props.catalogName,
    tables: catalogTables({ rawBucket: buckets.raw, lakeBucket: buckets.lake }),
  });
  const toLake = (id: string, name: LakeTableName, stream: kinesis.IStream) => {
    const delivery = lakeDelivery(name);
    return new StreamToLake(scope, id, {
      stream,
      bucket: buckets.lake,
      dataOutputPrefix: delivery.dataOutputPrefix,
      errorOutputPrefix: delivery.errorOutputPrefix,
      partitionQuery: delivery.partitionQuery,
      partitionKeys: delivery.partitionKeys,
      fileExtension: delivery.fileExtension,
      conversion: {
        schemaTable: cfnTable(lakeCatalog, delivery.table),
        timestampFormats: delivery.timestampFormats,
        compression: delivery.compression,
        enableDictionaryCompression: delivery.enableDictionaryCompression,
      },
      bufferingInterval: Duration.seconds(config.firehoseBufferingSeconds),
      bufferingSize: Size.mebibytes(LAKE_BUFFERING.sizeMiB),
      logRetention,
    });
  };
  return {
    lakeCatalog,
    eventsToLake: toLake('EventsToLake', 'events', streams.events),
    userActivityToLake: toLake('UserActivityToLake', 'user_activity', streams.userActivity),
  };
}

function cfnTable(catalog: LakeCatalog, table: string): glue.CfnTable {
  const glueTable = catalog.tables[table];
  if (!glueTable) throw new Error(`lake table ${table} is not in the catalog`);
  return glueTable.node.defaultChild as glue.CfnTable;
}
