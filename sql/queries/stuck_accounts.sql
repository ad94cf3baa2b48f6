-- Managed accounts of a snapshot still on-boarding (assigned) or in maintenance (expired)
-- whose last lifecycle event is older than a time: the lifecycle reports them as
-- FailedOnBoarding / FailedMaintenance.
-- param snapshot (day): the accounts snapshot, YYYY-MM-DD
-- param before (time): the time before which the last transition counts as stuck, YYYY-MM-DD HH:MM:SS (UTC)
-- Only the events of those accounts go through the window (joined with them first): a few
-- hundred accounts' transitions instead of every account's.
WITH a AS (
  SELECT cost_center, account_id, name, state
  FROM accounts
  WHERE snapshot = '${snapshot}' AND managed AND state IN ('assigned', 'expired')
)
SELECT a.cost_center, a.account_id, a.name, a.state, t.last_transition, t.last_event
FROM a
LEFT JOIN (
  SELECT account_id, event_time AS last_transition, activity AS last_event
  FROM (
    SELECT e.account_id, e.event_time, e.activity,
      ROW_NUMBER() OVER (PARTITION BY e.account_id ORDER BY e.event_time DESC) AS newest
    FROM events e
    JOIN a ON a.account_id = e.account_id
    WHERE e.source = 'spa.lifecycle' AND e.dt <= '${snapshot}'
  ) e
  WHERE newest = 1
) t ON t.account_id = a.account_id
WHERE t.last_transition IS NULL OR t.last_transition < TIMESTAMP '${before}'
ORDER BY a.cost_center, a.account_id
