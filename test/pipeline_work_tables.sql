-- The work tables of a run: unlogged tables in schema health_score_work that parallel workers can read,
-- reached through temporary views; dropped when a run ends or fails, and by DROP EXTENSION; a run whose
-- statements all run in parallel workers writes what a serial one does; the privilege they need.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(16);

CREATE FUNCTION pg_temp.t() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-03-01 12:00+00'::timestamptz $$;
-- this session's work tables, and the temporary views that reach them (the evaluations' own temporary
-- tables, hs_eval, stay until the transaction ends)
CREATE FUNCTION pg_temp.work_left() RETURNS bigint LANGUAGE sql
AS $$ SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'health_score_work'::regnamespace
                 AND c.relname LIKE '%\_' || pg_backend_pid())
             + (SELECT count(*) FROM pg_class c WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'v' AND c.relname LIKE 'hs\_%') $$;
CREATE FUNCTION pg_temp.explain_lines(query text) RETURNS SETOF text LANGUAGE plpgsql
AS $$ DECLARE line text; BEGIN FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP RETURN NEXT line; END LOOP; END $$;

CREATE TABLE public.w_accounts (account_id bigint PRIMARY KEY, seats integer, segment text);
CREATE TABLE public.w_events (account_id bigint, user_id text, ts timestamptz, feature text);
CREATE TABLE public.w_cases (account_id bigint, opened_at timestamptz, closed_at timestamptz, priority text);
CREATE TABLE public.w_surveys (account_id bigint, responded_at timestamptz, rating integer);
CREATE TABLE public.w_touch (account_id bigint, occurred_at timestamptz, direction text, answered boolean);
INSERT INTO public.w_accounts SELECT a, 2 + a % 7, CASE WHEN a % 3 = 0 THEN 'ent' ELSE 'smb' END FROM generate_series(1, 300) a;
INSERT INTO public.w_events
SELECT a, 'u' || (a * 7 + d) % (1 + a % 5), pg_temp.t() - (d * (1 + a % 4)) * interval '1 day' - a * interval '1 minute',
       (ARRAY['report', 'export', 'login'])[1 + (a + d) % 3]
  FROM generate_series(1, 300) a, generate_series(0, 40 - a % 37) d;
INSERT INTO public.w_cases SELECT a, pg_temp.t() - (a % 50) * interval '1 day', CASE WHEN a % 4 = 0 THEN NULL ELSE pg_temp.t() - interval '1 hour' END,
       CASE WHEN a % 6 = 0 THEN 'high' ELSE 'low' END FROM generate_series(1, 300, 2) a;
INSERT INTO public.w_surveys SELECT a, pg_temp.t() - (a % 80) * interval '1 day', a % 11 FROM generate_series(1, 300, 3) a;
INSERT INTO public.w_touch SELECT a, pg_temp.t() - (a % 40) * interval '1 day', CASE WHEN a % 2 = 0 THEN 'outbound' ELSE 'Inbound' END,
       a % 5 = 0 FROM generate_series(1, 300) a;
DO $$
BEGIN
	PERFORM health_score.add_source('accounts', 'public.w_accounts');
	PERFORM health_score.add_source('activity', 'public.w_events', '{"occurred_at": "ts"}');
	PERFORM health_score.add_source('support_cases', 'public.w_cases');
	PERFORM health_score.add_source('surveys', 'public.w_surveys');
	PERFORM health_score.add_source('touchpoints', 'public.w_touch');
	-- a query measure, and a rule over it: their rows come from a common table expression, run once
	PERFORM health_score.add_measure('w_open_cases', 'SELECT account_id, count(*) AS value FROM public.w_cases WHERE closed_at IS NULL GROUP BY account_id');
	PERFORM health_score.add_rule('w_cases_open', 'w_open_cases >= {n}', 'amber', 'Call them.', '{"n": 1}');
END
$$;
UPDATE health_score.profile SET key_features = '{report,export}' WHERE name = 'default';

-- Where they live, and when they go.
SELECT is((SELECT count(*) FROM health_score.refresh(pg_temp.t())), 1::bigint, 'a refresh runs');
SELECT is(pg_temp.work_left(), 0::bigint, 'and leaves no work table, nor a view of one');
SELECT is((SELECT count(*) FROM health_score.backtest(pg_temp.t() - interval '14 days', pg_temp.t() - interval '7 days',
                                                      horizon => '7 days', outcome => 'inactive')), 3::bigint, 'a backtest runs');
