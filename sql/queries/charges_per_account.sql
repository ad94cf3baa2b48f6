-- Charges per account and record type (Usage, Tax, Support, Credit, Refund, ...) for a month,
-- credits and refunds included: the organization's charges sheet, one row per pair.
-- param month (month): the month, YYYY-MM
-- param snapshot (day): the accounts snapshot that names the accounts, YYYY-MM-DD
-- It reads monthly_costs, the month's costs already summed per account, service and record type
-- (about thirty times fewer rows than the daily costs), sums them per account, then names them:
-- the join sees one row per account and record type.
SELECT
  COALESCE(a.cost_center, 'NoCostTag') AS cost_center,
  COALESCE(a.ou_name, 'Unknown') AS ou_name,
  s.account_id,
  COALESCE(a.name, 'Unknown') AS name,
  s.record_type,
  s.currency,
  s.amount
FROM (
  SELECT account_id, record_type, currency, SUM(unblended) AS amount
  FROM monthly_costs
  WHERE month = '${month}'
  GROUP BY account_id, record_type, currency
) s
LEFT JOIN (SELECT account_id, name, cost_center, ou_name FROM accounts WHERE snapshot = '${snapshot}') a
  ON a.account_id = s.account_id
ORDER BY cost_center, ou_name, account_id, record_type
