-- The most expensive services of each cost center in a month (credits and refunds excluded),
-- ranked within the cost center.
-- param month (month): the month, YYYY-MM
-- param snapshot (day): the accounts snapshot that names the accounts, YYYY-MM-DD
-- param top (integer): how many services per cost center, e.g. 5
-- It reads monthly_costs, the month's costs already summed per account, service and record type,
-- sums them per account and service, then names them and sums per cost center.
WITH per_account AS (
  SELECT account_id, service, SUM(unblended) AS amount
  FROM monthly_costs
  WHERE month = '${month}' AND record_type NOT IN ('Credit', 'Refund')
  GROUP BY account_id, service
), sums AS (
  SELECT cost_center, service, SUM(amount) AS amount
  FROM (
    SELECT COALESCE(a.cost_center, 'NoCostTag') AS cost_center, p.service, p.amount
    FROM per_account p
    LEFT JOIN (SELECT account_id, cost_center FROM accounts WHERE snapshot = '${snapshot}') a
      ON a.account_id = p.account_id
  ) t
  GROUP BY cost_center, service
), ranked AS (
  SELECT cost_center, service, amount,
    ROW_NUMBER() OVER (PARTITION BY cost_center ORDER BY amount DESC) AS rank_in_cost_center
  FROM sums
)
SELECT cost_center, rank_in_cost_center, service, amount
FROM ranked
WHERE rank_in_cost_center <= ${top}
ORDER BY cost_center, rank_in_cost_center
