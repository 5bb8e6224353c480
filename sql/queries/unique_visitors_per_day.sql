-- How many distinct users visit the shop each day, in how many sessions, with how many events?
-- Days are event dates (UTC), so the dt partition filter prunes whole days.
-- Parameters: none.
SELECT
  dt AS event_date,
  count(DISTINCT user_id) AS unique_visitors,
  count(DISTINCT user_session) AS sessions,
  count(*) AS events
FROM events
GROUP BY dt
ORDER BY dt
