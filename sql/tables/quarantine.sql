-- quarantine: every input ingest could not read, with the reason and the raw bytes, by the
-- UTC day it arrived. Nothing is dropped: fix the cause and ingest `raw` again.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.quarantine (
  received_at timestamp,
  origin string,
  reason string,
  raw binary
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '${lake}/quarantine/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${lake}/quarantine/dt=${dt}/'
)
