-- The last successful console sign-in of each account that signed in up to a day (the weekly
-- inventory's "Last Console Login").
-- param until (day): last day looked at, YYYY-MM-DD
SELECT account_id, MAX(event_time) AS last_login, COUNT(DISTINCT event_id) AS logins
FROM events
WHERE activity = 'ConsoleLogin' AND dt <= '${until}'
GROUP BY account_id
ORDER BY account_id
