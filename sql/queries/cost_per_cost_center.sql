-- Monthly cost per cost center and OU, as the cost reports sum it: usage, tax, support and
-- fees; credits and refunds stay at organization level (charges_per_account.sql shows them).
-- Accounts the snapshot does not know count under NoCostTag / Unknown.
-- param month (month): the month, YYYY-MM
-- param snapshot (day): the accounts snapshot that names the accounts, YYYY-MM-DD (the latest at or before the month's last day)
-- It reads monthly_costs, the month's costs already summed per account, service and record type,
-- sums them per account, then names them and sums again per cost center and OU.
SELECT cost_center, ou_name, currency, SUM(amount) AS amount
FROM (
  SELECT
    COALESCE(a.cost_center, 'NoCostTag') AS cost_center,
    COALESCE(a.ou_name, 'Unknown') AS ou_name,
    s.currency,
    s.amount
  FROM (
    SELECT account_id, currency, SUM(unblended) AS amount
    FROM monthly_costs
    WHERE month = '${month}' AND record_type NOT IN ('Credit', 'Refund')
    GROUP BY account_id, currency
  ) s
  LEFT JOIN (SELECT account_id, cost_center, ou_name FROM accounts WHERE snapshot = '${snapshot}') a
    ON a.account_id = s.account_id
) t
GROUP BY cost_center, ou_name, currency
ORDER BY cost_center, ou_name
