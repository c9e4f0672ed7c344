-- decayed_sum's accuracy: its state is a plain float8 sum (src/decay.c), so over n rows of weights of one sign
-- its relative error is at most (n - 1) x 2^-53. Checked against an exact reference, the same terms summed as
-- numeric, at a million and at ten million rows, in a serial and in a parallel plan. (The reference's own
-- error is below 1e-15 relative: each term rounded once to 15 significant digits.)
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(7);

SELECT setseed(0.5);
CREATE TEMP TABLE acc_events AS
SELECT g AS n, timestamptz '2026-01-01' - random() * interval '365 days' AS occurred_at, 1 + random() AS weight
  FROM generate_series(1, 10000000) g;
-- (an unlogged copy: parallel workers cannot read a temporary table)
CREATE UNLOGGED TABLE public.acc_events AS SELECT * FROM acc_events;
DROP TABLE pg_temp.acc_events;
ANALYZE public.acc_events;
CREATE TEMP TABLE acc_reference AS
SELECT l.rows, sum((e.weight * health_score.decay_factor('2026-01-01' - e.occurred_at, '14 days'))::numeric)::float8 AS exact
  FROM (VALUES (1000000), (10000000)) l(rows), public.acc_events e
 WHERE e.n <= l.rows GROUP BY l.rows;

-- decayed_sum over the first `rows` rows, in the plan the settings allow (CREATE TABLE AS may run in parallel)
CREATE TEMP TABLE acc_result (plan text, rows bigint, sum float8);
CREATE FUNCTION pg_temp.take(plan text, rows bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$CREATE TEMP TABLE acc_one AS
	    SELECT health_score.decayed_sum(occurred_at, weight, '2026-01-01', '14 days') AS s FROM public.acc_events WHERE n <= %s$q$, rows);
	INSERT INTO acc_result SELECT plan, rows, s FROM acc_one;
	DROP TABLE acc_one;
END
$$;
CREATE FUNCTION pg_temp.relative_error(which text, n bigint) RETURNS float8 LANGUAGE sql AS $$
	SELECT abs(r.sum - x.exact) / x.exact FROM acc_result r JOIN acc_reference x ON x.rows = r.rows
	 WHERE r.plan = $1 AND r.rows = $2
$$;

SET LOCAL max_parallel_workers_per_gather = 0;
SELECT pg_temp.take('serial', 1000000), pg_temp.take('serial', 10000000);
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
CREATE TEMP TABLE acc_plan AS SELECT 1 AS x WHERE false;
DO $$
DECLARE
	l text;
	partial boolean := false;
BEGIN
	FOR l IN EXPLAIN SELECT health_score.decayed_sum(occurred_at, weight, '2026-01-01', '14 days') FROM public.acc_events LOOP
		partial := partial OR l LIKE '%Partial Aggregate%';
	END LOOP;
	IF partial THEN
		INSERT INTO acc_plan VALUES (1);
	END IF;
END
$$;
SELECT pg_temp.take('parallel', 1000000), pg_temp.take('parallel', 10000000);

SELECT cmp_ok(pg_temp.relative_error('serial', 1000000), '<=', 999999 * 2 ^ -53::float8 + 1e-15::float8,
              'a million rows, serial: within (n - 1) x 2^-53');
SELECT cmp_ok(pg_temp.relative_error('serial', 10000000), '<=', 9999999 * 2 ^ -53::float8 + 1e-15::float8,
              'ten million rows, serial: within (n - 1) x 2^-53');
-- what it is in practice: roundings of both signs cancel, so far below the bound
SELECT cmp_ok(pg_temp.relative_error('serial', 10000000), '<=', 1e-12::float8, 'ten million rows, serial: below 1e-12 in practice');
SELECT ok(EXISTS (SELECT FROM acc_plan), 'a parallel plan sums in the workers and adds their partial sums');
SELECT cmp_ok(pg_temp.relative_error('parallel', 1000000), '<=', 999999 * 2 ^ -53::float8 + 1e-15::float8,
              'a million rows, parallel: within (n - 1) x 2^-53');
SELECT cmp_ok(pg_temp.relative_error('parallel', 10000000), '<=', 9999999 * 2 ^ -53::float8 + 1e-15::float8,
              'ten million rows, parallel: within (n - 1) x 2^-53');
SELECT cmp_ok(pg_temp.relative_error('parallel', 10000000), '<=', 1e-12::float8, 'ten million rows, parallel: below 1e-12 in practice');

SELECT * FROM finish();
ROLLBACK;
