-- Which users crossed the bot-alert thresholds, and in which windows? Reads user_activity: drops
-- redelivered partials (same user, window and contribution_id), sums the partials of each user and
-- window, then keeps windows above the default rules of core/rules.ts: more than 60 events, more
-- than 30 views without cart or purchase, more than 5 sessions, or more than 3 purchases (a test
-- keeps these equal).
-- Parameters: none.
WITH partials AS (
  SELECT *
  FROM (
    SELECT
      ua.*,
      row_number() OVER (PARTITION BY user_id, window_start, contribution_id ORDER BY dt) AS delivery
    FROM user_activity ua
  ) deliveries
  WHERE delivery = 1
),
windows AS (
  SELECT
    user_id,
    window_start,
    sum(view_count) AS views,
    sum(cart_count) AS carts,
    sum(purchase_count) AS purchases,
    sum(total_count) AS events,
    cardinality(array_distinct(flatten(array_agg(sessions)))) AS sessions,
    cardinality(array_distinct(flatten(array_agg(products)))) AS products
  FROM partials
  GROUP BY user_id, window_start
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
FROM windows
WHERE events > 60
  OR (carts = 0 AND purchases = 0 AND views > 30)
  OR sessions > 5
  OR purchases > 3
ORDER BY events DESC, user_id, window_start
