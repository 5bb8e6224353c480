-- What did one user do, window by window? The merged activity of the user in every event-time window,
-- oldest first: distinct event ids over the window's partials (a redelivered partial or a re-sent
-- event counts once), revenue summed over the distinct purchases. The lookup a bot-alert email links to.
-- @param user_id The user id from the alert, e.g. 512475445.
WITH partials AS (
  SELECT *
  FROM user_activity
  WHERE user_id = ?
),
windows AS (
  SELECT
    user_id,
    window_start,
    max(window_seconds) AS window_seconds,
    cardinality(array_distinct(flatten(array_agg(view_ids)))) AS views,
    cardinality(array_distinct(flatten(array_agg(cart_ids)))) AS carts,
    cardinality(array_distinct(flatten(array_agg(remove_from_cart_ids)))) AS removals,
    cardinality(array_distinct(flatten(array_agg(purchases)))) AS purchases,
    cardinality(array_distinct(flatten(array_agg(sessions)))) AS sessions,
    cardinality(array_distinct(flatten(array_agg(products)))) AS products,
    min(first_event_time) AS first_event_time,
    max(last_event_time) AS last_event_time,
    count(DISTINCT contribution_id) AS partials
  FROM partials
  GROUP BY user_id, window_start
),
revenue AS (
  -- A purchase is `<event id>:<price in cents>`.
  SELECT window_start, sum(CAST(split_part(purchase, ':', 2) AS bigint)) AS cents
  FROM (
    SELECT DISTINCT pa.window_start, p.purchase
    FROM partials pa
    CROSS JOIN UNNEST(pa.purchases) AS p (purchase)
  ) distinct_purchases
  GROUP BY window_start
)
SELECT
  w.user_id,
  w.window_start,
  w.window_seconds,
  w.views + w.carts + w.removals + w.purchases AS events,
  w.views,
  w.carts,
  w.removals,
  w.purchases,
  round(CAST(coalesce(r.cents, 0) AS double) / 100, 2) AS revenue,
  w.sessions,
  w.products,
  w.first_event_time,
  w.last_event_time,
  w.partials
FROM windows w
LEFT JOIN revenue r ON r.window_start = w.window_start
ORDER BY w.window_start
