-- Which brands are looked at a lot but rarely bought? Brands with at least 100 views (the volume
-- guard: fewer views say nothing about conversion) whose view-to-purchase conversion is below half
-- the shop-wide rate, most viewed first. Edit the two constants to tune it. Events are counted by
-- distinct event_id: one a resumed producer sent twice is in the lake twice.
-- Parameters: none.
WITH brand_funnel AS (
  SELECT
    brand,
    count(DISTINCT CASE WHEN event_type = 'view' THEN event_id END) AS views,
    count(DISTINCT CASE WHEN event_type = 'cart' THEN event_id END) AS carts,
    count(DISTINCT CASE WHEN event_type = 'purchase' THEN event_id END) AS purchases
  FROM events
  WHERE brand IS NOT NULL
  GROUP BY brand
),
shop AS (
  SELECT CAST(sum(purchases) AS double) / sum(views) AS conversion
  FROM brand_funnel
)
SELECT
  b.brand,
  b.views,
  b.carts,
  b.purchases,
  round(CAST(b.purchases AS double) / b.views, 5) AS conversion,
  round(s.conversion, 5) AS shop_conversion
FROM brand_funnel b
CROSS JOIN shop s
WHERE b.views >= 100
  AND CAST(b.purchases AS double) / b.views < s.conversion / 2
ORDER BY b.views DESC, b.brand
LIMIT 50
