-- Which product categories draw the most events at each hour of the day (UTC)? The top 5 categories
-- per hour, by events, with their purchases; events without a category_code are left out. Events
-- are counted by distinct event_id: one a resumed producer sent twice is in the lake twice.
-- Parameters: none.
WITH per_hour AS (
  SELECT
    hour(event_time) AS hour_of_day,
    category_code,
    count(DISTINCT event_id) AS events,
    count(DISTINCT CASE WHEN event_type = 'purchase' THEN event_id END) AS purchases
  FROM events
  WHERE category_code IS NOT NULL
  GROUP BY hour(event_time), category_code
),
ranked AS (
  SELECT
    hour_of_day,
    category_code,
    events,
    purchases,
    row_number() OVER (PARTITION BY hour_of_day ORDER BY events DESC, category_code) AS category_rank
  FROM per_hour
)
SELECT hour_of_day, category_rank, category_code, events, purchases
FROM ranked
WHERE category_rank <= 5
ORDER BY hour_of_day, category_rank
