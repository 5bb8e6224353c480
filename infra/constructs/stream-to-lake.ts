import { type Duration, RemovalPolicy, type Size } from 'aws-cdk-lib';
import type * as glue from 'aws-cdk-lib/aws-glue';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Record format conversion: JSON records in, Parquet files out, typed by a Glue table. */
export interface ParquetConversion {
  schemaTable: glue.CfnTable;
  /** Joda patterns the Hive JSON SerDe parses timestamp columns with. */
  timestampFormats: readonly string[];
  compression: 'SNAPPY' | 'GZIP' | 'UNCOMPRESSED';
  /** Parquet dictionary encoding (Firehose's default is off). */
  enableDictionaryCompression: boolean;
}

export interface StreamToLakeProps {
  stream: kinesis.IStream;
  bucket: s3.IBucket;
  /** Object key prefix, e.g. `events/dt=!{partitionKeyFromQuery:dt}/`. */
  dataOutputPrefix: string;
  /** Must contain `!{firehose:error-output-type}` when dynamic partitioning is on. */
  errorOutputPrefix: string;
  /** JQ 1.6 metadata extraction query, e.g. `{dt: .event_time[0:10]}`, and the keys it yields. */
  partitionQuery: string;
  partitionKeys: string[];
  conversion: ParquetConversion;
  fileExtension: string;
  bufferingInterval: Duration;
  bufferingSize: Size;
  logRetention: logs.RetentionDays;
}

/**
 * A Kinesis stream delivered by Firehose into the lake as Parquet, one S3 partition per event date,
 * so Athena reads only the columns and days a query needs.
 */
export class StreamToLake extends Construct {
  public readonly deliveryStream: firehose.DeliveryStream;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: StreamToLakeProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const destination = new firehose.S3Bucket(props.bucket, {
      dataOutputPrefix: props.dataOutputPrefix,
      errorOutputPrefix: props.errorOutputPrefix,
      bufferingInterval: props.bufferingInterval,
      bufferingSize: props.bufferingSize,
      // No S3-level compression: with format conversion Parquet compresses its own pages (OutputFormat).
      fileExtension: props.fileExtension,
      dynamicPartitioning: { enabled: true },
      processors: [
        new firehose.MetadataExtractionProcessor(
          {
            metadataExtractionQuery: props.partitionQuery,
            jsonParsingEngine: firehose.JsonParsingEngine.JQ_1_6,
          },
          props.partitionKeys,
        ),
      ],
      dataFormatConversion: {
        schemaConfiguration: firehose.SchemaConfiguration.fromCfnTable(props.conversion.schemaTable),
        inputFormat: new firehose.HiveJsonInputFormat({
          timestampParsers: props.conversion.timestampFormats.map((f) =>
            firehose.TimestampParser.fromFormatString(f),
          ),
        }),
        outputFormat: new firehose.ParquetOutputFormat({
          compression: firehose.ParquetCompression.of(props.conversion.compression),
          enableDictionaryCompression: props.conversion.enableDictionaryCompression,
        }),
      },
      loggingConfig: new firehose.EnableLogging(this.logGroup),
    });
    this.deliveryStream = new firehose.DeliveryStream(this, 'Delivery', {
      source: new firehose.KinesisStreamSource(props.stream),
      destination,
    });
  }
}
