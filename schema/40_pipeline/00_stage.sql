-- What every stage of the pipeline shares: the run (the as_of and what the configuration and sources
-- decided, passed to each stage), the refresh lock, the sources' rows under canonical names, running a
-- stage's query with failures traced to the exact source, and the timing of each stage.
--
-- The pipeline (each stage a function in its own file, called in this order by refresh(), 90_refresh.sql):
--   10 config       the profiles, rules and components, read once             -> hs_profile, hs_rule, hs_component
--   15 sources      checks the registered sources, reads the measures once,    -> hs_measure, health_score._run
--                   decides the run
--   17 freshness    the sources stale at as_of (their rules' flags are held)   -> run.stale_sources, stale_kinds
--   20 accounts     the accounts scored at as_of, each with its profile        -> hs_acc
--   30-35 measures' sources: activity (incrementally, from its state: 30_activity.sql), support cases,
--                   surveys, touchpoints, observations, metrics               -> hs_act, hs_sup, hs_srv, hs_tp, hs_obs, hs_met
--   40 measures     one row per account, a column per measure (the queries     -> hs_m
--                   of the user's measures run here, joined where they stand)
--   45 goals, plans the goals and plan commitments against the measures they   -> hs_goal, hs_breach, and
--                   track                                                        hs_m's goal and plan measures
--   50 components   the components, the composite score, the band, the inputs -> hs_score
--   60 rules        the rules that hold, with their evidence                   -> hs_hits
--   (90_refresh.sql: _compute_scores runs the stages up to here, for refresh() and for the backtest and
--   calibration, which must not write)
--   70 results      account_health and health_history, overrides applied       -> hs_final
--   80 flags        flags raised, updated and cleared; NOTIFY                  -> hs_raised
--   82 actions      tasks opened for the flags of rules with task_due_in; goal progress and commitment
--                   checks recorded
--   85 analyze      statistics of the result tables when stale
-- Work tables are named hs_* (see _work_table below); a run drops them when it ends.

-- The refresh lock: a refresh holds this empty table in SHARE UPDATE EXCLUSIVE mode until its transaction
-- ends, and so do add_source, drop_source and a rename or delete of a rule. LOCK TABLE in that mode needs
-- UPDATE, DELETE or TRUNCATE on the table (or owning it), so only the roles given those rights, the roles
-- allowed to refresh, can hold refreshes up; SELECT on it allows only modes that never conflict.
CREATE TABLE health_score.refresh_lock ();
COMMENT ON TABLE health_score.refresh_lock IS
	'always empty: a refresh holds it in SHARE UPDATE EXCLUSIVE mode, so one refresh runs at a time and sources and rules change only between refreshes';

-- What a refresh decided before reading any row: as_of, the account and user key types, which source
-- kinds (and optional columns) are registered, the half-lives and key features the profiles need, and
-- every window bound. Built once by the sources stage; each window is computed there and nowhere else.
CREATE TYPE health_score._run AS (
	as_of timestamptz,
	keytype text,
	usertype text,
	has_activity boolean,
	has_users boolean,
	has_feature boolean,
	has_support boolean,
	has_surveys boolean,
	has_touch boolean,
	has_touch_kind boolean,
	has_metrics boolean,
	halflives interval[],
	halflife_seconds float8[],
	key_features text[],
	w30 timestamptz,
	w60 timestamptz,
	w90 timestamptz,
	w120 timestamptz,
	new_users_from timestamptz,
	adopted_from timestamptz,
	aged_before timestamptz,
	unanswered_from timestamptz,
	detractor_from timestamptz,
	detractor_max_rating float8,
	earlier_to timestamptz,
	earlier_from timestamptz,
	-- the sources stale at as_of (source_freshness), and their kinds: rules over those kinds' measures hold
	stale_sources text[],
	stale_kinds text[],
	-- whether the activity pass counts events_90d: only when a rule or component uses it, or an evaluation
	-- (backtest, calibrate) reads every measure; it costs a third of that pass
	count_events_90d boolean,
	-- how the activity stage reads the activity (30_activity.sql): asked 'auto', 'full' or 'incremental' by
	-- refresh(), or 'point_in_time' by the evaluations (no state read or written); then what it did, and why
	-- it did not read incrementally
	activity_mode text,
	activity_reason text
);

-- The work tables: each stage writes one or more, read by the stages after it. A work table is an unlogged
-- table in schema health_score_work named after the table and this session's pid (parallel workers may read
-- it, which they may not do with a temporary table), and statements reach it under its plain name through a
-- temporary view of that name (pg_temp.hs_acc, ...). A stage makes one with _work_create (its query's one
-- parameter is the run), with _run_stage(creates => name) when it reads sources, or, when its query needs
-- other parameters, with EXECUTE format('CREATE UNLOGGED TABLE %s AS ...', _work_table(name)) USING ... and
-- then _work_publish(name).

-- The qualified name of this session's work table of the given name.
CREATE FUNCTION health_score._work_table(name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format('health_score_work.%I', $1 || '_' || pg_catalog.pg_backend_pid()) $$;

-- Analyzes the given columns (a comma-separated list; all of them with '*') of this session's work tables of
-- the given names: a work table has no statistics until then, and the joins on its account_id would be
-- planned as if it had 200 distinct values. A sample of 3,000 rows (statistics target 10, not 100) tells a
-- key column's distinct values as well, at a tenth of the cost.
CREATE FUNCTION health_score._work_analyze(names text[], columns text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET default_statistics_target = 10
AS $$
DECLARE
	name text;
BEGIN
	FOREACH name IN ARRAY names LOOP
		EXECUTE pg_catalog.format('ANALYZE %s%s', health_score._work_table(name),
		                          CASE WHEN columns = '*' THEN '' ELSE ' (' || columns || ')' END);
	END LOOP;
END
$$;

-- Makes this session's work table name, just created, readable under its plain name (a temporary view), and
-- analyzes the given columns (_work_analyze).
CREATE FUNCTION health_score._work_publish(name text, analyze_columns text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE pg_catalog.format('CREATE TEMP VIEW %I AS SELECT * FROM %s', name, health_score._work_table(name));
	IF analyze_columns IS NOT NULL THEN
		PERFORM health_score._work_analyze(ARRAY[name], analyze_columns);
	END IF;
END
$$;

-- Makes this session's work table name: definition is 'AS <query>' (run is its $1) or '(<columns>)'; then
-- analyzes the given columns (_work_analyze).
CREATE FUNCTION health_score._work_create(name text, definition text, run health_score._run DEFAULT NULL,
										  analyze_columns text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE pg_catalog.format('CREATE UNLOGGED TABLE %s %s', health_score._work_table(name), definition) USING run;
	PERFORM health_score._work_publish(name, analyze_columns);
END
$$;

-- Drops those of the given work tables that exist in this session, with their views, and the temporary
-- tables of those names (the evaluations keep their rows in temporary tables: hs_eval, hs_cal, ...). A second
-- run in the same transaction starts afresh; a run drops its work tables when it ends.
CREATE FUNCTION health_score._drop_work_tables(names text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x record;
BEGIN
	FOR x IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class c
	          WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind IN ('r', 'v') AND c.relname = ANY (names) LOOP
		EXECUTE pg_catalog.format(CASE WHEN x.relkind = 'v' THEN 'DROP VIEW pg_temp.%I' ELSE 'DROP TABLE pg_temp.%I' END, x.relname);
	END LOOP;
	FOR x IN SELECT c.relname FROM pg_catalog.pg_class c
	          WHERE c.relnamespace = 'health_score_work'::regnamespace AND c.relkind = 'r'
	            AND c.relname = ANY (SELECT n || '_' || pg_catalog.pg_backend_pid() FROM pg_catalog.unnest(names) n) LOOP
		EXECUTE pg_catalog.format('DROP TABLE health_score_work.%I', x.relname);
	END LOOP;
END
$$;

-- The work tables of the pipeline (_compute_scores and refresh()'s last stages).
CREATE FUNCTION health_score._pipeline_work_tables()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['hs_profile', 'hs_rule', 'hs_measure', 'hs_component', 'hs_acc', 'hs_act', 'hs_sup', 'hs_srv',
	             'hs_tp', 'hs_obs', 'hs_met', 'hs_kf', 'hs_m', 'hs_goal', 'hs_breach', 'hs_score', 'hs_earlier', 'hs_hits', 'hs_final',
	             'hs_changed', 'hs_delta', 'hs_full', 'hs_flag_changes', 'hs_raised', 'hs_outcome', 'hs_active_after']
$$;

-- A score or component at the precision the product shows it (0.1), in tenths, to tell whether a figure
-- changed; for the added components (name -> value), each value so rounded. (No SET search_path, every name qualified:
-- so that the planner inlines them.)
CREATE FUNCTION health_score._shown(value float8)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.round($1 OPERATOR(pg_catalog.*) 10::float8) $$;

CREATE FUNCTION health_score._shown(components jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN $1 OPERATOR(pg_catalog.=) '{}'::jsonb THEN $1
	            ELSE (SELECT pg_catalog.jsonb_object_agg(c.key, pg_catalog.round((c.value)::float8 OPERATOR(pg_catalog.*) 10::float8))
	                    FROM pg_catalog.jsonb_each_text($1) c) END
$$;

-- timings with the milliseconds since since added under stage.
CREATE FUNCTION health_score._timing(timings jsonb, stage text, since timestamptz)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT $1 || pg_catalog.jsonb_build_object($2,
		pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - $3)::numeric * 1000, 1))
$$;

-- The rows of every source of one kind under the canonical column names (and, for the accounts source, its
-- pass-through dimensions as a jsonb column dimensions), as a UNION ALL query text.
-- keytype is the type account keys are read as (bigint, text or uuid), usertype the same for user_id;
-- where_fmt, if given, is a WHERE clause in which %1$s stands for the kind's quoted time column.
-- only_relation, if given, restricts the query to that one relation.
CREATE FUNCTION health_score._source_sql(kind text, keytype text, usertype text, where_fmt text,
										 only_relation regclass DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	src record;
	col record;
	cols text[];
	timecol text;
	parts text[] := '{}';
	expr text;
	typ text;
BEGIN
	FOR src IN
		SELECT s.relation, s.columns, s.dimensions FROM health_score.sources s
		 WHERE s.kind = _source_sql.kind AND (only_relation IS NULL OR s.relation = only_relation)
		 ORDER BY s.relation::oid
	LOOP
		cols := '{}';
		timecol := NULL;
		FOR col IN SELECT * FROM health_score._source_columns(kind) LOOP
			typ := CASE col.class
				WHEN 'key' THEN keytype WHEN 'user' THEN coalesce(usertype, 'text')
				WHEN 'time' THEN CASE WHEN col.canonical = 'renewal_date' THEN 'date' ELSE 'timestamptz' END
				WHEN 'count' THEN 'integer' WHEN 'flag' THEN 'boolean'
				WHEN 'number' THEN CASE WHEN col.canonical = 'arr' THEN 'numeric' ELSE 'float8' END
				ELSE 'text' END;
			IF src.columns ? col.canonical THEN
				expr := pg_catalog.format('%I::%s', src.columns ->> col.canonical, typ);
				IF col.class = 'time' AND timecol IS NULL AND col.required THEN
					timecol := pg_catalog.quote_ident(src.columns ->> col.canonical);
				END IF;
			ELSE
				expr := pg_catalog.format('NULL::%s', typ);
			END IF;
			cols := cols || (expr || ' AS ' || pg_catalog.quote_ident(col.canonical));
		END LOOP;
		-- the accounts source's pass-through dimensions, as text by name (absent when NULL)
		IF kind = 'accounts' THEN
			cols := cols || (coalesce((SELECT 'pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('
			                                  || pg_catalog.string_agg(pg_catalog.format('%L, %I::text', d.key, d.value), ', ' ORDER BY d.key) || '))'
			                             FROM pg_catalog.jsonb_each_text(src.dimensions) d), '''{}''::jsonb') || ' AS dimensions');
		END IF;
		parts := parts || pg_catalog.format('SELECT %s FROM %s%s', pg_catalog.array_to_string(cols, ', '), src.relation,
			CASE WHEN where_fmt IS NULL THEN '' ELSE ' WHERE ' || pg_catalog.format(where_fmt, timecol) END);
	END LOOP;
	IF pg_catalog.cardinality(parts) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

-- Raises message with the given SQLSTATE, keeping the original error's detail and hint when it had them.
CREATE FUNCTION health_score._reraise(message text, state text, detail text, hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF coalesce(detail, '') <> '' AND coalesce(hint, '') <> '' THEN
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state, DETAIL = detail, HINT = hint;
	ELSIF coalesce(detail, '') <> '' THEN
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state, DETAIL = detail;
	ELSIF coalesce(hint, '') <> '' THEN
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state, HINT = hint;
	ELSE
		RAISE EXCEPTION USING MESSAGE = message, ERRCODE = state;
	END IF;
END
$$;

-- Runs one stage's query; on failure re-raises with the stage named, and for a source stage finds which
-- relation fails by running the stage once per source (only on the failure path). sql_fmt is a format()
-- string whose %s is the sources' query: values never go into it, they are parameters ($1..$5 the
-- timestamps of args, $6 extra, $7 intervals). With creates, sql_fmt is a query whose rows make the work
-- table of that name.
CREATE FUNCTION health_score._run_stage(stage text, kind text, sql_fmt text, keytype text, usertype text,
										where_fmt text, args timestamptz[], extra text[] DEFAULT NULL,
										intervals interval[] DEFAULT NULL, creates text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text; det text; hnt text; st text;
	src record;
	culprit text;
	rels text;
	statement_fmt constant text := CASE WHEN creates IS NULL THEN sql_fmt
	    ELSE pg_catalog.format('CREATE UNLOGGED TABLE %s AS ', health_score._work_table(creates)) || sql_fmt END;
BEGIN
	BEGIN
		-- scalar parameters: an array element would be fetched again for every row and aggregate
		EXECUTE pg_catalog.format(statement_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt))
			USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
		IF creates IS NOT NULL THEN
			PERFORM health_score._work_publish(creates);
		END IF;
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
	END;
	SELECT pg_catalog.string_agg(s.relation::text, ', ' ORDER BY s.relation::oid) INTO rels
	  FROM health_score.sources s WHERE s.kind = _run_stage.kind;
	IF (SELECT count(*) FROM health_score.sources s WHERE s.kind = _run_stage.kind) = 1 THEN
		culprit := rels;
	ELSE
		FOR src IN SELECT s.relation FROM health_score.sources s WHERE s.kind = _run_stage.kind ORDER BY s.relation::oid LOOP
			BEGIN
				EXECUTE pg_catalog.format(statement_fmt, health_score._source_sql(kind, keytype, usertype, where_fmt, src.relation))
					USING args[1], args[2], args[3], args[4], args[5], extra, intervals;
				-- the stage creates a work table: undo it so the next probe can too
				RAISE EXCEPTION USING ERRCODE = 'HS000';
			EXCEPTION
				WHEN SQLSTATE 'HS000' THEN NULL;
				WHEN OTHERS THEN culprit := src.relation::text; EXIT;
			END;
		END LOOP;
	END IF;
	PERFORM health_score._reraise(CASE WHEN culprit IS NOT NULL
			THEN pg_catalog.format('refresh failed reading %s source %s: %s', kind, culprit, msg)
			ELSE pg_catalog.format('refresh failed reading %s sources %s: %s', kind, rels, msg) END, st, det, hnt);
END
$$;

-- The refresh lock: one refresh at a time per database, and sources and rules change only between
-- refreshes. A lock on the extension's own table refresh_lock (30_tables.sql), held until the transaction
-- ends: only roles allowed to refresh can take it. With wait, waits for it (lock_timeout applies); without,
-- returns whether it was free.
CREATE FUNCTION health_score._refresh_lock(wait boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF wait THEN
		LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE;
		RETURN true;
	END IF;
	BEGIN
		LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		RETURN false;
	END;
	RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'permission denied to take the health_score refresh lock'
		USING ERRCODE = 'insufficient_privilege',
		      DETAIL = 'Refreshing, changing sources and renaming or deleting rules take the refresh lock, a lock on table health_score.refresh_lock.',
		      HINT = pg_catalog.format('A superuser runs: SELECT health_score.grant_refresh(%L);', current_user);
END
$$;

-- The setting health_score.max_unscored_share: the largest share of the accounts scored now that one refresh
-- may stop scoring (cancelled, gone from the accounts source) without force. 0.5 unless set, e.g. with
-- ALTER DATABASE ... SET health_score.max_unscored_share = 0.2 (or ALTER ROLE, or SET).
CREATE FUNCTION health_score._max_unscored_share()
RETURNS float8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	setting text := pg_catalog.current_setting('health_score.max_unscored_share', true);
	share float8;
BEGIN
	IF coalesce(setting, '') = '' THEN
		RETURN 0.5;
	END IF;
	BEGIN
		share := setting::float8;
	EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
		share := NULL;
	END;
	IF share IS NULL OR NOT (share >= 0 AND share <= 1) THEN
		RAISE EXCEPTION 'health_score.max_unscored_share must be a number from 0 to 1, not %', pg_catalog.quote_literal(setting)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'SET health_score.max_unscored_share = 0.5; (the default) or RESET health_score.max_unscored_share;';
	END IF;
	RETURN share;
END
$$;

