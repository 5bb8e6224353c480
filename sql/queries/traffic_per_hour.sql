-- How much traffic does the shop see in each hour (UTC) of the data? Events and distinct users per
-- hour: the background the report draws bot incidents against. Events are counted by distinct
-- event_id: one a resumed producer sent twice is in the lake twice.
-- Parameters: none.
SELECT
  date_trunc('hour', event_time) AS hour,
  count(DISTINCT event_id) AS events,
  count(DISTINCT user_id) AS users
FROM events
GROUP BY date_trunc('hour', event_time)
ORDER BY hour
