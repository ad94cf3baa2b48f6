-- On-boardings (CreatedAccount until the next ReleasedAccount) and maintenances (ExpiredAccount
-- until the next ReleasedAccount) with their duration in seconds; `ended` is empty while one
-- is still running. Starts in [from, to]; ends are looked for until `until`.
-- param from (day): first day of the starts, YYYY-MM-DD
-- param to (day): last day of the starts, YYYY-MM-DD
-- param until (day): last day to look for their ends, YYYY-MM-DD
WITH marks AS (
  SELECT DISTINCT event_id, account_id, activity, event_time, dt
  FROM events
  WHERE activity IN ('CreatedAccount', 'ExpiredAccount', 'ReleasedAccount')
    AND dt BETWEEN '${from}' AND '${until}'
), paired AS (
  SELECT
    account_id, activity, event_time, dt,
    LEAD(activity) OVER (PARTITION BY account_id ORDER BY event_time) AS next_activity,
    LEAD(event_time) OVER (PARTITION BY account_id ORDER BY event_time) AS next_time
  FROM marks
)
SELECT
  account_id,
  CASE WHEN activity = 'CreatedAccount' THEN 'On-boarding' ELSE 'Maintenance' END AS transaction,
  event_time AS started,
  CASE WHEN next_activity = 'ReleasedAccount' THEN next_time END AS ended,
  CASE WHEN next_activity = 'ReleasedAccount' THEN date_diff('second', event_time, next_time) END AS seconds
FROM paired
WHERE activity IN ('CreatedAccount', 'ExpiredAccount') AND dt BETWEEN '${from}' AND '${to}'
ORDER BY started, account_id
