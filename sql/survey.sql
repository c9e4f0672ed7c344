-- nps: Net Promoter Score, 100 x (share of 9-10 - share of 0-6); passives (7-8) count in the denominator.
SET search_path = health_score, public;

-- One answer of each rating: 2 promoters, 2 passives, 7 detractors of 11: 100 x (2 - 7) / 11.
SELECT nps(r), round((100.0 * (2 - 7) / 11)::numeric, 10) AS expected FROM generate_series(0, 10) r;
-- The class boundaries: 6 is a detractor, 7 and 8 passives, 9 a promoter.
SELECT nps(r) FROM (VALUES (6), (7), (8), (9)) v(r);
-- All passives: 0. All promoters: 100. All detractors: -100.
SELECT nps(r) FROM (VALUES (7), (8), (8), (7)) v(r);
SELECT nps(r) FROM (VALUES (9), (10), (10)) v(r);
SELECT nps(r) FROM (VALUES (0), (3), (6)) v(r);
-- NULL ratings are skipped: 1 promoter, 1 passive of 2.
SELECT nps(r) FROM (VALUES (10), (NULL), (8), (NULL)) v(r);
-- No ratings: NULL.
SELECT nps(r) FROM (VALUES (NULL::integer), (NULL)) v(r);
SELECT nps(r) FROM generate_series(1, 0) r;
-- Per account, over many rows: 60 % promoters, 30 % passives, 10 % detractors is 50.
SELECT a, nps(r)
  FROM (SELECT n % 3 AS a, (ARRAY[10, 10, 10, 10, 10, 10, 7, 7, 7, 0])[n % 10 + 1] AS r
		  FROM generate_series(0, 29999) n) v
 GROUP BY a ORDER BY a;
-- A rating outside 0-10 is an error.
SELECT nps(r) FROM (VALUES (5), (11)) v(r);
SELECT nps(-1);

-- The state is one bigint, answers x 2^32 + (promoters - detractors), so partial states add up; its parts
-- are read back exactly up to 2^31 - 1 answers, and more is refused (22003), as is what no state can be.
SELECT health_score.nps_value(3 * 4294967296::bigint + 1) AS three_answers_net_one;
SELECT health_score.nps_value(0) AS no_answers;
SELECT health_score.nps_step(2147483647 * 4294967296::bigint, 9);
SELECT health_score.nps_value(9223372036854775807);
SELECT health_score.nps_value(-1);
