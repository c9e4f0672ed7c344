-- Scheduling with pg_cron, and run_refresh(), the procedure the job calls.
--
-- pg_cron runs jobs only in the database named by cron.database_name, where CREATE EXTENSION pg_cron
-- was run. schedule_refresh() therefore works only there, and fails elsewhere (SQLSTATE 55000,
-- object_not_in_prerequisite_state) with a hint that says exactly what to do instead.

-- The job pg_cron runs. Called outside a transaction block (as pg_cron calls it), it first commits a
-- 'running' row to refresh_log, so that even a run whose session is terminated leaves a trace (the next
-- refresh marks it failed); a refresh that fails, or is cancelled by statement_timeout or
-- pg_cancel_backend, turns that row into a 'failed' one, committed, before the error is raised again so
-- that cron.job_run_details records the failure too; a refresh that succeeds replaces it by its own 'ok'
-- (or 'skipped') row. Inside a transaction block nothing can be committed: the error is just raised again.
-- No SET search_path here: a procedure with SET clauses cannot COMMIT. So that a hostile search_path
-- can capture nothing, the body uses no operator and calls only schema-qualified functions.
CREATE PROCEDURE health_score.run_refresh(as_of timestamptz DEFAULT NULL, force boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
	t timestamptz := coalesce(run_refresh.as_of, pg_catalog.now());
	run bigint;
	msg text; det text; hnt text; st text;
BEGIN
	IF health_score._outside_transaction_block() THEN
		run := health_score._log_run_start(t);
		COMMIT;
	END IF;
	BEGIN
		PERFORM health_score.refresh(t, true, coalesce(run_refresh.force, false));
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT,
		                        st = RETURNED_SQLSTATE;
	END;
	IF run IS NOT NULL THEN
		PERFORM health_score._log_run_end(run, msg, st, det, hnt);
	END IF;
	IF st IS NULL THEN
		RETURN;
	END IF;
	IF run IS NOT NULL THEN
		COMMIT;
	END IF;
	PERFORM health_score._reraise(msg, st, det, hnt);
END
$$;
COMMENT ON PROCEDURE health_score.run_refresh(timestamptz, boolean) IS
	'refresh() for pg_cron: logs a running row first, and a failure (errors, statement_timeout, cancellation) in refresh_log, committed, before the error is raised again';
REVOKE EXECUTE ON PROCEDURE health_score.run_refresh(timestamptz, boolean) FROM PUBLIC;

-- Whether the caller runs outside a transaction block, where a procedure may COMMIT: then the transaction
-- began with the current statement.
CREATE FUNCTION health_score._outside_transaction_block()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.statement_timestamp() = pg_catalog.transaction_timestamp() $$;

-- The 'running' row of a run_refresh(), with the session that runs it.
CREATE FUNCTION health_score._log_run_start(as_of timestamptz)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO health_score.refresh_log (started_at, as_of, status, pid, backend_start)
	SELECT pg_catalog.clock_timestamp(), $1, 'running', a.pid, a.backend_start
	  FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()
	RETURNING id
$$;

-- Ends a 'running' row: removed when the refresh succeeded (it logged its own row), 'failed' with the error
-- (message, SQLSTATE, detail, hint) otherwise.
CREATE FUNCTION health_score._log_run_end(run bigint, message text, state text, detail text, hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF state IS NULL THEN
		DELETE FROM health_score.refresh_log l WHERE l.id = run;
		RETURN;
	END IF;
	UPDATE health_score.refresh_log l
	   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), message = _log_run_end.message,
	       details = pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('sqlstate', state,
	                     'detail', NULLIF(detail, ''), 'hint', NULLIF(hint, '')))
	 WHERE l.id = run;
END
$$;

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

-- cron.database_name for _require_pg_cron(). Only superusers and members of pg_read_all_settings may read
-- it: for the others a missing pg_cron is told in words they can act on.
CREATE FUNCTION health_score._cron_database_name()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.current_setting('cron.database_name', true);
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.quote_ident(pg_catalog.current_database())
		USING ERRCODE = 'object_not_in_prerequisite_state',
		      HINT = pg_catalog.format('Ask a superuser to set up pg_cron for database %I (shared_preload_libraries, cron.database_name, CREATE EXTENSION pg_cron), or to schedule the refresh from the database pg_cron runs in (README, Scheduling).',
		                               pg_catalog.current_database());
END
$$;

