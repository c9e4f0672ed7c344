-- Scaling out: every aggregate keeps its state in a bytea, a value that can leave the node that built it. An
-- engine that distributes a query grouped by something other than its distribution key (Citus) runs the
-- transition function on each node, ships the states, then combines and finalizes them on one node. Here
-- two tables stand for two shards, and aggregates built on the extension's own support functions play the
-- engine: one returns a shard's state, stored in a table like any value, the other combines the stored
-- states and finalizes. The result equals the aggregate over all rows at once, group by group.
SET search_path = health_score, public;

SELECT setseed(0.3);
CREATE TABLE shard_a AS
SELECT n % 40 AS account, (random() * 500)::bigint AS user_id, 'segment-' || (n % 3) AS segment,
	   timestamptz '2024-07-01' - random() * interval '90 days' AS occurred_at, random() AS score
  FROM generate_series(1, 4000) n;
CREATE TABLE shard_b AS
SELECT n % 40 + 40 AS account, (random() * 500)::bigint AS user_id, 'segment-' || (n % 3) AS segment,
	   timestamptz '2024-07-01' - random() * interval '90 days' AS occurred_at, random() AS score
  FROM generate_series(1, 4000) n;
CREATE VIEW all_rows AS SELECT * FROM shard_a UNION ALL SELECT * FROM shard_b;

-- The engine's two steps for each aggregate: a state per shard and group, then combine and finalize.
CREATE AGGREGATE pg_temp.users_state(bigint) (SFUNC = active_users_transition, STYPE = bytea);
CREATE AGGREGATE pg_temp.users_merged(bytea) (
	SFUNC = users_combine, STYPE = bytea, FINALFUNC = active_users_final);
CREATE AGGREGATE pg_temp.licence_state(bigint, integer) (SFUNC = licence_utilisation_transition, STYPE = bytea);
CREATE AGGREGATE pg_temp.licence_merged(bytea) (
	SFUNC = users_combine, STYPE = bytea, FINALFUNC = licence_utilisation_final);
CREATE AGGREGATE pg_temp.windows_state(bigint, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) (
	SFUNC = user_windows_transition, STYPE = bytea);
CREATE AGGREGATE pg_temp.windows_merged(bytea) (
	SFUNC = user_windows_combine, STYPE = bytea, FINALFUNC = user_windows_final);
CREATE AGGREGATE pg_temp.auc_state(float8, boolean) (SFUNC = auc_transition, STYPE = bytea);
CREATE AGGREGATE pg_temp.auc_merged(bytea) (SFUNC = auc_combine, STYPE = bytea, FINALFUNC = auc_final);
CREATE AGGREGATE pg_temp.activity_state(timestamptz, text, float8, timestamptz, timestamptz, timestamptz,
										interval[], text[]) (
	SFUNC = _activity_measures_transition, STYPE = bytea);
CREATE AGGREGATE pg_temp.activity_merged(bytea) (
	SFUNC = _activity_measures_combine, STYPE = bytea, FINALFUNC = _activity_measures_final);

