-- Every aggregate runs in parallel (Partial Aggregate in the workers, their bytea states sent flat to the
-- leader, combine there) and gives the serial result: counts exactly, sums within 1e-12 relative.
SET search_path = health_score, public;

-- Not a temporary table: parallel workers cannot read those.
SELECT setseed(0.7);
CREATE TABLE parallel_activity AS
SELECT account, user_id, 'user-' || user_id AS user_name, md5(user_id::text)::uuid AS user_uuid,
	   10 * (1 + account % 7) AS seats, occurred_at, weight, rating, score, churned
  FROM (SELECT n % 300 AS account, (random() * 3000)::bigint AS user_id,
			   timestamptz '2024-07-01' - random() * interval '120 days' AS occurred_at,
			   random() * 3 AS weight,
			   CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 10)::int END AS rating,
			   round(random() * 100) AS score, random() < 0.3 AS churned
		  FROM generate_series(1, 200000) n) r;
ANALYZE parallel_activity;

-- Whether the plan of query aggregates partially (plan shapes vary, so the plan itself is not shown).
CREATE FUNCTION pg_temp.is_partial(query text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF line ~ 'Partial (Hash|Group)?Aggregate' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END
$$;

-- Runs query, which returns (group, value) rows, serially and with two workers; reports whether the
-- parallel plan aggregates partially, how many groups there are, and how many values differ by more
-- than tolerance (relative).
CREATE FUNCTION pg_temp.check_parallel(query text, tolerance float8,
	OUT partial boolean, OUT groups integer, OUT mismatches integer)
LANGUAGE plpgsql AS $$
DECLARE
	wrapped text := format('SELECT array_agg(g ORDER BY g), array_agg(v ORDER BY g) FROM (%s) q(g, v)',
						   query);
	serial_groups text[];
	serial_values float8[];
	parallel_groups text[];
	parallel_values float8[];
BEGIN
	PERFORM set_config('max_parallel_workers_per_gather', '0', true);
	EXECUTE wrapped INTO serial_groups, serial_values;

	PERFORM set_config('max_parallel_workers_per_gather', '2', true);
	partial := pg_temp.is_partial(wrapped);
	EXECUTE wrapped INTO parallel_groups, parallel_values;

	IF serial_groups IS DISTINCT FROM parallel_groups THEN
		RAISE EXCEPTION 'groups differ: % and %', serial_groups, parallel_groups;
	END IF;
	groups := coalesce(cardinality(serial_groups), 0);
	SELECT count(*) INTO mismatches
	  FROM unnest(serial_values, parallel_values) u(s, p)
	 WHERE (s IS NULL) <> (p IS NULL)
		OR abs(s - p) > tolerance * greatest(abs(s), abs(p));
END
$$;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;

SELECT 'decayed_sum(weighted)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, decayed_sum(occurred_at, weight, '2024-07-01', '14 days')
	  FROM parallel_activity GROUP BY account$$, 1e-12);
SELECT 'decayed_sum(unweighted)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, decayed_sum(occurred_at, '2024-07-01', '14 days')
	  FROM parallel_activity GROUP BY account$$, 1e-12);
SELECT 'active_users(bigint)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, active_users(user_id) FILTER (WHERE occurred_at > '2024-06-01')
	  FROM parallel_activity GROUP BY account$$, 0);
SELECT 'active_users(text)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, active_users(user_name) FILTER (WHERE occurred_at > '2024-06-01')
	  FROM parallel_activity GROUP BY account$$, 0);
SELECT 'active_users(uuid)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, active_users(user_uuid) FILTER (WHERE occurred_at > '2024-06-01')
	  FROM parallel_activity GROUP BY account$$, 0);
SELECT 'licence_utilisation' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, licence_utilisation(user_id, seats)
	  FROM parallel_activity GROUP BY account$$, 0);