-- Raises the documented errors when pg_cron cannot schedule jobs for this database or the current role may
-- not use it.
CREATE FUNCTION health_score._require_cron_usage(schedule text, unschedule boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
		PERFORM health_score._require_pg_cron(schedule, health_score._cron_database_name(), unschedule);
	END IF;
	IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
		RAISE EXCEPTION 'role % may not use pg_cron', health_score._q(current_user)
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Scheduling the refresh creates a pg_cron job, which needs USAGE on schema cron.',
			      HINT = pg_catalog.format('A superuser either grants it: GRANT USAGE ON SCHEMA cron TO %I; or schedules the refresh to run as this role: SELECT health_score.schedule_refresh(%L, run_as => %L);',
			                               current_user, coalesce(schedule, '*/30 * * * *'), current_user);
	END IF;
END
$$;

CREATE FUNCTION health_score.schedule_refresh(schedule text DEFAULT '*/30 * * * *', run_as regrole DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
	runner pg_catalog.pg_roles;
	job record;
BEGIN
	IF schedule IS NULL OR pg_catalog.btrim(schedule) = '' THEN
		RAISE EXCEPTION 'schedule must be a cron expression such as ''*/30 * * * *'''
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT r.* INTO runner FROM pg_catalog.pg_roles r WHERE r.oid = coalesce(run_as, me);
	IF runner.oid <> me AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = me) THEN
		RAISE EXCEPTION 'only a superuser may schedule the refresh to run as another role'
			USING ERRCODE = 'insufficient_privilege',
			      HINT = pg_catalog.format('Schedule it as %I itself, or ask a superuser to run: SELECT health_score.schedule_refresh(%L, run_as => %L);',
			                               runner.rolname, schedule, runner.rolname);
	END IF;
	PERFORM health_score._require_cron_usage(schedule);
	IF runner.oid = me THEN
		-- by name: scheduling again replaces the job; it runs as the current role, in this database
		RETURN cron.schedule(health_score._job_name(), schedule, 'CALL health_score.run_refresh()');
	END IF;
	IF NOT runner.rolcanlogin THEN
		RAISE EXCEPTION 'run_as role % cannot log in, so pg_cron cannot run the job as it', health_score._q(runner.rolname)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = pg_catalog.format('ALTER ROLE %I LOGIN;', runner.rolname);
	END IF;
	IF NOT pg_catalog.has_function_privilege(run_as, 'health_score.run_refresh(timestamptz, boolean)', 'EXECUTE') THEN
		RAISE EXCEPTION 'run_as role % may not run health_score.run_refresh()', health_score._q(runner.rolname)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = pg_catalog.format('SELECT health_score.grant_refresh(%L);', runner.rolname);
	END IF;
	-- one refresh job per database, whoever it runs as
	FOR job IN SELECT j.jobid FROM cron.job j
	            WHERE j.jobname = health_score._job_name() AND j.database = pg_catalog.current_database()
	              AND j.username <> runner.rolname LOOP
		PERFORM cron.unschedule(job.jobid);
	END LOOP;
	RETURN cron.schedule_in_database(health_score._job_name(), schedule, 'CALL health_score.run_refresh()',
	                                 pg_catalog.current_database(), runner.rolname);
END
$$;
COMMENT ON FUNCTION health_score.schedule_refresh(text, regrole) IS
	'create or replace the pg_cron job that calls health_score.run_refresh() on the given schedule, as run_as (a superuser may name another role) or the current role; returns its jobid';
REVOKE EXECUTE ON FUNCTION health_score.schedule_refresh(text, regrole) FROM PUBLIC;

CREATE FUNCTION health_score.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job record;
	removed boolean := false;
BEGIN
	PERFORM health_score._require_cron_usage(NULL, true);
	-- cron.job shows a role its own jobs, a superuser every job, including one scheduled to run as another role
	FOR job IN SELECT j.jobid FROM cron.job j
	            WHERE j.jobname = health_score._job_name() AND j.database = pg_catalog.current_database() LOOP
		removed := cron.unschedule(job.jobid) OR removed;
	END LOOP;
	RETURN removed;
END
$$;
COMMENT ON FUNCTION health_score.unschedule_refresh() IS
	'remove the pg_cron job created by schedule_refresh(); false if there was none';
REVOKE EXECUTE ON FUNCTION health_score.unschedule_refresh() FROM PUBLIC;
