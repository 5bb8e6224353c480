-- Which product categories draw the most events on each day of the week? The top 5 categories per
-- ISO weekday (1 = Monday), by events, with their purchases; events without a category_code are left out.
-- Events are counted by distinct event_id: one a resumed producer sent twice is in the lake twice.
-- Parameters: none.
WITH per_weekday AS (
  SELECT
    day_of_week(event_time) AS weekday,
    date_format(event_time, '%W') AS weekday_name,
    category_code,
    count(DISTINCT event_id) AS events,
    count(DISTINCT CASE WHEN event_type = 'purchase' THEN event_id END) AS purchases
  FROM events
  WHERE category_code IS NOT NULL
  GROUP BY day_of_week(event_time), date_format(event_time, '%W'), category_code
),
ranked AS (
  SELECT
    weekday,
    weekday_name,
    category_code,
    events,
    purchases,
    row_number() OVER (PARTITION BY weekday ORDER BY events DESC, category_code) AS category_rank
  FROM per_weekday
)
SELECT weekday, weekday_name, category_rank, category_code, events, purchases
FROM ranked
WHERE category_rank <= 5
ORDER BY weekday, category_rank