-- The states of each shard, grouped by segment (not by the accounts the shards are split by).
CREATE TABLE shipped AS
SELECT 'a' AS shard, segment,
	   pg_temp.users_state(user_id) AS users,
	   pg_temp.licence_state(user_id, 600) AS licence,
	   pg_temp.windows_state(user_id, occurred_at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-01') AS windows,
	   pg_temp.auc_state(score, user_id % 2 = 0) AS auc,
	   pg_temp.activity_state(occurred_at, NULL, score, '2024-07-01', '2024-06-01', '2024-06-01', '{14 days,60 days}',
							  '{}') AS activity
  FROM shard_a GROUP BY segment
UNION ALL
SELECT 'b', segment,
	   pg_temp.users_state(user_id),
	   pg_temp.licence_state(user_id, 600),
	   pg_temp.windows_state(user_id, occurred_at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-01'),
	   pg_temp.auc_state(score, user_id % 2 = 0),
	   pg_temp.activity_state(occurred_at, NULL, score, '2024-07-01', '2024-06-01', '2024-06-01', '{14 days,60 days}', '{}')
  FROM shard_b GROUP BY segment;
SELECT pg_typeof(users) AS state_type, count(*) AS states FROM shipped GROUP BY 1;

-- Combined per segment, each equals the aggregate over all rows: counts exactly, the decayed sums and AUC to
-- the last bits a different order of addition can change.
CREATE TABLE combined AS
SELECT segment, pg_temp.users_merged(users) AS users, pg_temp.licence_merged(licence) AS licence,
	   pg_temp.windows_merged(windows) AS windows, pg_temp.auc_merged(auc) AS auc,
	   pg_temp.activity_merged(activity) AS activity
  FROM shipped GROUP BY segment;
CREATE TABLE direct AS
SELECT segment, active_users(user_id) AS users, licence_utilisation(user_id, 600) AS licence,
	   user_windows(user_id, occurred_at, '2024-07-01', '2024-06-01', '2024-05-01', '2024-06-01') AS windows,
	   auc(score, user_id % 2 = 0) AS auc,
	   _activity_measures(occurred_at, NULL, score, '2024-07-01', '2024-06-01', '2024-06-01', '{14 days,60 days}',
						  '{}') AS activity
  FROM all_rows GROUP BY segment;
SELECT c.segment, c.users, c.users = d.users AS users_equal, c.users = (SELECT count(DISTINCT user_id) FROM all_rows r
		WHERE r.segment = c.segment) AS users_are_distinct_count,
	   c.licence = d.licence AS licence_equal, c.windows, c.windows = d.windows AS windows_equal,
	   abs(c.auc - d.auc) <= 1e-12 AS auc_equal,
	   (c.activity).events = (d.activity).events AND (c.activity).last_at = (d.activity).last_at AS activity_counts_equal,
	   abs((c.activity).decayed[1] - (d.activity).decayed[1]) <= 1e-12 * (d.activity).decayed[1]
	   AND abs((c.activity).decayed[2] - (d.activity).decayed[2]) <= 1e-12 * (d.activity).decayed[2] AS decayed_equal
  FROM combined c JOIN direct d USING (segment) ORDER BY segment;

-- The executor keeps states in other ways too; each gives the plain count, row by row. A hash aggregate that
-- spills to disk (the states of the groups in memory stay while the others wait), grouping sets (one
-- aggregate context per set, reset between groups when sorted), and a window over a moving frame (the state
-- built again for each row).
SET work_mem = '64kB';
SET max_parallel_workers_per_gather = 0;
CREATE FUNCTION pg_temp.hash_batches(query text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO plan;
	RETURN (plan -> 0 -> 'Plan' ->> 'HashAgg Batches')::integer;
END
$$;
SELECT pg_temp.hash_batches('SELECT account, active_users(user_id) FROM all_rows GROUP BY account') > 1 AS spills;
SELECT count(*) AS groups, count(*) FILTER (WHERE h.users <> d.users) AS differing
  FROM (SELECT account, active_users(user_id) AS users FROM all_rows GROUP BY account) h
  JOIN (SELECT account, count(DISTINCT user_id) AS users FROM all_rows GROUP BY account) d USING (account);
SELECT count(*) AS groups,
	   count(*) FILTER (WHERE g.users IS DISTINCT FROM (SELECT count(DISTINCT r.user_id) FROM all_rows r
													   WHERE g.segment IS NULL OR r.segment = g.segment)) AS differing
  FROM (SELECT segment, active_users(user_id) AS users FROM all_rows GROUP BY ROLLUP (segment)) g;
SET enable_hashagg = off;
SELECT count(*) AS groups,
	   count(*) FILTER (WHERE g.users IS DISTINCT FROM (SELECT count(DISTINCT r.user_id) FROM all_rows r
													   WHERE g.segment IS NULL OR r.segment = g.segment)) AS differing
  FROM (SELECT segment, active_users(user_id) AS users FROM all_rows GROUP BY GROUPING SETS ((segment), ())) g;
RESET enable_hashagg;
SELECT count(*) AS rows, count(*) FILTER (WHERE w.users <> (SELECT count(DISTINCT f.user_id) FROM
		(SELECT user_id FROM shard_a s WHERE s.account = w.account ORDER BY s.occurred_at, s.user_id
		 OFFSET greatest(w.n - 5, 0) LIMIT least(w.n, 5)) f)) AS differing
  FROM (SELECT account, row_number() OVER o AS n, active_users(user_id) OVER (o ROWS 4 PRECEDING) AS users
		  FROM shard_a WHERE account < 3 WINDOW o AS (PARTITION BY account ORDER BY occurred_at, user_id)) w;
RESET work_mem;
RESET max_parallel_workers_per_gather;

-- A state is checked before it is used: one cut short, one with a byte too many, one of another aggregate.
SELECT active_users_final(substr(users, 1, length(users) - 1)) FROM shipped LIMIT 1;
SELECT active_users_final(users || '\x00'::bytea) FROM shipped LIMIT 1;
SELECT auc_final(users) FROM shipped LIMIT 1;
SELECT user_windows_final('\x09'::bytea);
-- and a transition function works only inside an aggregate.
SELECT active_users_transition(NULL, 1::bigint);

DROP VIEW all_rows;
DROP TABLE shard_a, shard_b, shipped, combined, direct;
