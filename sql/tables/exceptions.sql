-- exceptions: what needed a human, one row per exception, by the UTC day of the event that
-- raised it. exception_id derives from the source event and the label (a replay raises nothing
-- new); mtd_cost is the account's month-to-date unblended cost (credits and refunds left out)
-- when it was raised, mtd_services its top five services as JSON ({"service": "amount"}).
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.exceptions (
  exception_id string,
  event_time timestamp,
  raised_at timestamp,
  label string,
  severity string,
  account_id string,
  account_name string,
  email string,
  holder string,
  cost_center string,
  ou_name string,
  region string,
  actor string,
  source_ip string,
  message string,
  source_event_id string,
  mtd_cost decimal(38,12),
  mtd_services string,
  currency string,
  raw string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '${lake}/exceptions/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${lake}/exceptions/dt=${dt}/'
)
