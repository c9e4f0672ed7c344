-- Scheduling with pg_cron, and run_refresh(), the procedure the job calls.
--
-- pg_cron runs jobs only in the database named by cron.database_name, where CREATE EXTENSION pg_cron
-- was run. schedule_refresh() therefore works only there, and fails elsewhere (SQLSTATE 55000,
-- object_not_in_prerequisite_state) with a hint that says exactly what to do instead.

-- The job pg_cron runs. A refresh that fails leaves a 'failed' row in refresh_log: the error is caught,
-- the row committed, and the error raised again so cron.job_run_details records the failure too.
-- No SET search_path here: a procedure with SET clauses cannot COMMIT. Every name below is qualified.
CREATE PROCEDURE health_score.run_refresh(as_of timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
	started timestamptz := pg_catalog.clock_timestamp();
	t timestamptz := coalesce(run_refresh.as_of, pg_catalog.now());
	msg text; det text; hnt text; st text;
BEGIN
	BEGIN
		PERFORM health_score.refresh(t);
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
	END;
	-- The refresh's work is rolled back; keep a record of the failure. That needs a COMMIT, possible when
	-- called outside a transaction block (as pg_cron does); inside one, the error is just raised again.
	IF pg_catalog.statement_timestamp() = pg_catalog.transaction_timestamp() THEN
		INSERT INTO health_score.refresh_log (started_at, finished_at, as_of, status, message, details)
		VALUES (started, pg_catalog.clock_timestamp(), t, 'failed', msg,
		        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('sqlstate', st, 'detail', NULLIF(det, ''),
		                                                                    'hint', NULLIF(hnt, ''))));
		COMMIT;
	END IF;
	PERFORM health_score._reraise(msg, st, det, hnt);
END
$$;
COMMENT ON PROCEDURE health_score.run_refresh(timestamptz) IS
	'refresh() for pg_cron: a failure is logged in refresh_log (and committed) before the error is raised again';
REVOKE EXECUTE ON PROCEDURE health_score.run_refresh(timestamptz) FROM PUBLIC;

-- The name of the job in this database.
CREATE FUNCTION health_score._job_name()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'health_score_refresh'::text $$;

-- Raises the documented error when pg_cron cannot schedule jobs for this database; cron_database is
-- current_setting('cron.database_name', true): NULL when pg_cron is not loaded at all.
CREATE FUNCTION health_score._require_pg_cron(schedule text, cron_database text, unschedule boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	db text := pg_catalog.current_database();
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
		RETURN;
	END IF;
	IF cron_database IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'The pg_cron library is not loaded by this server.',
			      HINT = pg_catalog.format('Add pg_cron to shared_preload_libraries and set cron.database_name = %L in postgresql.conf, restart the server, then run CREATE EXTENSION pg_cron in database %I.',
			                               db, db);
	ELSIF cron_database = db THEN
		RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.quote_ident(db)
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Run CREATE EXTENSION pg_cron in this database.';
	ELSE
		RAISE EXCEPTION 'pg_cron runs jobs from database %, not from this database %',
			pg_catalog.quote_ident(cron_database), pg_catalog.quote_ident(db)
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = CASE WHEN unschedule
			             THEN pg_catalog.format('Connect to database %I and run: SELECT cron.unschedule(%L);',
			                                    cron_database, health_score._job_name() || '_' || db)
			             ELSE pg_catalog.format('Connect to database %I and run: SELECT cron.schedule_in_database(%L, %L, %L, %L); or set cron.database_name = %L and restart to schedule from here.',
			                               cron_database, health_score._job_name() || '_' || db,
			                               coalesce(schedule, '*/30 * * * *'), 'CALL health_score.run_refresh()', db, db) END;
	END IF;
END
$$;

CREATE FUNCTION health_score.schedule_refresh(schedule text DEFAULT '*/30 * * * *')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF schedule IS NULL OR pg_catalog.btrim(schedule) = '' THEN
		RAISE EXCEPTION 'schedule must be a cron expression such as ''*/30 * * * *'''
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM health_score._require_pg_cron(schedule, pg_catalog.current_setting('cron.database_name', true));
	-- by name: scheduling again replaces the job; it runs as the current role, in this database
	RETURN cron.schedule(health_score._job_name(), schedule, 'CALL health_score.run_refresh()');
END
$$;
COMMENT ON FUNCTION health_score.schedule_refresh(text) IS
	'create or replace the pg_cron job that calls health_score.run_refresh() on the given schedule; returns its jobid';
REVOKE EXECUTE ON FUNCTION health_score.schedule_refresh(text) FROM PUBLIC;

CREATE FUNCTION health_score.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint;
BEGIN
	PERFORM health_score._require_pg_cron(NULL, pg_catalog.current_setting('cron.database_name', true), true);
	SELECT j.jobid INTO job FROM cron.job j
	 WHERE j.jobname = health_score._job_name() AND j.username = current_user;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	RETURN cron.unschedule(job);
END
$$;
COMMENT ON FUNCTION health_score.unschedule_refresh() IS
	'remove the pg_cron job created by schedule_refresh(); false if there was none';
REVOKE EXECUTE ON FUNCTION health_score.unschedule_refresh() FROM PUBLIC;
