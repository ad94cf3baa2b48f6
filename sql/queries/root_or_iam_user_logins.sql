-- Console sign-ins as the root user or an IAM user (sandboxes are meant for federated roles):
-- each one an exception to follow up, successful or not.
-- param from (day): first day, YYYY-MM-DD
-- param to (day): last day, YYYY-MM-DD
SELECT DISTINCT event_time, account_id, actor_type, actor_name, source_ip, activity, error_code
FROM events
WHERE event_name = 'ConsoleLogin' AND actor_type IN ('Root', 'IAMUser')
  AND dt BETWEEN '${from}' AND '${to}'
ORDER BY event_time, account_id
