-- monthly_costs: the month's costs summed per account x service x record type x currency
-- (unblended, exact decimals in `currency`; credits and refunds included as their own record
-- types), as the month's costs held it through the day `through`: one row where `costs` has one
-- per day, so a month's query reads about thirty times fewer rows. Written beside each month of
-- costs and replaced with it; `costs_version` names the costs object it sums (the object's
-- ETag). A fetch that stops between the two writes leaves the previous run's sums until the
-- next fetch of the month; months stored before this table existed have none until
-- `ingest costs --month YYYY-MM --sums-from-lake` sums their stored costs.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.monthly_costs (
  account_id string,
  service string,
  record_type string,
  unblended decimal(38,12),
  currency string,
  through date,
  costs_version string
)
PARTITIONED BY (month string)
STORED AS PARQUET
LOCATION '${lake}/monthly_costs/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.month.type' = 'date',
  'projection.month.format' = 'yyyy-MM',
  'projection.month.range' = '2020-01,NOW',
  'projection.month.interval' = '1',
  'projection.month.interval.unit' = 'MONTHS',
  'storage.location.template' = '${lake}/monthly_costs/month=${month}/'
)
