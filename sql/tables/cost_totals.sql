-- cost_totals: one account x service with its spend of the month so far (unblended cost of every
-- record type but Credit and Refund, exact decimals in `currency`), as the month's costs held it
-- through the day `through`. Written beside each month of costs and replaced with it;
-- `costs_version` names the costs object it sums (the object's ETag).
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.cost_totals (
  account_id string,
  service string,
  spend decimal(38,12),
  currency string,
  through date,
  costs_version string
)
PARTITIONED BY (month string)
STORED AS PARQUET
LOCATION '${lake}/cost_totals/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.month.type' = 'date',
  'projection.month.format' = 'yyyy-MM',
  'projection.month.range' = '2020-01,NOW',
  'projection.month.interval' = '1',
  'projection.month.interval.unit' = 'MONTHS',
  'storage.location.template' = '${lake}/cost_totals/month=${month}/'
)
