-- auc: the probability that a random positive row scores higher than a random negative one, ties half.
SET search_path = health_score, public;

-- Perfect separation: 1. Reversed: 0. All scores tied: 0.5.
SELECT auc(s, s > 5) FROM generate_series(1, 10) s;
SELECT auc(s, s <= 5) FROM generate_series(1, 10) s;
SELECT auc(7, n % 3 = 0) FROM generate_series(1, 10) n;
-- By hand: positives 0.2, 0.5, 0.5, 0.9 against negatives 0.1, 0.5, 0.7. The positives win
-- 1 + 1.5 + 1.5 + 3 = 7 of the 12 pairs; with mid-ranks, the positives' ranks 2 + 4 + 4 + 7 = 17
-- give U = 17 - 4 x 5 / 2 = 7 too. 7/12 = 0.58333...
SELECT auc(s, p), 7.0 / 12 AS expected
  FROM (VALUES (0.2, true), (0.5, true), (0.5, true), (0.9, true),
			   (0.1, false), (0.5, false), (0.7, false)) v(s, p);
-- Infinities are ordinary scores: +inf beats -inf and ties +inf; 1 beats -inf: 2.5 of 4 pairs.
SELECT auc(s, p)
  FROM (VALUES ('infinity'::float8, true), (1, true), ('-infinity', false), ('infinity', false)) v(s, p);
-- Rows with a NULL score or a NULL outcome are skipped: only 2 (positive) and 1 (negative) count.
SELECT auc(s, p) FROM (VALUES (2::float8, true), (NULL, false), (5, NULL), (1, false), (NULL, NULL)) v(s, p);
-- One class empty, or nothing at all: NULL.
SELECT auc(s, true) FROM generate_series(1, 5) s;
SELECT auc(s, false) FROM generate_series(1, 5) s;
SELECT auc(s, NULL) FROM generate_series(1, 5) s;
SELECT auc(s, true) FROM generate_series(1, 0) s;
-- Per group.
SELECT g, auc(s, p)
  FROM (VALUES (1, 0.9, true), (1, 0.1, false), (2, 0.1, true), (2, 0.9, false), (3, 0.5, true)) v(g, s, p)
 GROUP BY g ORDER BY g;
-- NaN is an error.
SELECT auc(s, p) FROM (VALUES (0.5::float8, true), ('NaN', false)) v(s, p);

-- Against the pairwise definition on 3,000 random rows with many ties, in 3 groups and overall.
SELECT setseed(0.17);
CREATE TEMP TABLE scored AS
SELECT n % 3 AS g, round(random() * 50) / 50 AS s FROM generate_series(1, 3000) n;
ALTER TABLE scored ADD COLUMN churned boolean;
UPDATE scored SET churned = random() < 0.2 + 0.5 * s;
WITH pairwise AS (
	SELECT p.g, avg(CASE WHEN p.s > n.s THEN 1 WHEN p.s = n.s THEN 0.5 ELSE 0 END) AS expected
	  FROM scored p JOIN scored n ON n.g = p.g AND NOT n.churned
	 WHERE p.churned
	 GROUP BY p.g)
SELECT g, abs(a.auc - pairwise.expected) < 1e-12 AS matches
  FROM (SELECT g, auc(s, churned) FROM scored GROUP BY g) a JOIN pairwise USING (g)
 ORDER BY g;
SELECT abs(auc(s, churned) - (SELECT avg(CASE WHEN p.s > n.s THEN 1 WHEN p.s = n.s THEN 0.5 ELSE 0 END)
								FROM scored p, scored n WHERE p.churned AND NOT n.churned)) < 1e-12 AS matches
  FROM scored;
-- Large classes (the arrays grow, the merge walks long runs of ties): 200,000 rows, scores 0-9. At
-- scores 0-8, 2,000 positives and 18,000 negatives each; at 9, 20,000 positives. A positive at k < 9
-- beats 18,000 k negatives and ties 18,000; one at 9 beats all 162,000:
-- U = 2,000 x (18,000 x 36 + 9 x 9,000) + 20,000 x 162,000 = 4,698,000,000 of 38,000 x 162,000 pairs.
SELECT auc(n % 10, n % 10 = 9 OR n % 100 < 10), 4698000000.0 / (38000.0 * 162000) AS expected
  FROM generate_series(0, 199999) n;
