-- refresh(): the orchestrator. It validates its arguments, takes the refresh lock, then calls the stages
-- in order (00_stage.sql lists them with their contracts), timing each in refresh_log.details, and logs the
-- run. Everything happens in the caller's transaction: a refresh that fails changes nothing.

-- _compute_scores(): the stages that score without writing anything (config to rules), for refresh() and
-- for the backtest and calibration, which score past days point in time. Leaves the work tables hs_* of
-- 00_stage.sql, from hs_profile to hs_hits.
--   profiles         settings that replace profiles' own for this run: {"name": {profile_version.settings}}
--   extra_halflives  half-lives whose decayed sums the activity pass computes besides the profiles' (hs_act.decayed,
--                    in run.halflife_seconds order)
--   every_measure    every measure computed, even one no rule or component uses (events_90d): for evaluations
--   activity_mode    how the activity stage reads the activity (30_activity.sql): 'point_in_time' for the
--                    evaluations, which write nothing; refresh() passes its mode
--   returns the run, the accounts scored, those no longer scored, and the stages' timings (ms)
CREATE FUNCTION health_score._compute_scores(as_of timestamptz, force boolean, max_unscored_share float8,
											 profiles jsonb DEFAULT NULL, extra_halflives interval[] DEFAULT NULL,
											 every_measure boolean DEFAULT false,
											 activity_mode text DEFAULT 'point_in_time',
											 OUT run health_score._run, OUT n_accounts integer,
											 OUT n_unscored integer, OUT timings jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	lap timestamptz;
	acc record;
BEGIN
	timings := '{}';
	IF NOT pg_catalog.has_schema_privilege('health_score_work', 'CREATE') THEN
		RAISE EXCEPTION 'permission denied to make the work tables of a run in schema health_score_work'
			USING ERRCODE = 'insufficient_privilege',
			      HINT = pg_catalog.format('A superuser runs: SELECT health_score.grant_refresh(%L);', current_user);
	END IF;
	PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables());

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_config();
	IF profiles IS NOT NULL THEN
		DELETE FROM pg_temp.hs_profile p WHERE profiles ? p.name;
		INSERT INTO pg_temp.hs_profile
		SELECT (pg_catalog.jsonb_populate_record(NULL::health_score.profile, e.value || pg_catalog.jsonb_build_object('name', e.key))).*
		  FROM pg_catalog.jsonb_each(profiles) e;
	END IF;
	run := health_score._stage_sources(as_of);
	IF extra_halflives IS NOT NULL THEN
		SELECT pg_catalog.array_agg(h.half_life ORDER BY h.seconds), pg_catalog.array_agg(h.seconds ORDER BY h.seconds)
		  INTO run.halflives, run.halflife_seconds
		  FROM (SELECT DISTINCT ON (pg_catalog.date_part('epoch', x.h)) x.h AS half_life, pg_catalog.date_part('epoch', x.h) AS seconds
		          FROM pg_catalog.unnest(run.halflives || extra_halflives) x (h) ORDER BY 2) h;
	END IF;
	run := health_score._stage_freshness(run);
	run.count_events_90d := every_measure
		OR EXISTS (SELECT FROM pg_temp.hs_rule r WHERE 'events_90d' = ANY (r.measures))
		OR EXISTS (SELECT FROM pg_temp.hs_component c WHERE c.measure = 'events_90d')
		OR EXISTS (SELECT FROM health_score.goal g WHERE g.measure = 'events_90d')
		OR EXISTS (SELECT FROM health_score.plan_commitment c WHERE c.measure = 'events_90d');
	run.activity_mode := activity_mode;
	timings := health_score._timing(timings, 'setup', lap);

	lap := pg_catalog.clock_timestamp();
	acc := health_score._stage_accounts(run, force, max_unscored_share);
	n_accounts := acc.n_accounts;
	n_unscored := acc.n_unscored;
	timings := health_score._timing(timings, 'accounts', lap);

	lap := pg_catalog.clock_timestamp();
	run := health_score._stage_activity(run);
	timings := health_score._timing(timings, 'activity', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_support_cases(run);
	PERFORM health_score._stage_surveys(run);
	PERFORM health_score._stage_touchpoints(run);
	PERFORM health_score._stage_observations(run);
	PERFORM health_score._stage_metrics(run);
	timings := health_score._timing(timings, 'other_sources', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_measures(run);
	PERFORM health_score._stage_goals_plans(run);
	timings := health_score._timing(timings, 'measures', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_components(run);
	timings := health_score._timing(timings, 'components', lap);

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_rules(run);
	timings := health_score._timing(timings, 'rules', lap);
END
$$;

CREATE FUNCTION health_score.refresh(as_of timestamptz DEFAULT now(), wait boolean DEFAULT true,
									 force boolean DEFAULT false, mode text DEFAULT 'auto')
RETURNS TABLE (accounts integer, flags_raised integer, flags_cleared integer, elapsed interval)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Short set-based statements: compiling them costs more than it saves. The activity pass keeps a few
-- hash sets per account; 256MB keeps 50,000 accounts in memory (ALTER FUNCTION ... SET work_mem to change).
-- The per-account statements compute far more per row than the planner's default costs assume, and every
-- row they read goes on: with those defaults a parallel plan never looks cheaper; with these it does from
-- tens of thousands of accounts (ALTER FUNCTION ... SET to change).
SET jit = off
SET work_mem = '256MB'
SET parallel_setup_cost = 100
SET parallel_tuple_cost = 0.01
AS $$
#variable_conflict use_column
DECLARE
	t constant timestamptz := refresh.as_of;
	t0 constant timestamptz := pg_catalog.clock_timestamp();
	lap timestamptz;
	timings jsonb := '{}';
	run health_score._run;
	max_unscored_share float8;
	sc record;
	fl record;
	n_tasks integer;
	analyzed text[];
BEGIN
	IF t IS NULL THEN
		RAISE EXCEPTION 'as_of must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Windows reach back up to years before as_of and history is kept by day: only real calendar times.
	IF NOT pg_catalog.isfinite(t) OR t < '1900-01-01' OR t >= '10000-01-01' THEN
		RAISE EXCEPTION 'as_of must be a time from 1900-01-01 to 9999-12-31, not %', t
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Pass the point in time to score, such as now() or ''2026-03-01''.';
	END IF;
	IF mode IS NULL OR mode NOT IN ('auto', 'full', 'incremental') THEN
		RAISE EXCEPTION 'mode must be auto, full or incremental, not %', coalesce(pg_catalog.quote_literal(mode), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'auto (the default) reads only what changed since the last refresh when it can; full reads every row.';
	END IF;
	max_unscored_share := health_score._max_unscored_share();

	IF NOT health_score._refresh_lock(wait) THEN
		RAISE NOTICE 'health_score refresh skipped: another refresh is running';
		INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, status, message)
		VALUES (t0, pg_catalog.clock_timestamp(), t, 'skipped', 'another refresh held the lock');
		RETURN QUERY SELECT NULL::integer, NULL::integer, NULL::integer, pg_catalog.clock_timestamp() - t0;
		RETURN;
	END IF;

	-- A run_refresh() whose session ended before it finished (terminated, crashed, disconnected) left its
	-- 'running' row: the lock is ours now, so that run is over.
	UPDATE health_score.refresh_log l
	   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
	       message = 'interrupted: the session running this refresh ended before it finished (terminated, crashed or disconnected)'
	 WHERE l.status = 'running'
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid AND a.backend_start = l.backend_start);

	sc := health_score._compute_scores(t, force, max_unscored_share, activity_mode => mode);
	run := sc.run;
	timings := sc.timings;

	lap := pg_catalog.clock_timestamp();
	PERFORM health_score._stage_results(run, sc.n_unscored);
	timings := health_score._timing(timings, 'results', lap);

	lap := pg_catalog.clock_timestamp();
	fl := health_score._stage_flags(run);
	timings := health_score._timing(timings, 'flags', lap);

	lap := pg_catalog.clock_timestamp();
	n_tasks := health_score._stage_actions(run);
	timings := health_score._timing(timings, 'actions', lap);

	PERFORM health_score._drop_work_tables(health_score._pipeline_work_tables());

	lap := pg_catalog.clock_timestamp();
	analyzed := health_score._stage_analyze();
	timings := health_score._timing(timings, 'analyze', lap);

	INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, accounts, flags_raised, flags_cleared,
		status, message, details, mode)
	VALUES (t0, pg_catalog.clock_timestamp(), t, sc.n_accounts, fl.n_raised, fl.n_cleared,
		CASE WHEN pg_catalog.cardinality(run.stale_sources) > 0 THEN 'stale' ELSE 'ok' END,
		CASE WHEN pg_catalog.cardinality(run.stale_sources) > 0 THEN pg_catalog.format(
		     'stale sources: %s; the flags of %s held (none raised, none cleared but those of accounts no longer scored)',
		     pg_catalog.array_to_string(run.stale_sources, ', '),
		     CASE WHEN pg_catalog.cardinality(fl.held) > 0 THEN 'rules ' || pg_catalog.array_to_string(fl.held, ', ')
		          ELSE 'no rule' END) END,
		pg_catalog.jsonb_build_object('timings_ms', timings, 'tasks_opened', n_tasks)
		|| CASE WHEN pg_catalog.cardinality(run.stale_sources) > 0
		        THEN pg_catalog.jsonb_build_object('stale_sources', run.stale_sources, 'held_rules', fl.held) ELSE '{}' END
		|| CASE WHEN fl.payload IS NOT NULL THEN pg_catalog.jsonb_build_object('notify', fl.payload) ELSE '{}' END
		|| CASE WHEN pg_catalog.cardinality(analyzed) > 0 THEN pg_catalog.jsonb_build_object('analyzed', analyzed) ELSE '{}' END
		|| CASE WHEN run.activity_reason IS NOT NULL THEN pg_catalog.jsonb_build_object('full_because', run.activity_reason) ELSE '{}' END,
		run.activity_mode);

	RETURN QUERY SELECT sc.n_accounts, fl.n_raised, fl.n_cleared, pg_catalog.clock_timestamp() - t0;
END
$$;
COMMENT ON FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) IS
	'score every account as of as_of, write account_health, health_history and flags; one refresh at a time; force lets it stop scoring more than health_score.max_unscored_share of the accounts; mode: auto (incremental when the state allows), full or incremental';
REVOKE EXECUTE ON FUNCTION health_score.refresh(timestamptz, boolean, boolean, text) FROM PUBLIC;
