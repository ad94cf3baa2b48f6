-- Monthly cost per cost center and OU, as the cost reports sum it: usage, tax, support and
-- fees; credits and refunds stay at organization level (charges_per_account.sql shows them).
-- Accounts the snapshot does not know count under NoCostTag / Unknown.
-- param month (month): the month, YYYY-MM
-- param snapshot (day): the accounts snapshot that names the accounts, YYYY-MM-DD (the latest at or before the month's last day)
SELECT cost_center, ou_name, currency, SUM(unblended) AS amount
FROM (
  SELECT
    COALESCE(a.cost_center, 'NoCostTag') AS cost_center,
    COALESCE(a.ou_name, 'Unknown') AS ou_name,
    c.currency,
    c.unblended
  FROM costs c
  LEFT JOIN (SELECT account_id, cost_center, ou_name FROM accounts WHERE snapshot = '${snapshot}') a
    ON a.account_id = c.account_id
  WHERE c.month = '${month}' AND c.record_type NOT IN ('Credit', 'Refund')
) t
GROUP BY cost_center, ou_name, currency
ORDER BY cost_center, ou_name
