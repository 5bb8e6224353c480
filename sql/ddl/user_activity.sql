-- Generated from core/tables.ts by analytics/ddl.ts (npx tsx analytics/ddl.ts); do not edit by hand.
-- Per-shard partial aggregates per user and event-time window, from the user-activity stream.
-- Replace <LAKE_BUCKET> with your bucket name (a stack output), then run in your Glue database.
CREATE EXTERNAL TABLE IF NOT EXISTS `user_activity` (
  `user_id` string COMMENT 'User id',
  `window_start` timestamp COMMENT 'Start of the event-time window (UTC)',
  `window_seconds` int COMMENT 'Window length in seconds',
  `contribution_id` string COMMENT 'Deterministic id of the flush this partial came from; duplicates are redeliveries',
  `view_ids` array<string> COMMENT 'Event ids of the views; count distinct over partials',
  `cart_ids` array<string> COMMENT 'Event ids of the carts',
  `remove_from_cart_ids` array<string> COMMENT 'Event ids of the cart removals',
  `purchases` array<string> COMMENT 'One <event id>:<price in cents> per purchase; revenue sums the distinct entries',
  `sessions` array<string> COMMENT 'Distinct session ids in this partial',
  `products` array<string> COMMENT 'Distinct product ids in this partial',
  `first_event_time` timestamp COMMENT 'Earliest event of this partial',
  `last_event_time` timestamp COMMENT 'Latest event of this partial'
)
COMMENT 'Per-shard partial aggregates per user and event-time window, from the user-activity stream'
PARTITIONED BY (
  `dt` string COMMENT 'Event date (UTC), YYYY-MM-DD: the partition, chosen by event time, not arrival'
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
WITH SERDEPROPERTIES (
  'serialization.format' = '1'
)
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'
LOCATION 's3://<LAKE_BUCKET>/user_activity/'
TBLPROPERTIES (
  'classification' = 'parquet',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2019-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://<LAKE_BUCKET>/user_activity/dt=${dt}/'
);
