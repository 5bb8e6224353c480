-- Which users crossed the bot-alert thresholds, and in which windows? Reads user_activity: a window
-- counts the distinct event ids over its partials (so a redelivered partial, or an event a resumed
-- producer sent twice, counts once), then keeps windows above the default rules of core/rules.ts:
-- more than 60 events, more than 30 views without cart or purchase, more than 5 sessions, or more
-- than 3 purchases (a test keeps these equal).
-- Parameters: none.
WITH windows AS (
  SELECT
    user_id,
    window_start,
    cardinality(array_distinct(flatten(array_agg(view_ids)))) AS views,
    cardinality(array_distinct(flatten(array_agg(cart_ids)))) AS carts,
    cardinality(array_distinct(flatten(array_agg(remove_from_cart_ids)))) AS removals,
    cardinality(array_distinct(flatten(array_agg(purchases)))) AS purchases,
    cardinality(array_distinct(flatten(array_agg(sessions)))) AS sessions,
    cardinality(array_distinct(flatten(array_agg(products)))) AS products
  FROM user_activity
  GROUP BY user_id, window_start
),
totals AS (
  SELECT *, views + carts + removals + purchases AS events
  FROM windows
)
SELECT
  user_id,
  window_start,
  events,
  views,
  carts,
  purchases,
  sessions,
  products
FROM totals
WHERE events > 60
  OR (carts = 0 AND purchases = 0 AND views > 30)
  OR sessions > 5
  OR purchases > 3
ORDER BY events DESC, user_id, window_start
