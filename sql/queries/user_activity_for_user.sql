-- What did one user do, window by window? The merged activity of the user in every event-time window
-- (redelivered partials dropped, partials summed), oldest first: the lookup a bot-alert email links to.
-- @param user_id The user id from the alert, e.g. 512475445.
WITH partials AS (
  SELECT *
  FROM (
    SELECT
      ua.*,
      row_number() OVER (PARTITION BY user_id, window_start, contribution_id ORDER BY dt) AS delivery
    FROM user_activity ua
    WHERE user_id = ?
  ) deliveries
  WHERE delivery = 1
)
SELECT
  user_id,
  window_start,
  max(window_seconds) AS window_seconds,
  sum(total_count) AS events,
  sum(view_count) AS views,
  sum(cart_count) AS carts,
  sum(remove_from_cart_count) AS removals,
  sum(purchase_count) AS purchases,
  round(sum(revenue), 2) AS revenue,
  cardinality(array_distinct(flatten(array_agg(sessions)))) AS sessions,
  cardinality(array_distinct(flatten(array_agg(products)))) AS products,
  min(first_event_time) AS first_event_time,
  max(last_event_time) AS last_event_time,
  count(*) AS partials
FROM partials
GROUP BY user_id, window_start
ORDER BY window_start
