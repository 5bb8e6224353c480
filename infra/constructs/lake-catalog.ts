import { RemovalPolicy } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface CatalogColumn {
  name: string;
  /** Glue/Hive type text: `string`, `bigint`, `double`, `array<string>`, `timestamp`, ... */
  type: string;
  comment?: string;
}

/** Glue StorageDescriptor formats: how Athena reads the objects. */
export interface CatalogStorage {
  inputFormat: string;
  outputFormat: string;
  serializationLibrary: string;
  serdeParameters: Record<string, string>;
  classification: string;
}

export interface CatalogTable {
  name: string;
  description: string;
  bucket: s3.IBucket;
  /** Key prefix of the table's objects, ending in `/`, e.g. `events/`. */
  s3Prefix: string;
  columns: readonly CatalogColumn[];
  partitionKeys: readonly CatalogColumn[];
  storage: CatalogStorage;
  /** Every table parameter, partition projection (`projection.*`, `storage.location.template`) included. */
  parameters: Record<string, string>;
}

export interface LakeCatalogProps {
  databaseName: string;
  tables: CatalogTable[];
}

/** The Glue Data Catalog view of the data: one database, one table per S3 prefix, projected partitions. */
export class LakeCatalog extends Construct {
  public readonly database: glue.Database;
  public readonly tables: Record<string, glue.S3Table> = {};

  constructor(scope: Construct, id: string, props: LakeCatalogProps) {
    super(scope, id);
    this.database = new glue.Database(this, 'Database', {
      databaseName: props.databaseName,
      description: 'Clickstream: raw Kaggle CSV, lake events and per-user window partials',
      // Catalog entries are metadata only; the data stays in the (retained) buckets.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const def of props.tables) {
      const table = new glue.S3Table(this, pascal(def.name), {
        database: this.database,
        tableName: def.name,
        description: def.description,
        storage: glue.S3TableStorage.fromBucket(def.bucket),
        s3Prefix: def.s3Prefix,
        columns: def.columns.map(column),
        partitionKeys: def.partitionKeys.map(column),
        dataFormat: new glue.DataFormat({
          inputFormat: new glue.InputFormat(def.storage.inputFormat),
          outputFormat: new glue.OutputFormat(def.storage.outputFormat),
          serializationLibrary: new glue.SerializationLibrary(def.storage.serializationLibrary),
          classificationString: new glue.ClassificationString(def.storage.classification),
        }),
        // Parquet compresses inside the file; Glue's flag describes whole-file compression.
        compressed: false,
        // Projection parameters are passed as given (not via the L2's partitionProjection) so the
        // catalog matches the Athena DDL and local views generated from the same definitions.
        parameters: def.parameters,
      });
      const cfn = table.node.defaultChild as glue.CfnTable;
      // The L2 has no SerDe parameters (OpenCSVSerde's separator and quote, Parquet's format).
      cfn.addPropertyOverride(
        'TableInput.StorageDescriptor.SerdeInfo.Parameters',
        def.storage.serdeParameters,
      );
      this.tables[def.name] = table;
    }
  }
}

function column(c: CatalogColumn): glue.Column {
  return {
    name: c.name,
    type: { inputString: c.type, isPrimitive: !/[<(]/.test(c.type) },
    ...(c.comment ? { comment: c.comment } : {}),
  };
}

function pascal(name: string): string {
  return name.replace(/(^|[-_ ])(\w)/g, (_, __, c: string) => c.toUpperCase());
}
