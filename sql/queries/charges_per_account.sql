-- Charges per account and record type (Usage, Tax, Support, Credit, Refund, ...) for a month,
-- credits and refunds included: the organization's charges sheet, one row per pair.
-- param month (month): the month, YYYY-MM
-- param snapshot (day): the accounts snapshot that names the accounts, YYYY-MM-DD
SELECT cost_center, ou_name, account_id, name, record_type, currency, SUM(unblended) AS amount
FROM (
  SELECT
    COALESCE(a.cost_center, 'NoCostTag') AS cost_center,
    COALESCE(a.ou_name, 'Unknown') AS ou_name,
    c.account_id,
    COALESCE(a.name, 'Unknown') AS name,
    c.record_type,
    c.currency,
    c.unblended
  FROM costs c
  LEFT JOIN (SELECT account_id, name, cost_center, ou_name FROM accounts WHERE snapshot = '${snapshot}') a
    ON a.account_id = c.account_id
  WHERE c.month = '${month}'
) t
GROUP BY cost_center, ou_name, account_id, name, record_type, currency
ORDER BY cost_center, ou_name, account_id, record_type
