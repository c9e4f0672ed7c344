-- composite and band: weighted means of component scores and their bands.

-- Equal weights: the plain mean.
SELECT health_score.composite(ARRAY[80, 60], ARRAY[1, 1]);

-- A NULL score leaves its component out and the other weights are re-normalised: (2*80 + 1*50) / 3.
SELECT health_score.composite(ARRAY[80, NULL, 50], ARRAY[2, 5, 1]);

-- Zero weights take part in nothing; a lone zero-weight component is like no component at all.
SELECT health_score.composite(ARRAY[80, 20], ARRAY[1, 0]) AS zero_weight_ignored,
       health_score.composite(ARRAY[80, NULL], ARRAY[0, 1]) AS present_weights_sum_to_0,
       health_score.composite(ARRAY[NULL, NULL]::float8[], ARRAY[1, 1]) AS none_present;

-- Empty arrays and NULL arrays give NULL.
SELECT health_score.composite('{}', '{}') AS empty,
       health_score.composite(NULL, ARRAY[1]) AS null_scores,
       health_score.composite(ARRAY[1], NULL) AS null_weights;

-- The bounds of the range, huge and tiny weights, and arrays that do not start at 1.
SELECT health_score.composite(ARRAY[0, 100], ARRAY[1, 3]) AS bounds,
       health_score.composite(ARRAY[100, 0], ARRAY[1e308, 1e308]) AS huge_weights,
       health_score.composite(ARRAY[100, 0], ARRAY[5e-324, 5e-324]) AS tiny_weights,
       health_score.composite(ARRAY[100, 100, 100], ARRAY[0.1, 0.7, 0.3]) AS all_100,
       health_score.composite('[0:1]={10,20}', ARRAY[1, 3]) AS other_lower_bound;

-- Component scores from engagement_score feed composite directly.
SELECT round(health_score.composite(
           ARRAY[health_score.engagement_score(14 / ln(2) / 2, 1, '14 days'), 90, NULL],
           ARRAY[2, 1, 1])::numeric, 9);

-- band: poor below poor_below (40), good from good_from (70), average between.
SELECT s, health_score.band(s)
  FROM unnest(ARRAY[NULL, '-infinity', 0, 39.999, 40, 55, 69.999, 70, 100, 'infinity']::float8[]) s;

-- Thresholds of one's own; equal thresholds leave no average band; infinite ones remove a band.
SELECT health_score.band(50, 50, 50) AS at_equal,
       health_score.band(49.5, 50, 50) AS below_equal,
       health_score.band(80, good_from => 90) AS named_good_from,
       health_score.band(30, poor_below => 20) AS named_poor_below,
       health_score.band(-1000, '-infinity', 70) AS never_poor,
       health_score.band(1000, 40, 'infinity') AS never_good;

-- The result is health_band, ordered poor < average < good.
SELECT pg_typeof(health_score.band(50)),
       health_score.band(10) < health_score.band(50) AND health_score.band(50) < health_score.band(90) AS ordered;

-- Per row, with the labels cached per call site.
SELECT health_score.band(s) AS band, count(*)
  FROM generate_series(0, 100) s
 GROUP BY 1 ORDER BY 1;

-- A type of the same name earlier in search_path cannot stand in for health_band.
CREATE SCHEMA band_decoy;
CREATE TYPE band_decoy.health_band AS ENUM ('good', 'average', 'poor');
SET search_path = band_decoy, public;
SELECT pg_typeof(health_score.band(10)), health_score.band(10);
RESET search_path;
DROP SCHEMA band_decoy CASCADE;
