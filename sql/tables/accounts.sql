-- accounts: one row per account of the organization per snapshot day (active, suspended and
-- closed accounts), with OU, lifecycle state, holder, cost center and every tag. A report uses
-- the latest snapshot at or before its date, so later changes do not rewrite history.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.accounts (
  account_id string,
  name string,
  email string,
  status string,
  joined timestamp,
  ou_id string,
  ou_name string,
  ou_path string,
  managed boolean,
  state string,
  holder string,
  cost_center string,
  tags map<string,string>
)
PARTITIONED BY (snapshot string)
STORED AS PARQUET
LOCATION '${lake}/accounts/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.snapshot.type' = 'date',
  'projection.snapshot.format' = 'yyyy-MM-dd',
  'projection.snapshot.range' = '2020-01-01,NOW',
  'projection.snapshot.interval' = '1',
  'projection.snapshot.interval.unit' = 'DAYS',
  'storage.location.template' = '${lake}/accounts/snapshot=${snapshot}/'
)