-- user_windows' three counts packed into one number (each is below 10,000 here).
SELECT 'user_windows(bigint)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, w[1] * 1e8 + w[2] * 1e4 + w[3]
	  FROM (SELECT account, user_windows(user_id, occurred_at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15') w
			  FROM parallel_activity GROUP BY account) a$$, 0);
SELECT 'user_windows(text)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, w[1] * 1e8 + w[2] * 1e4 + w[3]
	  FROM (SELECT account, user_windows(user_name, occurred_at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15') w
			  FROM parallel_activity GROUP BY account) a$$, 0);
SELECT 'user_windows(uuid)' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, w[1] * 1e8 + w[2] * 1e4 + w[3]
	  FROM (SELECT account, user_windows(user_uuid, occurred_at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-15') w
			  FROM parallel_activity GROUP BY account) a$$, 0);
-- _activity_measures' counts and feature bits packed into one number (counts below 1,000 here, bits below
-- 4), and its second decayed sum.
SELECT '_activity_measures counts' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, (m).events * 1e9 + (m).recent_events * 1e3 + (m).recent_features * 100
		   + (m).features_before_adopt * 10 + (m).features_since_adopt
	  FROM (SELECT account, _activity_measures(occurred_at, CASE user_id % 3 WHEN 0 THEN 'api' WHEN 1 THEN 'report' END,
											   weight, '2024-07-01', '2024-06-01', '2024-06-15', '{7 days, 14 days}',
											   '{api, report}') m
			  FROM parallel_activity GROUP BY account) a$$, 0);
SELECT '_activity_measures decayed' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, (m).decayed[2]
	  FROM (SELECT account, _activity_measures(occurred_at, NULL, weight, '2024-07-01', '2024-06-01', '2024-06-15',
											   '{7 days, 14 days}', '{}') m
			  FROM parallel_activity GROUP BY account) a$$, 1e-12);
SELECT 'nps' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, nps(rating) FROM parallel_activity GROUP BY account$$, 0);
SELECT 'auc' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT account::text, auc(score, churned) FROM parallel_activity GROUP BY account$$, 0);

-- Without GROUP BY every worker holds one large state that the leader combines.
SELECT 'active_users, whole table' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT key, n FROM (VALUES ('bigint', (SELECT active_users(user_id) FROM parallel_activity)),
		('text', (SELECT active_users(user_name) FROM parallel_activity)),
		('uuid', (SELECT active_users(user_uuid) FROM parallel_activity))) v(key, n)$$, 0);
SELECT 'nps and auc, whole table' AS aggregate, * FROM pg_temp.check_parallel($$
	SELECT key, v FROM (VALUES ('nps', (SELECT nps(rating) FROM parallel_activity)),
		('auc', (SELECT auc(score, churned) FROM parallel_activity))) v(key, v)$$, 0);
-- The counts themselves, checked against count(DISTINCT), which never runs in parallel.
SET max_parallel_workers_per_gather = 2;
SELECT active_users(user_id) = count(DISTINCT user_id) AS bigint_ok,
	   active_users(user_name) = count(DISTINCT user_name) AS text_ok,
	   active_users(user_uuid) = count(DISTINCT user_uuid) AS uuid_ok
  FROM parallel_activity;

