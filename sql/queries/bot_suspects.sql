-- Which users broke a bot-alert rule, over which horizon, and at which window? Reads user_activity: a
-- window counts the distinct event ids over its partials (so a redelivered partial, or an event a
-- resumed producer sent twice, counts once); then, for every window a user was active in, sums the
-- user's windows of the last 1, 10 and 60 minutes (window starts in (start - horizon, start]). An
-- event's id belongs to one window only (its event time's), so these sums count each event once.
-- Distinct sessions over a horizon count the union of the windows' session ids, not the sum of their
-- counts. Keeps the horizons that break a default rule of core/rules.ts (a test keeps the thresholds
-- equal, and another keeps these rows equal to what the alerter evaluates on the same data):
--   1 min:  more than 60 events, 30 views without cart or purchase, 5 sessions or 3 purchases;
--   10 min: more than 8 purchases, or 20 carts and no purchase;
--   60 min: more than 600 views without cart or purchase, or 40 sessions.
-- Parameters: none.
WITH window_ids AS (
  SELECT
    user_id,
    window_start,
    cardinality(array_distinct(flatten(array_agg(view_ids)))) AS views,
    cardinality(array_distinct(flatten(array_agg(cart_ids)))) AS carts,
    cardinality(array_distinct(flatten(array_agg(remove_from_cart_ids)))) AS removals,
    cardinality(array_distinct(flatten(array_agg(purchases)))) AS purchases
  FROM user_activity
  GROUP BY user_id, window_start
),
windows AS (
  SELECT *, views + carts + removals + purchases AS events
  FROM window_ids
),
window_sessions AS (
  SELECT DISTINCT ua.user_id, ua.window_start, s.session
  FROM user_activity ua
  CROSS JOIN UNNEST(ua.sessions) AS s (session)
),
horizon_ends AS (
  SELECT w.user_id, w.window_start, h.minutes
  FROM windows w
  CROSS JOIN (VALUES (1), (10), (60)) AS h (minutes)
),
horizon_counts AS (
  SELECT
    e.user_id,
    e.window_start,
    e.minutes,
    count(*) AS windows,
    sum(w.events) AS events,
    sum(w.views) AS views,
    sum(w.carts) AS carts,
    sum(w.purchases) AS purchases
  FROM horizon_ends e
  JOIN windows w
    ON w.user_id = e.user_id
    AND w.window_start <= e.window_start
    AND w.window_start > e.window_start - e.minutes * INTERVAL '1' MINUTE
  GROUP BY e.user_id, e.window_start, e.minutes
),
horizon_sessions AS (
  SELECT e.user_id, e.window_start, e.minutes, count(DISTINCT s.session) AS sessions
  FROM horizon_ends e
  JOIN window_sessions s
    ON s.user_id = e.user_id
    AND s.window_start <= e.window_start
    AND s.window_start > e.window_start - e.minutes * INTERVAL '1' MINUTE
  GROUP BY e.user_id, e.window_start, e.minutes
),
horizons AS (
  SELECT
    c.user_id,
    c.window_start,
    c.minutes AS horizon_minutes,
    c.windows,
    c.events,
    c.views,
    c.carts,
    c.purchases,
    coalesce(s.sessions, 0) AS sessions
  FROM horizon_counts c
  LEFT JOIN horizon_sessions s
    ON s.user_id = c.user_id AND s.window_start = c.window_start AND s.minutes = c.minutes
)
SELECT
  user_id,
  window_start,
  horizon_minutes,
  windows,
  events,
  views,
  carts,
  purchases,
  sessions
FROM horizons
WHERE (
    horizon_minutes = 1
    AND (
      events > 60
      OR (carts = 0 AND purchases = 0 AND views > 30)
      OR sessions > 5
      OR purchases > 3
    )
  )
  OR (horizon_minutes = 10 AND (purchases > 8 OR (purchases = 0 AND carts > 20)))
  OR (horizon_minutes = 60 AND ((carts = 0 AND purchases = 0 AND views > 600) OR sessions > 40))
ORDER BY events DESC, user_id, window_start, horizon_minutes