SELECT is(pg_temp.work_left(), 0::bigint, 'and leaves none either');
SAVEPOINT failing;
DO $$ BEGIN PERFORM health_score.add_measure('broken', 'SELECT account_id, 1 / (account_id - 7) AS value FROM public.w_accounts'); END $$;
SELECT throws_ok($$SELECT * FROM health_score.refresh(pg_temp.t() + interval '1 hour')$$, '22012',
                 'refresh failed computing measure broken: division by zero', 'a refresh that fails');
SELECT is(pg_temp.work_left(), 0::bigint, 'leaves no work table behind');
ROLLBACK TO SAVEPOINT failing;

DO $$ BEGIN PERFORM health_score._compute_scores(pg_temp.t(), true, 1); END $$;
SELECT is((SELECT relpersistence::text || relkind::text FROM pg_class WHERE oid = health_score._work_table('hs_m')::regclass),
          'ur', 'a work table is an unlogged table');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'pg_temp.hs_m'::regclass), 'v',
          'which the statements read under its own name through a temporary view');
SET LOCAL force_parallel_mode = on;
SELECT ok((SELECT bool_or(p LIKE '%Gather%') FROM (SELECT * FROM pg_temp.explain_lines('SELECT * FROM pg_temp.hs_m m JOIN pg_temp.hs_score s USING (account_id)')) e (p)),
          'so that parallel workers can read it (a temporary table they cannot)');
RESET force_parallel_mode;
DO $$ BEGIN PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables()); END $$;

-- The same results from statements run in parallel workers as from serial ones: every statement that may
-- run in parallel does (force_parallel_mode), at the as_of the serial refresh above scored.
CREATE TEMP TABLE serial_health AS SELECT * FROM health_score.account_health;
CREATE TEMP TABLE serial_history AS SELECT * FROM health_score.health_history;
CREATE TEMP TABLE serial_flags AS SELECT * FROM health_score.flag;
ALTER FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) SET parallel_setup_cost = 0;
ALTER FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) SET parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL force_parallel_mode = on;
SELECT is((SELECT flags_raised + flags_cleared FROM health_score.refresh(pg_temp.t(), mode => 'full')), 0,
          'a refresh in parallel workers at the same as_of raises and clears no flag');
RESET force_parallel_mode;
RESET min_parallel_table_scan_size;
SELECT set_eq($$SELECT account_id, name, segment, score, band, engagement, utilisation, adoption, support, sentiment,
                       relationship, inputs::text, as_of, components::text, computed_score FROM health_score.account_health$$,
              $$SELECT account_id, name, segment, score, band, engagement, utilisation, adoption, support, sentiment,
                       relationship, inputs::text, as_of, components::text, computed_score FROM serial_health$$,
              'and leaves account_health as the serial refresh wrote it, row by row');
SELECT set_eq('SELECT * FROM health_score.health_history', 'SELECT * FROM serial_history', 'health_history too');
SELECT set_eq('SELECT id, account_id, rule, severity, evidence::text, cleared_at FROM health_score.flag',
              'SELECT id, account_id, rule, severity, evidence::text, cleared_at FROM serial_flags', 'and the flags');

-- The privilege: grant_refresh gives it.
DROP TABLE pg_temp.hs_eval, pg_temp.hs_eval_rows;
CREATE ROLE hs_test_no_work;
GRANT USAGE ON SCHEMA health_score TO hs_test_no_work;
GRANT SELECT ON ALL TABLES IN SCHEMA health_score TO hs_test_no_work;
GRANT SELECT ON public.w_accounts, public.w_events, public.w_cases, public.w_surveys, public.w_touch TO hs_test_no_work;
GRANT EXECUTE ON FUNCTION health_score.backtest(timestamptz, timestamptz, interval, interval, text, bigint) TO hs_test_no_work;
SET LOCAL ROLE hs_test_no_work;
SELECT throws_ok($$SELECT * FROM health_score.backtest('2026-02-20', '2026-02-20', outcome => 'inactive')$$, '42501',
                 'permission denied to make the work tables of a run in schema health_score_work',
                 'a role that may not make work tables is told so, with the fix in the hint');
RESET ROLE;

-- A work table a session left (a run that ended without dropping it) does not hold DROP EXTENSION up: the
-- event trigger before it drops them.
CREATE UNLOGGED TABLE health_score_work.hs_m_0 (account_id text);
SELECT lives_ok('SELECT health_score._before_drop()', 'what runs before DROP EXTENSION');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'health_score_work'::regnamespace), 0::bigint,
          'drops the work tables left behind');

SELECT * FROM finish();
ROLLBACK;
