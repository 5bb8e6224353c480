-- Which carts are abandoned? Per day: sessions that put something in the cart and bought nothing in
-- the same session, the users behind them, and the abandonment rate among sessions with a cart.
-- A session counts on the date of its first event; events without a session are left out. It counts
-- sessions and users, never events, so an event a resumed producer sent twice changes nothing.
-- Parameters: none.
WITH cart_sessions AS (
  SELECT
    user_session,
    user_id,
    min(dt) AS event_date,
    count_if(event_type = 'purchase') AS purchases
  FROM events
  WHERE user_session IS NOT NULL
  GROUP BY user_session, user_id
  HAVING count_if(event_type = 'cart') > 0
)
SELECT
  event_date,
  count(*) AS sessions_with_cart,
  count_if(purchases = 0) AS abandoned_sessions,
  round(CAST(count_if(purchases = 0) AS double) / count(*), 4) AS abandonment_rate,
  count(DISTINCT user_id) AS users_with_cart,
  count(DISTINCT CASE WHEN purchases = 0 THEN user_id END) AS users_abandoning
FROM cart_sessions
GROUP BY event_date
ORDER BY event_date
