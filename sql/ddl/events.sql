-- Generated from core/tables.ts by analytics/ddl.ts (npx tsx analytics/ddl.ts); do not edit by hand.
-- Every accepted event from the events stream, delivered by Firehose into the lake.
-- Replace <LAKE_BUCKET> with your bucket name (a stack output), then run in your Glue database.
CREATE EXTERNAL TABLE IF NOT EXISTS `events` (
  `event_time` timestamp COMMENT 'When the event happened (UTC)',
  `event_type` string COMMENT 'view, cart, remove_from_cart or purchase',
  `product_id` string COMMENT 'Product id',
  `category_id` string COMMENT 'Category id (19 digits)',
  `category_code` string COMMENT 'Category path like electronics.smartphone; often null',
  `brand` string COMMENT 'Brand; often null',
  `price` double COMMENT 'Price in the source currency',
  `user_id` string COMMENT 'User id',
  `user_session` string COMMENT 'Session id; null for a few rows',
  `event_id` string COMMENT 'Source tag and line of the event: a row twice is one event sent twice; count distinct ids',
  `replayed_at` timestamp COMMENT 'When the producer sent the event (UTC)'
)
COMMENT 'Every accepted event from the events stream, delivered by Firehose into the lake'
PARTITIONED BY (
  `dt` string COMMENT 'Event date (UTC), YYYY-MM-DD: the partition, chosen by event time, not arrival'
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
WITH SERDEPROPERTIES (
  'serialization.format' = '1'
)
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'
LOCATION 's3://<LAKE_BUCKET>/events/'
TBLPROPERTIES (
  'classification' = 'parquet',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2019-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://<LAKE_BUCKET>/events/dt=${dt}/'
);
