-- _activity_measures, refresh()'s one pass over the activity rows: each measure equals the aggregate it
-- stands for, NULLs and empty groups as documented, and every bad argument's error.
SET search_path = health_score, public;
SET timezone = 'UTC';

CREATE TEMP TABLE act (account int, occurred_at timestamptz, feature text, weight float8);
INSERT INTO act VALUES
	(1, '2024-06-30 12:00+00', 'report', 2),
	(1, '2024-06-20 00:00+00', 'dashboard', NULL),	-- a NULL weight weighs 1
	(1, '2024-05-01 00:00+00', 'report', 1),
	(1, '2024-07-02 00:00+00', 'api', 5),			-- after as_of: not counted
	(1, NULL, 'api', 1),							-- no time: not counted
	(1, '-infinity', 'login', 1),					-- counted, decays to nothing
	(2, '2024-06-29 00:00+00', NULL, 1),			-- no feature: no bit
	(2, '2024-06-01 00:00+00', 'API', 1);			-- features compare exactly; not after recent_from

-- as_of 2024-07-01, recent_from 2024-06-01, adopt_from 2024-06-24; key feature bits: api 1, dashboard 2,
-- report 4.
SELECT account, (m).events, (m).recent_events, (m).last_at, (m).recent_features, (m).features_before_adopt,
	   (m).features_since_adopt, (SELECT array_agg(round(d::numeric, 6)) FROM unnest((m).decayed) d) AS decayed
  FROM (SELECT account, _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01',
										   '2024-06-24', '{14 days, 7 days}', '{api, dashboard, report}') m
		  FROM act GROUP BY account) a
 ORDER BY account;

-- The decayed sums are decayed_sum's with a NULL weight as 1: the same terms, summed with compensation here
-- and plainly by decayed_sum, so equal within decayed_sum's bound (README).
SELECT account, abs(m[1] - d14) <= 1e-15 * abs(d14) AND abs(m[2] - d7) <= 1e-15 * abs(d7) AS same
  FROM (SELECT account, (_activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24',
											 '{14 days, 7 days}', '{}')).decayed AS m,
			   decayed_sum(occurred_at, coalesce(weight, 1), '2024-07-01', '14 days') AS d14,
			   decayed_sum(occurred_at, coalesce(weight, 1), '2024-07-01', '7 days') AS d7
		  FROM act GROUP BY account) x
 ORDER BY account;

-- No rows: NULL. Rows all after as_of: zeros, no latest time. No half-lives, no key features: an empty
-- array and no bits.
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days}', '{api}')
  FROM act WHERE false;
SELECT _activity_measures(occurred_at, feature, weight, '2024-01-01', '2023-12-01', '2023-12-24', '{14 days}', '{api}')
  FROM act WHERE occurred_at > '2024-01-01';
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{}', '{}')
  FROM act WHERE account = 1;

-- A row exactly at adopt_from is before the adoption window; a feature named twice in key_features takes
-- its first position's bit.
SELECT (m).features_before_adopt, (m).features_since_adopt, (m).recent_features
  FROM (SELECT _activity_measures(at, feature, NULL, '2024-07-01', '2024-06-01', '2024-06-24', '{}',
								  '{api, report, report}') AS m
		  FROM (VALUES (timestamptz '2024-06-24', 'report')) v(at, feature)) a;

-- The constants may differ between groups (here as_of), not within one.
SELECT account, (_activity_measures(occurred_at, feature, weight,
		CASE account WHEN 1 THEN timestamptz '2024-07-01' ELSE '2024-06-15' END, '2024-06-01', '2024-06-24',
		'{14 days}', '{report}')).events
  FROM act GROUP BY account ORDER BY account;

-- 200,000 random rows: every measure equals the built-in aggregate or primitive it stands for.
SELECT setseed(0.3);
CREATE TEMP TABLE act_random AS
SELECT n % 500 AS account, timestamptz '2024-07-01' - random() * interval '400 days' + interval '10 days' AS occurred_at,
	   (ARRAY['api', 'dashboard', 'report', 'login', NULL])[1 + (random() * 4.99)::int] AS feature,
	   CASE WHEN random() < 0.1 THEN NULL ELSE random() * 3 END AS weight
  FROM generate_series(1, 200000) n;
