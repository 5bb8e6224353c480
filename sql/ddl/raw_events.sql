-- Generated from core/tables.ts by analytics/ddl.ts (npx tsx analytics/ddl.ts); do not edit by hand.
-- The Kaggle CSV files as uploaded to the raw bucket, every column as text.
-- Replace <RAW_BUCKET> with your bucket name (a stack output), then run in your Glue database.
CREATE EXTERNAL TABLE IF NOT EXISTS `raw_events` (
  `event_time` string COMMENT 'CSV column event_time',
  `event_type` string COMMENT 'CSV column event_type',
  `product_id` string COMMENT 'CSV column product_id',
  `category_id` string COMMENT 'CSV column category_id',
  `category_code` string COMMENT 'CSV column category_code',
  `brand` string COMMENT 'CSV column brand',
  `price` string COMMENT 'CSV column price',
  `user_id` string COMMENT 'CSV column user_id',
  `user_session` string COMMENT 'CSV column user_session'
)
COMMENT 'The Kaggle CSV files as uploaded to the raw bucket, every column as text'
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES (
  'separatorChar' = ',',
  'quoteChar' = '"',
  'escapeChar' = '\\'
)
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://<RAW_BUCKET>/kaggle/'
TBLPROPERTIES (
  'classification' = 'csv',
  'skip.header.line.count' = '1'
);