-- Seats that differ between the partial states of a group are caught when they are combined. With
-- partitionwise aggregation each partition's rows are aggregated separately, so the states of the two
-- partitions meet only in the combine function (partition 1's first).
SET max_parallel_workers_per_gather = 0;
SET enable_partitionwise_aggregate = on;
CREATE TEMP TABLE seats_by_part (part int, user_id bigint, seats int) PARTITION BY LIST (part);
CREATE TEMP TABLE seats_part_1 PARTITION OF seats_by_part FOR VALUES IN (1);
CREATE TEMP TABLE seats_part_2 PARTITION OF seats_by_part FOR VALUES IN (2);
-- Each partition gets its users and 1,000 rows without a user (which only carry seats), so that
-- aggregating per partition is the cheaper plan; a NULL users array leaves the partition empty.
CREATE FUNCTION pg_temp.seats_case(users_1 bigint[], seats_1 int, users_2 bigint[], seats_2 int,
	OUT partial boolean, OUT utilisation float8)
LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE seats_by_part;
	INSERT INTO seats_by_part
	SELECT p, u, s
	  FROM (VALUES (1, users_1, seats_1), (2, users_2, seats_2)) v(p, users, s),
		   LATERAL (SELECT unnest(users) UNION ALL SELECT NULL FROM generate_series(1, 1000)) x(u)
	 WHERE users IS NOT NULL;
	ANALYZE seats_by_part;
	partial := pg_temp.is_partial('SELECT licence_utilisation(user_id, seats) FROM seats_by_part');
	SELECT licence_utilisation(user_id, seats) INTO utilisation FROM seats_by_part;
END
$$;
-- Users 10, 11 and 12 (10 in both partitions) of 5 seats.
SELECT * FROM pg_temp.seats_case('{10, 11}', 5, '{12, 10}', 5);
-- Only partition 2 has rows: 2 users of 10 seats.
SELECT * FROM pg_temp.seats_case(NULL, NULL, '{50, 51}', 10);
\set SHOW_CONTEXT never
SELECT * FROM pg_temp.seats_case('{20}', 5, '{21}', 6);
SELECT * FROM pg_temp.seats_case('{30}', NULL, '{31}', 6);
SELECT * FROM pg_temp.seats_case('{40}', 8, '{41}', NULL);
\set SHOW_CONTEXT errors

-- user_windows' bounds that differ between the partial states of a group are caught in combine too.
CREATE TEMP TABLE windows_by_part (part int, user_id bigint, as_of timestamptz) PARTITION BY LIST (part);
CREATE TEMP TABLE windows_part_1 PARTITION OF windows_by_part FOR VALUES IN (1);
CREATE TEMP TABLE windows_part_2 PARTITION OF windows_by_part FOR VALUES IN (2);
INSERT INTO windows_by_part SELECT p, n, timestamptz '2024-07-01' + (p - 1) * interval '1 day'
  FROM generate_series(1, 2) p, generate_series(1, 1000) n;
ANALYZE windows_by_part;
SELECT pg_temp.is_partial($$SELECT user_windows(user_id, '2024-06-30', as_of, '2024-06-01', '2024-05-01',
	'2024-06-15') FROM windows_by_part$$) AS partial;
SELECT user_windows(user_id, '2024-06-30', as_of, '2024-06-01', '2024-05-01', '2024-06-15') FROM windows_by_part;

-- And so are _activity_measures' constants.
SELECT pg_temp.is_partial($$SELECT _activity_measures(as_of, NULL, NULL, as_of, '2024-06-01', '2024-06-15', '{14 days}',
	'{}') FROM windows_by_part$$) AS partial;
SELECT _activity_measures(as_of, NULL, NULL, as_of, '2024-06-01', '2024-06-15', '{14 days}', '{}') FROM windows_by_part;

-- A state that is not auc's is rejected, as every aggregate here rejects one: an aggregate built for the
-- purpose hands active_users' states to auc's functions. Between processes the state travels flat and is
-- malformed for auc (22P03); within one, auc's final function names the kind it was given (42804).
CREATE AGGREGATE pg_temp.mismatched_states(bigint) (
	SFUNC = health_score.active_users_transition, STYPE = bytea,
	FINALFUNC = health_score.auc_final, COMBINEFUNC = health_score.auc_combine, PARALLEL = SAFE);
SET max_parallel_workers_per_gather = 2;
SELECT pg_temp.is_partial($$SELECT pg_temp.mismatched_states(user_id) FROM parallel_activity$$) AS partial;
SELECT pg_temp.mismatched_states(user_id) FROM parallel_activity;
SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.mismatched_states(user_id) FROM parallel_activity;
RESET max_parallel_workers_per_gather;

DROP TABLE parallel_activity;