SELECT count(*) AS accounts,
	   count(*) FILTER (WHERE (m).events <> events OR (m).recent_events <> recent_events OR (m).last_at <> last_at
						   OR (m).recent_features <> recent_features
						   OR (m).features_before_adopt <> before_adopt OR (m).features_since_adopt <> since_adopt)
		   AS count_mismatches,
	   count(*) FILTER (WHERE abs((m).decayed[1] - decayed_14) > 1e-12 * decayed_14
						   OR abs((m).decayed[2] - decayed_30) > 1e-12 * decayed_30) AS sum_mismatches
  FROM (SELECT account,
			   _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24',
								  '{14 days, 30 days}', '{api, dashboard, report}') m,
			   count(*) FILTER (WHERE occurred_at <= '2024-07-01') AS events,
			   count(*) FILTER (WHERE occurred_at <= '2024-07-01' AND occurred_at > '2024-06-01') AS recent_events,
			   max(occurred_at) FILTER (WHERE occurred_at <= '2024-07-01') AS last_at,
			   coalesce(bit_or(CASE feature WHEN 'api' THEN 1 WHEN 'dashboard' THEN 2 WHEN 'report' THEN 4 ELSE 0 END)
							   FILTER (WHERE occurred_at <= '2024-07-01' AND occurred_at > '2024-06-01'), 0) AS recent_features,
			   coalesce(bit_or(CASE feature WHEN 'api' THEN 1 WHEN 'dashboard' THEN 2 WHEN 'report' THEN 4 ELSE 0 END)
							   FILTER (WHERE occurred_at <= '2024-06-24'), 0) AS before_adopt,
			   coalesce(bit_or(CASE feature WHEN 'api' THEN 1 WHEN 'dashboard' THEN 2 WHEN 'report' THEN 4 ELSE 0 END)
							   FILTER (WHERE occurred_at <= '2024-07-01' AND occurred_at > '2024-06-24'), 0) AS since_adopt,
			   decayed_sum(occurred_at, coalesce(weight, 1), '2024-07-01', '14 days') AS decayed_14,
			   decayed_sum(occurred_at, coalesce(weight, 1), '2024-07-01', '30 days') AS decayed_30
		  FROM act_random GROUP BY account) a;

-- Errors: every constant must be given, as_of finite, half-lives positive, at most 62 key features
-- without NULLs, weights finite, and each constant the same on every row of a group.
\set VERBOSITY default
SELECT _activity_measures(occurred_at, feature, weight, NULL, '2024-06-01', '2024-06-24', '{14 days}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', NULL, '2024-06-24', '{14 days}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', NULL, '{14 days}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', NULL, '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days}', NULL) FROM act;
SELECT _activity_measures(occurred_at, feature, weight, 'infinity', '2024-06-01', '2024-06-24', '{14 days}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days, 0 days}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days, NULL}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days}',
						  (SELECT array_agg('f' || n) FROM generate_series(1, 63) n)) FROM act;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days}', '{api, NULL}') FROM act;
SELECT _activity_measures(occurred_at, feature, 'NaN', '2024-07-01', '2024-06-01', '2024-06-24', '{14 days}', '{}') FROM act;
SELECT _activity_measures(occurred_at, feature, weight, occurred_at + interval '1 day', '2024-06-01', '2024-06-24',
						  '{14 days}', '{}') FROM act WHERE account = 2;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24',
						  CASE WHEN feature IS NULL THEN '{1 day}'::interval[] ELSE '{2 days}' END, '{}')
  FROM act WHERE account = 2;
SELECT _activity_measures(occurred_at, feature, weight, '2024-07-01', '2024-06-01', '2024-06-24', '{14 days}',
						  CASE WHEN feature IS NULL THEN '{api}'::text[] ELSE '{report}' END)
  FROM act WHERE account = 2;
