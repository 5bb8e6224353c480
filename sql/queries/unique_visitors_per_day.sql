-- How many distinct users visit the shop each day, in how many sessions, with how many events?
-- Days are event dates (UTC), so the dt partition filter prunes whole days. Events are counted by
-- distinct event_id: one a resumed producer sent twice is in the lake twice.
-- Parameters: none.
SELECT
  dt AS event_date,
  count(DISTINCT user_id) AS unique_visitors,
  count(DISTINCT user_session) AS sessions,
  count(DISTINCT event_id) AS events
FROM events
GROUP BY dt
ORDER BY dt
