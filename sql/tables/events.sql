-- events: one EventBridge event or CloudTrail record per row (lifecycle events, console
-- sign-ins, Organizations calls, CodeBuild state changes, billing alarms), partitioned by the
-- event's UTC day. `raw` is the original JSON: reach any field with json_extract_scalar.
-- Partition projection: no crawler and no MSCK REPAIR, ever.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.events (
  event_id string,
  event_time timestamp,
  source string,
  detail_type string,
  event_name string,
  account_id string,
  recipient_account_id string,
  region string,
  actor_type string,
  actor_name string,
  source_ip string,
  user_agent string,
  error_code string,
  activity string,
  origin string,
  raw string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '${lake}/events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${lake}/events/dt=${dt}/'
)
