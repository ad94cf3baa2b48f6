-- Active accounts of a snapshot without a successful console sign-in since a day (never signed
-- in at all included): candidates to reclaim.
-- param snapshot (day): the accounts snapshot, YYYY-MM-DD
-- param since (day): first day that counts as use, YYYY-MM-DD
SELECT a.cost_center, a.ou_name, a.account_id, a.name, a.holder, a.state
FROM (SELECT * FROM accounts WHERE snapshot = '${snapshot}' AND status = 'ACTIVE') a
LEFT JOIN (
  SELECT account_id, COUNT(*) AS logins
  FROM events
  WHERE activity = 'ConsoleLogin' AND dt >= '${since}'
  GROUP BY account_id
) l ON l.account_id = a.account_id
WHERE l.logins IS NULL
ORDER BY a.cost_center, a.ou_name, a.account_id
