-- deliveries: the delivery ledger, one row per exception, channel and run that tried to deliver
-- it (status sent or failed, attempts made, the reason of a failure), by the UTC day of the run.
-- An exception counts as delivered to a channel once any row says sent.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.deliveries (
  exception_id string,
  channel string,
  status string,
  attempts int,
  reason string,
  at timestamp
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '${lake}/deliveries/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${lake}/deliveries/dt=${dt}/'
)
