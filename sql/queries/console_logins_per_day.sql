-- Successful console sign-ins per account and UTC day (each event once, however often it was
-- delivered).
-- param from (day): first day, YYYY-MM-DD
-- param to (day): last day, YYYY-MM-DD
SELECT account_id, dt AS day, COUNT(DISTINCT event_id) AS logins
FROM events
WHERE activity = 'ConsoleLogin' AND dt BETWEEN '${from}' AND '${to}'
GROUP BY account_id, dt
ORDER BY account_id, day
