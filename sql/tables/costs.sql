-- costs: one day x account x service x record type (Usage, Tax, Credit, Refund, ...) with its
-- usage type where the source has it; amounts are exact decimals in `currency`. Partitioned by
-- month; a month is replaced whole when it is fetched again.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.costs (
  day date,
  account_id string,
  service string,
  record_type string,
  usage_type string,
  unblended decimal(38,12),
  amortized decimal(38,12),
  currency string,
  estimated boolean,
  source string
)
PARTITIONED BY (month string)
STORED AS PARQUET
LOCATION '${lake}/costs/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.month.type' = 'date',
  'projection.month.format' = 'yyyy-MM',
  'projection.month.range' = '2020-01,NOW',
  'projection.month.interval' = '1',
  'projection.month.interval.unit' = 'MONTHS',
  'storage.location.template' = '${lake}/costs/month=${month}/'
)
