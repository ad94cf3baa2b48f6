-- usage_types: one day x account x usage type of the Usage record type, from Cost Explorer,
-- which groups a query by service or by usage type but not by both. It details the `Usage` rows
-- of `costs` (same month, same accounts) by what was used: instance hours, storage, requests,
-- transfer. Never add it to `costs`: every amount here is already in a service's row there.
-- Written beside each month of costs and replaced with it; `costs_version` names the costs
-- object it was written with (the object's ETag): join on it to skip a stale month.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.usage_types (
  day date,
  account_id string,
  usage_type string,
  unblended decimal(38,12),
  amortized decimal(38,12),
  currency string,
  estimated boolean,
  costs_version string
)
PARTITIONED BY (month string)
STORED AS PARQUET
LOCATION '${lake}/usage_types/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.month.type' = 'date',
  'projection.month.format' = 'yyyy-MM',
  'projection.month.range' = '2020-01,NOW',
  'projection.month.interval' = '1',
  'projection.month.interval.unit' = 'MONTHS',
  'storage.location.template' = '${lake}/usage_types/month=${month}/'
)
